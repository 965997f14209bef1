"""Ingestion figures, one run: sustained events/s on one core (batches of 500) next to the
bare cost of prometheus-client's Histogram.observe, p99 request latency at half that rate
(with scrape latency meanwhile), /metrics and health p99 while ingesting 5,000 and 50,000
events/s (issue 25's targets: at most 1 ms and 2 ms), and RSS, series count and render cost
after 1,000,000 events over 100,000 distinct raw paths.

    python -m bench.ingestion [--seconds 10] [--period 0.02] [--all-probes] [--nice -5] [--fifo]

The exporter runs as its own process pinned to CPU 0; this script drives it from CPU 1. Beside
every /metrics and health figure stands the machine's floor, measured in the same run the same
way: a bare aiohttp server pinned to the same core serving the same bytes
(``bench/bare_server.py``), asked in turn with the exporter by the same scraping process.
With ``--all-probes`` the /metrics and health figures come from the example configuration
probing the sandbox (``wedsync-stack up --sandbox``) rather than from an exporter that probes
nothing.
``--nice N`` renices the exporter and the scraping processes (not the load generator) by N
(negative values need root): on a machine shared with other work, the latencies then show the
exporter's own event loop rather than how long the neighbours, or the load generator on the
scrapers' core, keep them off a core. ``--fifo`` (root) goes further for the scraping processes
alone: they run as real-time (SCHED_FIFO), so that nothing else on their core delays them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import socket
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from bench.bare_server import BareServer
from exporter.catalogue import REQUEST_BUCKETS
from exporter.ingestion.routes import RouteNormaliser
from exporter.metrics.exposition import Renderer
from exporter.metrics.store import MetricStore
from harness.exporter import ExporterProcess
from tests.support import exporter_config, samples, value

TOKEN = "bench-ingest-token"
ADMIN_TOKEN = "bench-admin-token"
BATCH = 500
# A realistic peak: a few thousand API requests per second across all functions; and ten times
# that (issue 25: /metrics and health p99 at most 1 ms and 2 ms at these rates).
CALM_RATE = 5000
BUSY_RATE = 50000
# Issue 25: /metrics and health p99 at most 1 ms at 5,000 events/s and 2 ms at 50,000.
ISOLATION_TARGETS = {CALM_RATE: 0.001, BUSY_RATE: 0.002}
ROUTES = ["clients", "weddings", "suppliers", "core-fields", "forms", "invitations", "notes",
          "timeline", "venues", "guests"]


def events(rng: random.Random, count: int, path: callable | None = None) -> list[dict]:
    """Realistic events: 10 resources x ids, a few methods and statuses, timestamps."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    out = []
    for n in range(count):
        endpoint = path(n) if path else (f"/api/{rng.choice(ROUTES)}/{rng.randrange(10**6)}"
                                         f"{rng.choice(['', '/notes', '/timeline'])}")
        out.append({"endpoint": endpoint, "method": rng.choice(["GET", "GET", "POST", "PATCH"]),
                    "response_time_ms": round(rng.lognormvariate(4.5, 0.6), 1),
                    "status_code": rng.choice([200] * 97 + [201, 404, 500]),
                    "timestamp": stamp, "user_context": {"supplier_id": "s", "couple_id": "c"}})
    return out


def bare_observe_rate(sample: list[dict]) -> float:
    """prometheus-client's own Histogram: labels(...).observe per event with the labels
    already normalised (outside the timing), nothing else."""
    histogram = Histogram("bare_seconds", "bare", ["route", "method", "status_class"],
                          buckets=REQUEST_BUCKETS, registry=CollectorRegistry())
    normalise = RouteNormaliser()
    prepared = [(normalise(e["endpoint"]), e["method"], f"{e['status_code'] // 100}xx",
                 e["response_time_ms"] / 1000) for e in sample]
    best = 0.0
    for _ in range(3):  # best of three: the machine is shared
        started = time.perf_counter()
        for route, method, status_class, seconds in prepared:
            histogram.labels(route, method, status_class).observe(seconds)
        best = max(best, len(prepared) / (time.perf_counter() - started))
    return best


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# Niceness for the exporter and the measuring processes (``--nice``); 0 leaves them alone.
NICE = 0
# With --fifo: the measuring processes' real-time priority (SCHED_FIFO), 0 for none.
FIFO = 0


UNLIMITED = {"ingestion": "100000000/minute", "health": "100000000/minute"}


