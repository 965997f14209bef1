"""Hostile traffic against the exporter, next to a bare aiohttp server in the same run.

    python -m bench.hostile [--seconds 15] [--rounds 5] [--every 0.01] [--clients 4] [--slow 300]

Two servers on CPU 0: the exporter (under ``ulimit -n 256``, probing the local PostgreSQL and
Redis every second) and, as the baseline, a bare aiohttp server serving the same /metrics
bytes (``bench/bare_server.py``), which has no tarpit: it answers every refusal at once, where
the exporter holds refusals beyond a client address's budget (``exporter/web/tarpit.py``, its
default settings here). From CPU 1, at high priority (nice -10), /metrics is scraped
every ``--every`` seconds on a keep-alive connection with Prometheus' headers while each
server goes through three conditions:

1. quiet — nothing else;
2. plain flood — ``--clients`` clients post ``{}`` as fast as they can, round robin over
   every route: what any flood of requests costs, the yardstick for the next one;
3. gzip-bomb flood — the same clients post a 1 MB gzip body that decodes to 1 GiB instead:
   without a token everywhere, and with the ingest token on ingestion (where the body is
   decoded, up to its limits).

The attackers run in a process of their own on CPU 1 at nice 0, below the scraper, so a
scrape hardly waits for them (at nice 19 other work on CPU 1 starved them, and the strength of
the flood varied fourfold between runs); the servers have CPU 0 to themselves as far as this
bench goes (other work on the machine is not under its control). Each condition gets ``--seconds``
per server, in ``--rounds`` slices interleaved over both servers and all conditions, so a
change in the machine's load falls on every condition alike. Then ``--slow`` connections are
held open against the exporter (half send nothing, half a header line every second).

Printed per server and condition: scrape count, p50/p99/max and failures; the server's CPU
share while scraped; the p99 of each round; and under a flood the attack requests per second
and the server's CPU per attack request (above its quiet rate). For the exporter also every
probe's runs, failures by reason and ``wedsync_up``: a flood that slowed the event loop would
show as scrape latency and as probe ``timeout`` failures. The verdict compares the exporter's
p99 under the bomb flood with its quiet p99. Noise is the spread of its quiet p99 over the
rounds: a change within it is no change; the bare server's change under the same flood is the
machine's part (a core busy with a flood delays any server's answers), and the exporter's own
part is its change minus that.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.client
import itertools
import multiprocessing
import multiprocessing.synchronize
import os
import socket
import sys
import threading
import time
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.bare_server import BareServer
from bench.hostile_report import CONDITIONS, Tally, attack_line, percentile_ms, table, verdict
from bench.measure import PROMETHEUS_HEADERS, cpu_ns, pin
from exporter.web.server_settings import server_settings
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


def start_exporter(nofile: int = 256, **sections: object) -> LimitedExporter:
    exporter = LimitedExporter(hostile_config(**sections), nofile=nofile,
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


# Scraped bodies are parsed for probe results at most this often (seconds).
PARSE_EVERY = 0.1


# --- scraping ---------------------------------------------------------------------------------
@dataclass
class ScrapeReport:
    latencies: list[float]
    failed: int
    report: ProbeReport
    cpu_seconds: float = 0.0
    lag_seconds: float | None = None
    wall_seconds: float = 0.0

    @property
    def p50_ms(self) -> float:
        return percentile_ms(self.latencies, 0.5)

    @property
    def p99_ms(self) -> float:
        return percentile_ms(self.latencies, 0.99)

    def line(self, name: str) -> str:
        worst = max(self.latencies, default=float("nan")) * 1000
        lag = "?" if self.lag_seconds is None else f"{self.lag_seconds * 1000:.1f} ms"
        return (f"{name:<22} scrapes {len(self.latencies):4d}  p50 {self.p50_ms:8.3f} ms  "
                f"p99 {self.p99_ms:8.3f} ms  max {worst:8.3f} ms  failed {self.failed}  "
                f"exporter CPU {self.cpu_seconds:5.2f} s  last loop lag {lag}")


def scrape_while(port: int, seconds: float, every: float = 0.05,
                 during: Callable[[], None] | None = None, pid: int | None = None,
                 probes: bool = True) -> ScrapeReport:
    """Scrape /metrics every ``every`` s for ``seconds``; probe runs and failures over it
    (unless ``probes`` is False: a server without probes), and the CPU the server (``pid``)
    used meanwhile."""
    cpu_before = cpu_ns([pid]) if pid else 0
    began = time.monotonic()
    lag = None
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    latencies: list[float] = []
    failed = 0
    first: ProbeState | None = None
    last = ProbeState()
    always_up: dict[ProbeKey, bool] = {}
    deadline = time.monotonic() + seconds
    parsed = 0.0
    unread: bytes | None = None  # the last body, if it was not parsed
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
        unread = body
        if probes and time.monotonic() - parsed >= PARSE_EVERY:
            # Parsing takes milliseconds of the scraper's time: at most every PARSE_EVERY,
            # so that it does not thin out the scrapes (probes run once a second).
            parsed, unread = time.monotonic(), None
            first, last, lag = _read_probes(body, first, always_up, lag)
        if during is not None:
            during()
        time.sleep(max(0.0, every - (time.perf_counter() - started)))
    conn.close()
    if probes and unread is not None:
        first, last, lag = _read_probes(unread, first, always_up, lag)
    first = first or ProbeState()
    report = ProbeReport(
        runs={k: v - first.runs.get(k, 0) for k, v in last.runs.items()},
        failures={k: v - first.failures.get(k, 0) for k, v in last.failures.items()},
        always_up=always_up)
    cpu = (cpu_ns([pid]) - cpu_before) / 1e9 if pid else 0.0
    return ScrapeReport(latencies, failed, report, cpu, lag, time.monotonic() - began)


def _read_probes(body: bytes, first: ProbeState | None, always_up: dict[ProbeKey, bool],
                 lag: float | None) -> tuple[ProbeState, ProbeState, float | None]:
    """The probe state in ``body`` (also the first one, if there was none yet), with
    ``always_up`` updated, and the loop lag it reports."""
    text = body.decode()
    state = probe_state(text)
    for key, up in state.up.items():
        always_up[key] = always_up.get(key, True) and up == 1
    lag = next((v for n, _, v in samples(text) if n == "wedsync_event_loop_lag_seconds"), lag)
    return first or state, state, lag


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


@dataclass(frozen=True)
class Placement:
    """Where a process runs: on ``cpus`` (None: anywhere) at ``nice`` (None: inherited)."""

    cpus: frozenset[int] | None = None
    nice: int | None = None

    def apply(self) -> None:
        """Move the calling process (its current thread and threads started later) here."""
        if self.cpus:
            os.sched_setaffinity(0, self.cpus)
        if self.nice is not None:
            os.setpriority(os.PRIO_PROCESS, 0, self.nice)


def _flood(port: int, clients: int, bomb: bytes, encoding: str, placement: Placement,
           stop: multiprocessing.synchronize.Event, out: multiprocessing.Queue) -> None:
    """The attacker's process: ``clients`` threads posting until ``stop``; their statuses."""
    placement.apply()
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
    ``encoding`` says otherwise). They run in a process of their own (placed by
    ``placement``): threads in the measuring process would hold its interpreter lock, and a
    scrape waiting up to 5 ms for that lock at every step was what the bench measured under a
    flood, not the exporter."""

    def __init__(self, port: int, clients: int, bomb: bytes, encoding: str = "gzip",
                 placement: Placement = Placement()) -> None:
        self.port, self.clients, self.bomb, self.encoding = port, clients, bomb, encoding
        self.placement = placement
        self.stop = multiprocessing.Event()
        self.statuses: list[int] = []
        self._out: multiprocessing.Queue = multiprocessing.Queue()
        self._process: multiprocessing.Process | None = None

    def __enter__(self) -> BombFlood:
        self._process = multiprocessing.Process(target=_flood, daemon=True, args=(
            self.port, self.clients, self.bomb, self.encoding, self.placement, self.stop,
            self._out))
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


# --- the same-run comparison ------------------------------------------------------------------
SERVER_CPUS = frozenset({0})
CLIENT_CPUS = frozenset({1})
SCRAPER_NICE = -10
ATTACKER_NICE = 0
WARM_UP = 0.3  # seconds the attackers get to reach full speed before scraping starts


@dataclass
class Target:
    """A server under test: the exporter, or the bare aiohttp baseline."""

    name: str
    port: int
    pid: int
    probes: bool


def measure(target: Target, condition: str, seconds: float, every: float, clients: int,
            bomb: bytes, tally: Tally) -> None:
    """One slice of ``condition`` against ``target``, added to ``tally``."""
    if condition == "quiet":
        tally.add(scrape_while(target.port, seconds, every, pid=target.pid,
                               probes=target.probes))
        return
    body, encoding = (b"{}", "identity") if condition == "plain flood" else (bomb, "gzip")
    cpu_before, began = cpu_ns([target.pid]), time.monotonic()
    with BombFlood(target.port, clients, body, encoding,
                   Placement(CLIENT_CPUS, ATTACKER_NICE)) as flood:
        time.sleep(WARM_UP)
        tally.add(scrape_while(target.port, seconds, every, pid=target.pid,
                               probes=target.probes))
    tally.attack_cpu += (cpu_ns([target.pid]) - cpu_before) / 1e9
    tally.attack_wall += time.monotonic() - began
    tally.statuses += flood.statuses


def probe_lines(tally: Tally) -> list[str]:
    return ProbeReport(tally.runs, tally.failures, tally.always_up).lines()


def start_targets(cpus: frozenset[int] | None) -> tuple[LimitedExporter, BareServer]:
    """The exporter and the bare server serving the exporter's /metrics bytes, on ``cpus``."""
    exporter = start_exporter()
    assert exporter.process is not None
    request = urllib.request.Request(f"{exporter.url}/metrics", headers={
        **PROMETHEUS_HEADERS, "Accept-Encoding": "identity"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        body, content_type = answer.read(), answer.headers["Content-Type"]
    bare = BareServer({"/metrics": (body, {"Content-Type": content_type})},
                      set(cpus) if cpus else None).start()
    if cpus:
        pin(exporter.process.pid, set(cpus))
    return exporter, bare


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0,
                        help="per condition and server, over all rounds")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--every", type=float, default=0.01, help="scrape interval, seconds")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--slow", type=int, default=300)
    args = parser.parse_args(argv)
    bomb = gzip_bomb()
    pinned = len(os.sched_getaffinity(0) & (SERVER_CPUS | CLIENT_CPUS)) == 2
    exporter, bare = start_targets(SERVER_CPUS if pinned else None)
    assert exporter.process is not None
    targets = [Target("ours", exporter.port, exporter.process.pid, True),
               Target("bare", bare.port, bare.pid, False)]
    try:
        Placement(CLIENT_CPUS if pinned else None, SCRAPER_NICE).apply()
        print(f"== /metrics every {args.every * 1000:g} ms over keep-alive; {args.seconds:g} s "
              f"per condition and server in {args.rounds} interleaved rounds ==")
        print(f"servers on CPU 0; scraper on CPU 1 at nice {SCRAPER_NICE}; attackers (own "
              f"process, {args.clients} clients) on CPU 1 at nice {ATTACKER_NICE}" if pinned else
              "NOT pinned: fewer than 2 CPUs available to the bench")
        served = len(bare.routes["/metrics"][0])
        print(f"ours: the exporter under ulimit -n {exporter.nofile}, probing PostgreSQL and "
              f"Redis every second; bare: aiohttp serving the same {served} B")
        tarpit = server_settings({})
        print(f"ours holds refusals beyond {tarpit.refusals_per_second}/s per client address "
              f"for {tarpit.tarpit_seconds:g} s (at most {tarpit.tarpit_max} at once; the "
              f"defaults); bare has no tarpit: it answers every refusal at once")
        tallies = {(t.name, c): Tally() for t in targets for c in CONDITIONS}
        for _ in range(args.rounds):
            for condition in CONDITIONS:
                for target in targets:
                    measure(target, condition, args.seconds / args.rounds, args.every,
                            args.clients, bomb, tallies[target.name, condition])
        print("\n".join(table([t.name for t in targets], tallies)))
        for condition in CONDITIONS:
            print(f"ours, {condition}:")
            print("\n".join(probe_lines(tallies["ours", condition])))
            if condition != "quiet":
                print(attack_line(tallies["ours", condition]))
        with SlowConnections(exporter.port, args.slow) as slow:
            slowed = scrape_while(exporter.port, args.seconds, args.every, during=slow.trickle,
                                  pid=exporter.process.pid)
        print(slowed.line(f"{args.slow} slow connections"))
        print("\n".join(slowed.report.lines()))
        text = exporter.metrics()
        closed = {labels["reason"]: value for name, labels, value in samples(text)
                  if name == "wedsync_http_connections_closed_total"}
        print(f"  connections closed by the exporter: {closed}")
        held = {labels["outcome"]: value for name, labels, value in samples(text)
                if name == "wedsync_http_tarpit_total"}
        print(f"  refusals held in the tarpit over the whole run (ours): {held}")
        print()
        print("\n".join(verdict(tallies)))
    finally:
        exporter.stop()
        bare.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
