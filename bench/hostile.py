"""Hostile traffic against the exporter, next to the quiet figures of the same run.

    python -m bench.hostile [--seconds 20] [--clients 4] [--slow 300]

One exporter, run under ``ulimit -n 256`` and probing the local PostgreSQL and Redis every
second, goes through three phases of ``--seconds`` each while /metrics is scraped every 50 ms
on a keep-alive connection with Prometheus' headers:

1. quiet — nothing else;
2. plain flood — ``--clients`` clients post ``{}`` as fast as they can, round robin over
   every route: what any flood of requests costs, the yardstick for the next phase;
3. gzip-bomb flood — the same clients post a 1 MB gzip body that decodes to 1 GiB instead:
   without a token everywhere, and with the ingest token on ingestion (where the body is
   decoded, up to its limits);
4. slow connections — ``--slow`` connections held open: half send nothing, half send a header
   line every second and never finish.

Each phase prints the scrape p50/p99/max and failed scrapes, and every probe's runs, failures
by reason and ``wedsync_up`` over the phase: a flood that slowed the event loop would show as
scrape latency and as probe ``timeout`` failures.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.client
import itertools
import multiprocessing
import multiprocessing.synchronize
import socket
import statistics
import sys
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.measure import PROMETHEUS_HEADERS, cpu_ns
from harness.exporter import ExporterProcess
from tests.support import SHARED_PG_DSN, SHARED_REDIS_URL, exporter_config, samples

INGEST_TOKEN = "bench-ingest-token-hostile"
ADMIN_TOKEN = "bench-admin-token-hostile"
ROUTES = [("GET", "/metrics"), ("GET", "/-/healthy"), ("GET", "/-/ready"), ("POST", "/-/reload"),
          ("GET", "/"), ("GET", "/api/system/health"), ("POST", "/api/system/metrics"),
          ("POST", "/api/architecture/validate"), ("GET", "/api/system/deploy-gate"),
          ("POST", "/api/system/deploy-gate/override"), ("POST", "/nope")]


@functools.cache
def gzip_bomb() -> bytes:
    """About 1 MB of gzip (four members) that decodes to 1 GiB of zeros; built in 1 MiB
    steps, never holding the gibibyte."""
    encoder = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1024 * 1024)
    member = b"".join(encoder.compress(zeros) for _ in range(256)) + encoder.flush()
    return member * 4


class LimitedExporter(ExporterProcess):
    """The exporter under a lowered open-file limit (``ulimit -n``)."""

    def __init__(self, *args: object, nofile: int = 256, **kwargs: object) -> None:
        self.nofile = nofile
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def command(self) -> list[str]:
        inner = " ".join(super().command())
        return ["sh", "-c", f"ulimit -n {self.nofile} && exec {inner}"]


def hostile_config(**sections: object) -> dict[str, object]:
    """PostgreSQL and Redis probed every second; tokens; limits out of the way."""
    return exporter_config(
        database=[{"name": "primary", "dsn": SHARED_PG_DSN}],
        redis=[{"name": "cache", "url": SHARED_REDIS_URL}],
        tokens={"admin": "${ADMIN_TOKEN}", "ingest": "${INGEST_TOKEN}"},
        rate_limits={kind: "100000/minute" for kind in
                     ("health", "ingestion", "validation", "deploy_gate", "reload")},
        **sections)


def start_exporter(nofile: int = 256) -> LimitedExporter:
    exporter = LimitedExporter(hostile_config(), nofile=nofile,
                               env={"ADMIN_TOKEN": ADMIN_TOKEN, "INGEST_TOKEN": INGEST_TOKEN})
    exporter.start()
    exporter.wait_ready()
    return exporter


# --- what the probes did ----------------------------------------------------------------------
ProbeKey = tuple[str, str]


@dataclass
class ProbeState:
    up: dict[ProbeKey, float] = field(default_factory=dict)
    runs: dict[ProbeKey, float] = field(default_factory=dict)
    failures: dict[tuple[str, str, str], float] = field(default_factory=dict)


def probe_state(text: str) -> ProbeState:
    state = ProbeState()
    for name, labels, value in samples(text):
        if "component" not in labels or "target" not in labels:
            continue
        key = (labels["component"], labels["target"])
        if name == "wedsync_up":
            state.up[key] = value
        elif name == "wedsync_probe_runs_total":
            state.runs[key] = value
        elif name == "wedsync_probe_failures_total":
            state.failures[(*key, labels["reason"])] = value
    return state


@dataclass
class ProbeReport:
    runs: dict[ProbeKey, float]
    failures: dict[tuple[str, str, str], float]
    always_up: dict[ProbeKey, bool]

    def lines(self) -> list[str]:
        out = []
        for key in sorted(self.runs):
            failed = {reason: n for (c, t, reason), n in self.failures.items()
                      if (c, t) == key and n}
            out.append(f"  probe {key[0]}/{key[1]}: {self.runs[key]:.0f} runs, failures "
                       f"{failed or 'none'}, wedsync_up 1 throughout: {self.always_up[key]}")
        return out


# --- scraping ---------------------------------------------------------------------------------
@dataclass
class ScrapeReport:
    latencies: list[float]
    failed: int
    report: ProbeReport
    cpu_seconds: float = 0.0
    lag_seconds: float | None = None

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies) * 1000 if self.latencies else float("nan")

    @property
    def p99_ms(self) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000

    def line(self, name: str) -> str:
        worst = max(self.latencies, default=float("nan")) * 1000
        lag = "?" if self.lag_seconds is None else f"{self.lag_seconds * 1000:.1f} ms"
        return (f"{name:<22} scrapes {len(self.latencies):4d}  p50 {self.p50_ms:8.3f} ms  "
                f"p99 {self.p99_ms:8.3f} ms  max {worst:8.3f} ms  failed {self.failed}  "
                f"exporter CPU {self.cpu_seconds:5.2f} s  last loop lag {lag}")


def scrape_while(port: int, seconds: float, every: float = 0.05,
                 during: Callable[[], None] | None = None, pid: int | None = None
                 ) -> ScrapeReport:
    """Scrape /metrics every ``every`` s for ``seconds``; probe runs and failures over it,
    and the CPU the exporter (``pid``) used meanwhile."""
    cpu_before = cpu_ns([pid]) if pid else 0
    lag = None
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    latencies: list[float] = []
    failed = 0
    first: ProbeState | None = None
    last = ProbeState()
    always_up: dict[ProbeKey, bool] = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            conn.request("GET", "/metrics", headers={**PROMETHEUS_HEADERS,
                                                     "Accept-Encoding": "identity"})
            body = conn.getresponse().read()
        except (OSError, http.client.HTTPException):
            failed += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            continue
        latencies.append(time.perf_counter() - started)
        text = body.decode()
        last = probe_state(text)
        lag = next((v for n, _, v in samples(text) if n == "wedsync_event_loop_lag_seconds"),
                   lag)
        if first is None:
            first = last
        for key, up in last.up.items():
            always_up[key] = always_up.get(key, True) and up == 1
        if during is not None:
            during()
        time.sleep(max(0.0, every - (time.perf_counter() - started)))
    conn.close()
    first = first or ProbeState()
    report = ProbeReport(
        runs={k: v - first.runs.get(k, 0) for k, v in last.runs.items()},
        failures={k: v - first.failures.get(k, 0) for k, v in last.failures.items()},
        always_up=always_up)
    cpu = (cpu_ns([pid]) - cpu_before) / 1e9 if pid else 0.0
    return ScrapeReport(latencies, failed, report, cpu, lag)


# --- attackers --------------------------------------------------------------------------------
def post_raw(port: int, method: str, path: str, body: bytes, headers: dict[str, str]) -> int:
    """One request on a new connection; the status (0 if the connection failed)."""
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close",
            f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items())]
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            with contextlib.suppress(OSError):
                sock.sendall("\r\n".join(head).encode() + b"\r\n\r\n" + body)
            answer = sock.recv(64)
            return int(answer.split()[1]) if answer.startswith(b"HTTP/1.1 ") else 0
    except (OSError, ValueError, IndexError):
        return 0


def _flood(port: int, clients: int, bomb: bytes, encoding: str,
           stop: multiprocessing.synchronize.Event, out: multiprocessing.Queue) -> None:
    """The attacker's process: ``clients`` threads posting until ``stop``; their statuses."""
    statuses: list[int] = []
    lock = threading.Lock()

    def client(offset: int) -> None:
        for method, path in itertools.islice(itertools.cycle(ROUTES), offset, None):
            if stop.is_set():
                return
            headers = {"Content-Encoding": encoding, "Content-Type": "application/json"}
            if path == "/api/system/metrics" and offset % 2:
                headers["Authorization"] = f"Bearer {INGEST_TOKEN}"
            status = post_raw(port, method, path, bomb, headers)
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    out.put(statuses)