def pin(exporter: ExporterProcess) -> ExporterProcess:
    """The exporter on CPU 0 (this script drives it from CPU 1), reniced with ``--nice``."""
    assert exporter.process is not None
    os.sched_setaffinity(exporter.process.pid, {0})
    if NICE:
        os.setpriority(os.PRIO_PROCESS, exporter.process.pid, NICE)
    return exporter


def start_exporter(env: dict[str, str] | None = None) -> ExporterProcess:
    """An exporter that probes nothing: ingestion alone (given ``env`` besides its tokens)."""
    return pin(ExporterProcess(exporter_config(
        tokens={"ingest": "${INGEST_TOKEN}", "admin": "${ADMIN_TOKEN}"},
        rate_limits=UNLIMITED, log={"level": "warning", "format": "logfmt"}),
        env={"INGEST_TOKEN": TOKEN, "ADMIN_TOKEN": ADMIN_TOKEN, **(env or {})}).start())


@contextlib.contextmanager
def all_probes_on(env: dict[str, str] | None = None) -> Iterator[ExporterProcess]:
    """The example configuration probing everything it can on this machine: the sandbox's
    PostgreSQL (through its PgBouncer too), Redis, BullMQ queues, Auth, Realtime and API,
    scraped every 15 s by the stack's Prometheus (``wedsync-stack up --sandbox``, without the
    webhook); rate limits lifted, the exporter pinned like the one that probes nothing and
    given ``env`` besides its tokens."""
    from harness.cli import sandbox_plugin
    from harness.stack import Stack, StackOptions, example_exporter_config

    config = example_exporter_config()
    config["rate_limits"] = {**config.get("rate_limits", {}), **UNLIMITED}
    config["log"] = {"level": "warning", "format": "logfmt"}
    stack = Stack(StackOptions(
        exporter_config=config, sandbox=sandbox_plugin(), webhook=False,
        exporter_env={"WEDSYNC_INGEST_TOKEN": TOKEN, "WEDSYNC_ADMIN_TOKEN": ADMIN_TOKEN,
                      **(env or {})}))
    stack.start()
    try:
        assert stack.exporter is not None
        stack.exporter.wait_ready(60)
        yield pin(stack.exporter)
    finally:
        stack.stop()


async def post(session: aiohttp.ClientSession, url: str, body: bytes) -> tuple[int, float]:
    started = time.perf_counter()
    async with session.post(f"{url}/api/system/metrics", data=body, headers={
            "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}) as reply:
        answer = await reply.json()
        assert reply.status == 200, answer
        return answer["accepted"], time.perf_counter() - started


async def saturate(url: str, bodies: list[bytes], seconds: float) -> tuple[int, float]:
    """As many batches as the exporter takes, 4 in flight; (events accepted, elapsed)."""
    accepted = 0
    deadline = time.perf_counter() + seconds

    async def worker(session: aiohttp.ClientSession, offset: int) -> None:
        nonlocal accepted
        n = offset
        while time.perf_counter() < deadline:
            # Await first: `accepted += await ...` would read `accepted` before the await
            # and lose the other workers' updates.
            got, _ = await post(session, url, bodies[n % len(bodies)])
            accepted += got
            n += 4

    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session, k) for k in range(4)))
    return accepted, time.perf_counter() - started


HEALTH = ("/api/system/health", {"Authorization": f"Bearer {ADMIN_TOKEN}"})
METRICS = ("/metrics", {"Accept-Encoding": "gzip"})


class RawGet:
    """Keep-alive GETs over a bare socket: a prebuilt request, the answer read by its
    Content-Length. http.client parses headers with the email package, which alone took most
    of a millisecond here: more than the exporter spends on a scrape."""

    def __init__(self, port: int, path: str, headers: dict[str, str]) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1",
                 *(f"{k}: {v}" for k, v in headers.items())]
        self.request = ("\r\n".join(lines) + "\r\n\r\n").encode()
        self.buffer = b""

    def get(self) -> int:
        """One request; the answer's status (its body read and dropped)."""
        self.sock.sendall(self.request)
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, field = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(field)
        while len(rest) < length:
            rest += self._recv()
        self.buffer = rest[length:]
        return int(head.split(b" ", 2)[1])

    def _recv(self) -> bytes:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("the exporter closed the connection")
        return chunk


def scrape_every(ports: list[int], seconds: float, period: float,
                 out: multiprocessing.Queue, what: tuple[str, dict[str, str]] = METRICS) -> None:
    """In its own process (so the load generator cannot delay it): keep-alive GETs of
    ``what`` (path, headers), by default gzip scrapes of /metrics, asked of each of ``ports``
    in turn (the exporter and the bare server), ``period`` apart; puts one list of latencies
    per port."""
    os.sched_setaffinity(0, {1})
    if NICE:  # ahead of the load generator on the same core
        os.setpriority(os.PRIO_PROCESS, 0, NICE)
    if FIFO:  # ahead of everything else on the core: it runs the moment an answer arrives
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(FIFO))
    clients = [RawGet(port, *what) for port in ports]
    times: list[list[float]] = [[] for _ in ports]
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        for client, found in zip(clients, times, strict=True):
            started = time.perf_counter()
            status = client.get()
            found.append(time.perf_counter() - started)
            assert status == 200, status
            time.sleep(period)
    for client in clients:
        client.sock.close()
    out.put(times)


async def paced(url: str, bodies: list[bytes], rate: float, seconds: float) -> list[float]:
    """Open-loop batches at ``rate`` events/s (none at 0): their latencies."""
    latencies: list[float] = []
    if not rate:
        await asyncio.sleep(seconds)
        return latencies
    interval = BATCH / rate
    async with aiohttp.ClientSession() as session:
        async def one(n: int) -> None:
            latencies.append((await post(session, url, bodies[n % len(bodies)]))[1])

        start = time.perf_counter()
        tasks = []
        n = 0
        while (now := time.perf_counter()) < start + seconds:
            tasks.append(asyncio.create_task(one(n)))
            n += 1
            await asyncio.sleep(max(0.0, start + n * interval - now))
        await asyncio.gather(*tasks)
    return latencies


Timings = tuple[list[float], list[float]]  # the exporter's, the bare server's


def paced_with_scrapes(exporter: ExporterProcess, bodies: list[bytes], rate: float,
                       seconds: float, health: bool = False, bare: BareServer | None = None,
                       period: float = 0.05) -> tuple[list[float], Timings, Timings]:
    """Batches at ``rate`` while another process scrapes ``period`` apart (and, with
    ``health``, a third asks for the health document): request latencies, then /metrics and
    health latencies, each for the exporter and, with ``bare``, the bare server (asked in
    turn with the exporter by the same process)."""
    ports = [exporter.port] + ([bare.port] if bare else [])
    queues: list[multiprocessing.Queue] = []
    processes = []
    for what in (METRICS, HEALTH) if health else (METRICS,):
        queue: multiprocessing.Queue = multiprocessing.Queue()
        processes.append(multiprocessing.Process(
            target=scrape_every, args=(ports, seconds, period, queue, what)))
        queues.append(queue)
    for process in processes:
        process.start()
    latencies = asyncio.run(paced(exporter.url, bodies, rate, seconds))
    found = [queue.get(timeout=seconds + 30) for queue in queues]
    for process in processes:
        process.join(10)
    empty: list[list[float]] = [[], []]

    def pair(times: list[list[float]]) -> Timings:
        return times[0], times[1] if len(times) > 1 else []

    return latencies, pair(found[0]), pair(found[1] if health else empty)


def bare_twin(exporter: ExporterProcess) -> BareServer:
    """A bare server with the exporter's current /metrics (gzipped) and health document,
    pinned to the exporter's CPU: the yardstick measured beside it."""
    metrics = exporter.get("/metrics", {"Accept-Encoding": "gzip"})
    health = exporter.get(HEALTH[0], HEALTH[1])
    plain = "text/plain; version=0.0.4; charset=utf-8"
    return BareServer({
        "/metrics": (metrics, {"Content-Type": plain, "Content-Encoding": "gzip"}),
        HEALTH[0]: (health, {"Content-Type": "application/json"}),
    }, cpus={0}, nice=NICE).start()


Isolation = dict[int, tuple[Timings, Timings, float]]


def measure_isolation(exporter: ExporterProcess, bodies: list[bytes], seconds: float,
                      period: float) -> Isolation:
    """/metrics and health latencies of the exporter and its bare twin, quiet and at the two
    rates, with the worst event loop lag the exporter saw in each."""
    isolation: Isolation = {}
    bare_server = bare_twin(exporter)
    try:
        for target in (0, CALM_RATE, BUSY_RATE):
            _, metrics_times, health_times = paced_with_scrapes(
                exporter, bodies, target, seconds, health=True, bare=bare_server,
                period=period)
            worst_lag = value(exporter.metrics(), "wedsync_event_loop_lag_seconds") or 0.0
            isolation[target] = (metrics_times, health_times, worst_lag)
    finally:
        bare_server.stop()
    return isolation