class BombFlood:
    """``clients`` threads posting ``bomb`` round robin over every route (gzip-encoded unless
    ``encoding`` says otherwise). They run in a process of their own: threads in the measuring
    process would hold its interpreter lock, and a scrape waiting up to 5 ms for that lock at
    every step was what the bench measured under a flood, not the exporter."""

    def __init__(self, port: int, clients: int, bomb: bytes, encoding: str = "gzip") -> None:
        self.port, self.clients, self.bomb, self.encoding = port, clients, bomb, encoding
        self.stop = multiprocessing.Event()
        self.statuses: list[int] = []
        self._out: multiprocessing.Queue = multiprocessing.Queue()
        self._process: multiprocessing.Process | None = None

    def __enter__(self) -> BombFlood:
        self._process = multiprocessing.Process(target=_flood, daemon=True, args=(
            self.port, self.clients, self.bomb, self.encoding, self.stop, self._out))
        self._process.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        assert self._process is not None
        self.statuses = self._out.get(timeout=180)
        self._process.join(timeout=60)


class SlowConnections:
    """``count`` connections held open: half silent, half trickling an unfinished request."""

    def __init__(self, port: int, count: int) -> None:
        self.port, self.count = port, count
        self.sockets: list[socket.socket] = []
        self.refused = 0
        self._last_trickle = 0.0

    def __enter__(self) -> SlowConnections:
        for i in range(self.count):
            try:
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            except OSError:
                self.refused += 1
                continue
            sock.setblocking(False)
            if i % 2:
                self._send(sock, b"POST /api/system/metrics HTTP/1.1\r\nHost: x\r\n")
            self.sockets.append(sock)
        return self

    @staticmethod
    def _send(sock: socket.socket, data: bytes) -> None:
        with contextlib.suppress(OSError):
            sock.send(data)

    def trickle(self) -> None:
        """One more header line on every trickling connection, at most once a second."""
        if time.monotonic() - self._last_trickle < 1:
            return
        self._last_trickle = time.monotonic()
        for i, sock in enumerate(self.sockets):
            if i % 2:
                self._send(sock, b"X-Slow: 1\r\n")

    def __exit__(self, *_: object) -> None:
        for sock in self.sockets:
            sock.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--slow", type=int, default=300)
    args = parser.parse_args(argv)
    bomb = gzip_bomb()
    exporter = start_exporter()
    try:
        print(f"== /metrics every 50 ms, {args.seconds:g} s per phase; exporter under "
              f"ulimit -n {exporter.nofile} ==")
        quiet = scrape_while(exporter.port, args.seconds, pid=exporter.process.pid)
        print(quiet.line("quiet"))
        print("\n".join(quiet.report.lines()))
        with BombFlood(exporter.port, args.clients, b"{}", "identity") as plain:
            plained = scrape_while(exporter.port, args.seconds, pid=exporter.process.pid)
        print(plained.line(f"plain flood x{args.clients}"))
        print("\n".join(plained.report.lines()))
        print(f"  requests sent: {len(plain.statuses)}; answers: {sorted(set(plain.statuses))}; "
              f"5xx: {sum(s >= 500 for s in plain.statuses)}")
        with BombFlood(exporter.port, args.clients, bomb) as flood:
            flooded = scrape_while(exporter.port, args.seconds, pid=exporter.process.pid)
        print(flooded.line(f"gzip-bomb flood x{args.clients}"))
        print("\n".join(flooded.report.lines()))
        statuses = sorted(set(flood.statuses))
        print(f"  bombs sent: {len(flood.statuses)} of {len(bomb)} B (1 GiB decoded each); "
              f"answers: {statuses}; 5xx: {sum(s >= 500 for s in flood.statuses)}")
        with SlowConnections(exporter.port, args.slow) as slow:
            slowed = scrape_while(exporter.port, args.seconds, during=slow.trickle,
                                  pid=exporter.process.pid)
        print(slowed.line(f"{args.slow} slow connections"))
        print("\n".join(slowed.report.lines()))
        text = exporter.metrics()
        closed = {labels["reason"]: value for name, labels, value in samples(text)
                  if name == "wedsync_http_connections_closed_total"}
        print(f"  connections closed by the exporter: {closed}")
        print(f"\np99 quiet {quiet.p99_ms:.3f} ms; under a plain flood {plained.p99_ms:.3f} ms; "
              f"under the gzip-bomb flood {flooded.p99_ms:.3f} ms; with {args.slow} slow "
              f"connections {slowed.p99_ms:.3f} ms")
    finally:
        exporter.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