async def keepalive_scrapes(url: str, count: int) -> list[float]:
    """Keep-alive gzip scrapes, one after another, as Prometheus does them: their latencies."""
    times = []
    async with aiohttp.ClientSession() as session:
        for _ in range(count):
            started = time.perf_counter()
            async with session.get(f"{url}/metrics", headers={"Accept-Encoding": "gzip"},
                                   auto_decompress=False) as reply:
                await reply.read()
            times.append(time.perf_counter() - started)
    return times


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) >= 2 else values[0]


def spread_text(times: list[float]) -> str:
    """p50, p99 and max in ms, and the count."""
    return (f"p50 {statistics.median(times) * 1000:5.2f} ms, p99 {p99(times) * 1000:5.2f} ms, "
            f"max {max(times) * 1000:6.2f} ms ({len(times)} requests)")


async def spread(url: str) -> int:
    """1,000,000 events over 100,000 distinct raw paths (each path ten times)."""
    rng = random.Random(7)
    accepted = 0
    async with aiohttp.ClientSession() as session:
        for batch in range(2000):
            first = (batch % 200) * BATCH
            body = json.dumps({"events": events(
                rng, BATCH, lambda n, f=first: f"/api/section-{f + n}/items")}).encode()
            got, _ = await post(session, url, body)
            accepted += got
    return accepted


def render_comparison(series: int) -> tuple[float, float]:
    """Seconds to render the request histogram at ``series`` series: generate_latest on
    prometheus-client's Histogram vs the exporter's renderer."""
    registry = CollectorRegistry()
    theirs = Histogram("wedsync_http_request_duration_seconds", "h",
                       ["route", "method", "status_class"], buckets=REQUEST_BUCKETS,
                       registry=registry)
    store = MetricStore()
    ours = store.histogram("wedsync_http_request_duration_seconds")
    for n in range(series):
        labels = (f"/api/r{n // 4}", ("GET", "POST")[n % 2], ("2xx", "5xx")[n // 2 % 2])
        theirs.labels(*labels).observe(0.1)
        ours.labels(*labels).observe(0.1)
    started = time.perf_counter()
    generate_latest(registry)
    slow = time.perf_counter() - started
    started = time.perf_counter()
    Renderer(store)
    return slow, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--period", type=float, default=0.02,
                        help="seconds between two requests of one scraping process (it asks "
                             "the exporter and the bare server in turn)")
    parser.add_argument("--all-probes", action="store_true",
                        help="measure scrape isolation with the example configuration probing "
                             "the sandbox (PostgreSQL, PgBouncer, Redis, queues, Auth, "
                             "Realtime, API) instead of an exporter that probes nothing")
    parser.add_argument("--nice", type=int, default=0,
                        help="renice the exporter and the measuring processes (root for < 0)")
    parser.add_argument("--fifo", action="store_true",
                        help="run the measuring processes as real-time (SCHED_FIFO; root): "
                             "the load generator on their core cannot delay them")
    args = parser.parse_args()
    global NICE, FIFO
    NICE = args.nice
    FIFO = 10 if args.fifo else 0
    os.sched_setaffinity(0, {1})
    rng = random.Random(1)
    sample = events(rng, 100 * BATCH)
    bodies = [json.dumps({"events": sample[i:i + BATCH]}).encode()
              for i in range(0, len(sample), BATCH)]
    bare = bare_observe_rate(sample)

    exporter = start_exporter()
    pid = exporter.process.pid  # type: ignore[union-attr]
    try:
        asyncio.run(saturate(exporter.url, bodies, 2.0))  # warm up
        cpu_before = cpu_seconds(pid)
        accepted, elapsed = asyncio.run(saturate(exporter.url, bodies, args.seconds))
        cpu = cpu_seconds(pid) - cpu_before
        rate = accepted / elapsed
        per_cpu = accepted / cpu if cpu else float("nan")
        latencies, (scrapes, _), _ = paced_with_scrapes(exporter, bodies, rate / 2,
                                                        args.seconds)
        if not args.all_probes:
            isolation = measure_isolation(exporter, bodies, args.seconds, args.period)
        text = exporter.metrics()
        render = value(text, "wedsync_metrics_render_duration_seconds") or 0.0
        lag = value(text, "wedsync_event_loop_lag_seconds") or 0.0
    finally:
        exporter.stop()

    if args.all_probes:
        with all_probes_on() as exporter:
            isolation = measure_isolation(exporter, bodies, args.seconds, args.period)

    exporter = start_exporter()
    pid = exporter.process.pid  # type: ignore[union-attr]
    try:
        rss_before = rss_mib(pid)
        spread_accepted = asyncio.run(spread(exporter.url))
        time.sleep(1.5)
        text = exporter.metrics()
        rss_after = rss_mib(pid)
        series = [labels for name, labels, _ in samples(text)
                  if name == "wedsync_http_request_duration_seconds_count"]
        routes = {s["route"] for s in series}
        render_at_caps = value(text, "wedsync_metrics_render_duration_seconds") or 0.0
        folded = value(text, "wedsync_ingest_folded_total", label="route")
        size = len(exporter.get("/metrics"))
        gzipped_size = len(exporter.get("/metrics", {"Accept-Encoding": "gzip"}))
        cpu_before = cpu_seconds(pid)
        scrape_times = asyncio.run(keepalive_scrapes(exporter.url, 200))
        scrape_cpu = (cpu_seconds(pid) - cpu_before) / len(scrape_times)
    finally:
        exporter.stop()
    slow, fast = render_comparison(len(series))

    print("ingestion (exporter pinned to one core, batches of 500, 4 connections)")
    print(f"  sustained:            {rate:>12,.0f} events/s  (issue 25: >= 100,000 on one core)")
    print(f"  per exporter CPU-s:   {per_cpu:>12,.0f} events per CPU second ({cpu:.1f} s CPU "
          f"over {elapsed:.1f} s)")
    print(f"  bare Histogram.labels(...).observe loop: {bare:>12,.0f} events/s (the limit)")
    print(f"  ratio ingestion/bare: {rate / bare:>12.2f}  (per CPU-s: {per_cpu / bare:.2f})")
    print(f"at half that rate ({rate / 2:,.0f} events/s, {len(latencies)} requests)")
    print(f"  request latency p50 {statistics.median(latencies) * 1000:.1f} ms, "
          f"p99 {p99(latencies) * 1000:.1f} ms")
    print("  /metrics scrape meanwhile (another process, keep-alive, gzip): p50 "
          f"{statistics.median(scrapes) * 1000:.2f} ms, "
          f"p99 {p99(scrapes) * 1000:.2f} ms ({len(scrapes)} scrapes); last render "
          f"{render * 1000:.1f} ms CPU in slices; loop lag {lag * 1000:.1f} ms")
    print("/metrics and health latency, " + (
        "the example configuration probing the sandbox (--all-probes)" if args.all_probes
        else "an exporter that probes nothing (--all-probes: probing the sandbox)"))
    print(f"  each asked by its own {'real-time ' if FIFO else ''}process every "
          f"{2 * args.period * 1000:.0f} ms, of the exporter and, in turn, of a bare aiohttp "
          f"server pinned to the same core serving the same bytes (the machine's floor)")
    for target, (metrics_times, health_times, worst_lag) in isolation.items():
        print(f"while ingesting {target:,} events/s (batches of 500)" if target else
              "quiet, no ingestion")
        limit = ISOLATION_TARGETS.get(target)
        for name, (ours, floor) in (("/metrics (gzip)", metrics_times),
                                    ("health", health_times)):
            excess = p99(ours) - p99(floor)
            verdict = "" if limit is None else (
                f"; target p99 <= {limit * 1000:.0f} ms: "
                f"{'met' if p99(ours) <= limit else 'not met'}, "
                f"above the floor by <= {limit * 1000:.0f} ms: "
                f"{'met' if excess <= limit else 'not met'}")
            print(f"  {name:<16} ours  {spread_text(ours)}")
            print(f"  {'':<16} floor {spread_text(floor)}")
            print(f"  {'':<16} p99 above the floor: {excess * 1000:+.2f} ms{verdict}")
        print(f"  event loop lag, worst since the last rendering: {worst_lag * 1000:.2f} ms")
    print("after 1,000,000 events over 100,000 distinct raw paths (default caps 500/2000)")
    print(f"  accepted {spread_accepted:,}; folded into route=other: {folded:,.0f}")
    print(f"  histogram series: {len(series)} (routes {len(routes)}), /metrics "
          f"{size / 1024:.0f} KiB ({gzipped_size / 1024:.0f} KiB gzipped)")
    print(f"  RSS: {rss_before:.0f} MiB at start -> {rss_after:.0f} MiB")
    print(f"  full render at caps: {render_at_caps * 1000:.1f} ms (exporter); same series via "
          f"generate_latest: {slow * 1000:.0f} ms vs ours {fast * 1000:.1f} ms in-process")
    print(f"  idle keep-alive gzip scrape at caps: p50 "
          f"{statistics.median(scrape_times) * 1000:.2f} ms, p99 {p99(scrape_times) * 1000:.2f}"
          f" ms, {scrape_cpu * 1000:.2f} ms exporter CPU per scrape")


if __name__ == "__main__":
    main()
