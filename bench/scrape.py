"""Scrape cost of the exporter against its peers, in one run.

Peers: Debian's prometheus-postgres-exporter and prometheus-redis-exporter. Each side gets its
own throwaway PostgreSQL (pg_stat_statements preloaded, reference schema) and Redis, so the
server CPU each side causes can be told apart.

    python -m bench.scrape [--scrapes 200] [--minutes 10] [--all-probes] [--only pooler,queues]

Prints: per-scrape latency and CPU (plain and gzip, with Prometheus' own request headers),
scrape p99 while our PostgreSQL is hung, and the fair whole — CPU per minute of exporter plus
PostgreSQL plus Redis while an HA pair of real Prometheus servers scrapes every 15 s — with its
parts (each exporter, each PostgreSQL's processes, each Redis; the PostgreSQL children that
exit meanwhile, autovacuum workers, on a line of their own), the ratio against issue 25's
target (at most half the peers'), the servers' own idle work (a third PostgreSQL and Redis,
the same, that nobody connects to) and what each side spends beyond it, and each exporter's
RSS at the end next to 60 MB and the floor (``bench/floor.py``: the interpreter and the
libraries imported at start). With
``--all-probes`` a second exporter of ours runs alongside with every component the example can
probe on (auth, realtime, api and external against the sandbox, a PgBouncer pooler, BullMQ
queues), for its RSS after the same minutes (its CPU is not part of the fair whole, whose
peers probe only PostgreSQL and Redis); ``--minutes 10 --all-probes`` is issue 25's RSS run.
Then the pooler probe next to Debian's
prometheus-pgbouncer-exporter on the same PgBouncer, and the queue probe's Redis commands per
interval for 100 BullMQ queues (``bench/pooler_queues.py``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from bench import floor, pooler_queues
from bench.measure import (
    PROMETHEUS_HEADERS,
    cpu_ns,
    reaped_ns,
    rss_bytes,
    scrape,
    tree,
    wake_cost_us,
    wakeups,
)
from harness.exporter import ExporterProcess
from harness.pooler_and_queues import PoolerAndQueues
from harness.ports import free_port, wait_for_url
from harness.postgres import PostgresServer
from harness.prometheus import PrometheusServer
from harness.redis import RedisServer
from harness.sandbox import StackSandbox

REPO = Path(__file__).resolve().parent.parent
# Issue 25: our fair whole at most this share of the peers', RSS at most this after 10 minutes.
TARGET_SHARE = 0.5
TARGET_RSS_BYTES = 60 * 10**6
PLAIN_HEADERS = {k: v for k, v in PROMETHEUS_HEADERS.items() if k != "Accept-Encoding"}


def start_ours(pg: PostgresServer, redis: RedisServer) -> ExporterProcess:
    """Our exporter on ``pg`` and ``redis`` (database, cache and the weddings query), ready."""
    ours = ExporterProcess({
        "database": [{"name": "primary", "dsn": pg.dsn()}],
        "redis": [{"name": "cache", "url": redis.url()}],
        "queries": {"weddings": {"builtin": "weddings"}},
        "log": {"level": "warning"},
    })
    ours.start()
    ours.wait_ready()
    return ours


def start_backends(schema: str) -> tuple[PostgresServer, RedisServer]:
    pg = PostgresServer().start()
    pg.execute("CREATE EXTENSION pg_stat_statements")
    pg.execute(schema)
    redis = RedisServer().start()
    client = redis.client()
    for i in range(1000):  # a little data so INFO and the keyspace are not empty
        client.set(f"wedding:{i}", "x" * 100)
    return pg, redis


def start_peers(pg: PostgresServer, redis: RedisServer) -> list[tuple[str, subprocess.Popen, int]]:
    peers = []
    pg_port, redis_port = free_port(), free_port()
    env = {**os.environ,
           "DATA_SOURCE_NAME": f"postgresql://postgres@127.0.0.1:{pg.port}/postgres"
                               "?sslmode=disable"}
    peers.append(("postgres_exporter", subprocess.Popen(
        ["prometheus-postgres-exporter", f"--web.listen-address=127.0.0.1:{pg_port}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), pg_port))
    peers.append(("redis_exporter", subprocess.Popen(
        ["prometheus-redis-exporter", f"-redis.addr=redis://127.0.0.1:{redis.port}",
         f"-web.listen-address=127.0.0.1:{redis_port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), redis_port))
    for _, _, port in peers:
        wait_for_url(f"http://127.0.0.1:{port}/metrics", timeout=20)
    return peers


def per_scrape(ours: ExporterProcess, peers, pg_peer: PostgresServer, count: int) -> None:
    print(f"\n== Per scrape: {count} keep-alive scrapes, Prometheus' request headers ==")
    our_pid = ours.process.pid
    results = {}
    for label, headers in (("gzip", PROMETHEUS_HEADERS), ("plain", PLAIN_HEADERS)):
        results[f"ours {label}"] = scrape(f"wedsync-exporter ({label})", ours.port, [our_pid],
                                          count, headers=headers)
        for name, proc, port in peers:
            extra = tree(pg_peer.pid) if name == "postgres_exporter" else []
            results[f"{name} {label}"] = scrape(f"{name} ({label})", port, [proc.pid], count,
                                                extra_pids=extra, headers=headers)
    for result in results.values():
        print(result.line())
    for label in ("gzip", "plain"):
        ours_cpu = results[f"ours {label}"].cpu_ms_per_scrape
        peers_cpu = sum(results[f"{n} {label}"].cpu_ms_per_scrape for n, _, _ in peers)
        peers_all = peers_cpu + results[f"postgres_exporter {label}"].extra_cpu_ms_per_scrape
        print(f"{label}: peers' exporters together use {peers_cpu / ours_cpu:5.1f}x our CPU per "
              f"scrape ({peers_all / ours_cpu:5.1f}x with the PostgreSQL CPU they cause); "
              f"our p99 {results[f'ours {label}'].p99_ms:.3f} ms")


def hung_database(ours: ExporterProcess, pg: PostgresServer, count: int) -> None:
    print("\n== Scrapes while our PostgreSQL is hung (SIGSTOP) ==")
    pg.pause()
    try:
        time.sleep(3)  # let a probe hit the hang
        print(scrape("wedsync-exporter (PG hung)", ours.port, [ours.process.pid], count).line())
    finally:
        pg.resume()


def fair_whole(ours: ExporterProcess, peers, ours_backends, peer_backends, idle_backends,
               minutes: float, all_probes: ExporterProcess | None = None) -> None:
    print(f"\n== The fair whole: an HA pair of Prometheus scraping every 15 s for "
          f"{minutes:g} min ==")
    targets = {"ours": [f"127.0.0.1:{ours.port}"],
               "peers": [f"127.0.0.1:{port}" for _, _, port in peers]}
    if all_probes is not None:
        targets["ours_all_probes"] = [f"127.0.0.1:{all_probes.port}"]
    config = {"global": {"scrape_interval": "15s", "scrape_timeout": "10s"},
              "scrape_configs": [{"job_name": job, "static_configs": [{"targets": t}]}
                                 for job, t in targets.items()]}
    pair = [PrometheusServer(config).start(), PrometheusServer(config).start()]
    assert ours.process is not None
    our_pid = ours.process.pid
    # Each side's parts: its exporter(s), its PostgreSQL (postmaster and live children), its
    # Redis. PostgreSQL children that exit meanwhile (autovacuum workers) are counted apart.
    sides = {
        "ours": {"wedsync-exporter": lambda: [our_pid],
                 "PostgreSQL": lambda: tree(ours_backends[0].pid),
                 "Redis": lambda: [ours_backends[1].process.pid]},
        "peers": {"postgres_exporter": lambda: [peers[0][1].pid],
                  "redis_exporter": lambda: [peers[1][1].pid],
                  "PostgreSQL": lambda: tree(peer_backends[0].pid),
                  "Redis": lambda: [peer_backends[1].process.pid]},
        # The servers' own work: the same PostgreSQL and Redis, that nobody connects to.
        "idle": {"PostgreSQL": lambda: tree(idle_backends[0].pid),
                 "Redis": lambda: [idle_backends[1].process.pid]},
    }
    postmasters = {"ours": ours_backends[0].pid, "peers": peer_backends[0].pid,
                   "idle": idle_backends[0].pid}

    try:
        before = {side: {part: cpu_ns(pids()) for part, pids in parts.items()}
                  for side, parts in sides.items()}
        reaped_before = {side: reaped_ns(pid) for side, pid in postmasters.items()}
        woken_before = wakeups([our_pid])
        started = time.monotonic()
        time.sleep(minutes * 60)
        elapsed_min = (time.monotonic() - started) / 60
        woken = (wakeups([our_pid]) - woken_before) / elapsed_min
        cost = {side: {part: (cpu_ns(pids()) - before[side][part]) / 1e9 / elapsed_min
                       for part, pids in parts.items()} for side, parts in sides.items()}
        reaped = {side: (reaped_ns(pid) - reaped_before[side]) / 1e9 / elapsed_min
                  for side, pid in postmasters.items()}
        whole = {side: sum(parts.values()) for side, parts in cost.items()}
        for side, label in (("ours", "wedsync-exporter + PostgreSQL + Redis"),
                            ("peers", "postgres_exporter + redis_exporter + PostgreSQL + Redis")):
            parts = "; ".join(f"{part} {value:.3f}" for part, value in cost[side].items())
            print(f"{label}: {whole[side]:7.3f} CPU-s per minute ({parts})")
        ratio = whole["ours"] / whole["peers"]
        verdict = "met" if ratio <= TARGET_SHARE else "NOT met"
        print(f"ours / peers: {ratio:.2f} (issue 25's target: at most {TARGET_SHARE:g}, i.e. "
              f"{whole['peers'] * TARGET_SHARE:.3f} CPU-s per minute): {verdict}")
        with_reaped = ((whole["ours"] + reaped["ours"]) / (whole["peers"] + reaped["peers"]))
        print(f"PostgreSQL children that exited meanwhile (autovacuum workers; not above): ours "
              f"{reaped['ours']:.3f}, peers {reaped['peers']:.3f}, idle servers "
              f"{reaped['idle']:.3f} CPU-s per minute; with them ours / peers is "
              f"{with_reaped:.2f}")
        idle = cost["idle"]
        print(f"the servers' own idle work (a PostgreSQL and a Redis nobody connects to): "
              f"{whole['idle']:.3f} CPU-s per minute (PostgreSQL {idle['PostgreSQL']:.3f}; "
              f"Redis {idle['Redis']:.3f}), {whole['idle'] / whole['ours']:.0%} of ours")
        beyond = {side: whole[side] - whole["idle"] for side in ("ours", "peers")}
        print(f"beyond it, what each side makes the machine spend: ours {beyond['ours']:.3f}, "
              f"peers {beyond['peers']:.3f} CPU-s per minute: ours / peers "
              f"{beyond['ours'] / beyond['peers']:.2f}")
        bare = wake_cost_us()
        print(f"this machine: a bare event loop's wake-up costs {bare:.0f} us of CPU; "
              f"wedsync-exporter woke {woken:.0f} times a minute, so about "
              f"{bare * woken / 1e6:.3f} of its {cost['ours']['wedsync-exporter']:.3f} CPU-s per "
              f"minute is the machine's price of waking, before any work")
        exporters = [("wedsync-exporter", our_pid)]
        if all_probes is not None and all_probes.process is not None:
            exporters.append(("wedsync-exporter, all probes on", all_probes.process.pid))
        exporters += [("postgres_exporter", peers[0][1].pid), ("redis_exporter", peers[1][1].pid)]
        sizes = "; ".join(f"{name} {rss_bytes(pid) / 2**20:.1f} MiB" for name, pid in exporters)
        print(f"RSS after {minutes:g} min: {sizes}")
        low, lean = floor.measure(), floor.measure(without_extras=True)
        for name, pid in exporters[:2 if all_probes is not None else 1]:
            rss = rss_bytes(pid)
            verdict = "met" if rss <= TARGET_RSS_BYTES else "NOT met"
            print(f"{name}: {rss / 1e6:.1f} MB against issue 25's {TARGET_RSS_BYTES / 1e6:g} MB "
                  f"({verdict}); floor (interpreter + the {low.modules} modules imported at "
                  f"start, python -m bench.floor) {low.rss / 1e6:.1f} MB, so "
                  f"{(rss - low.rss) / 1e6:.1f} MB above it; the floor of README's install "
                  f"(no test extras, so no rich) is {lean.rss / 1e6:.1f} MB")
        alone = floor.stack()
        print(f"the stack alone (interpreter, aiohttp, prometheus-client, psycopg 3, redis-py; "
              f"{alone.modules} modules, none of the exporter's): {alone.rss / 1e6:.1f} MB")
    finally:
        for prom in pair:
            prom.cleanup()


def start_all_probes(schema: str) -> tuple[ExporterProcess, list[Callable[[], None]]]:
    """A second exporter of ours with every component the example can probe on: a database,
    a Redis and the weddings query as ``start_ours`` (servers of its own, so that none of its
    load counts in the fair whole), auth, realtime, api and external against the sandbox, a
    PgBouncer in front of its PostgreSQL and BullMQ queues in a Redis of their own. Returns it,
    ready, and what stops the rest afterwards."""
    pg, redis = start_backends(schema)
    sandbox = StackSandbox(external=True).start()
    queue_redis = RedisServer().start()
    extras = PoolerAndQueues(pg, queue_redis.url()).start()
    stoppable = [extras.stop, queue_redis.cleanup, sandbox.stop, pg.cleanup, redis.cleanup]
    config = {
        "database": [{"name": "primary", "dsn": pg.dsn()}],
        "redis": [{"name": "cache", "url": redis.url()}],
        "queries": {"weddings": {"builtin": "weddings"}},
        "log": {"level": "warning"},
        **sandbox.exporter_sections(),
        **extras.exporter_sections(sandbox.secret_file),
    }
    exporter = ExporterProcess(config)
    exporter.start()
    exporter.wait_ready(timeout=60)
    return exporter, stoppable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scrapes", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--all-probes", action="store_true",
                        help="also run an exporter with every probe on, for its RSS")
    parser.add_argument("--only", default="",
                        help="comma-separated parts: pooler, queues (default: everything)")
    args = parser.parse_args()
    only = {part.strip() for part in args.only.split(",") if part.strip()}
    if only:
        if "pooler" in only:
            pooler_queues.pooler(args.scrapes)
        if "queues" in only:
            pooler_queues.queues()
        return
    schema = (REPO / "sandbox" / "schema.sql").read_text()
    ours_backends = start_backends(schema)
    peer_backends = start_backends(schema)
    idle_backends = start_backends(schema)
    peers = []
    ours = all_probes = None
    stoppable: list[Callable[[], None]] = []
    try:
        pg, redis = ours_backends
        ours = start_ours(pg, redis)
        if args.all_probes:
            all_probes, stoppable = start_all_probes(schema)
        time.sleep(1)  # the first results are rendered within a second of being ready
        peers = start_peers(*peer_backends)
        per_scrape(ours, peers, peer_backends[0], args.scrapes)
        hung_database(ours, pg, args.scrapes)
        time.sleep(2)
        if args.minutes > 0:
            fair_whole(ours, peers, ours_backends, peer_backends, idle_backends, args.minutes,
                       all_probes)
        pooler_queues.pooler(args.scrapes)
        pooler_queues.queues()
    finally:
        for exporter in (ours, all_probes):
            if exporter is not None:
                exporter.stop()
        for stop in stoppable:
            stop()
        for _, proc, _ in peers:
            proc.terminate()
            proc.wait(10)
        for pg, redis in (ours_backends, peer_backends, idle_backends):
            pg.cleanup()
            redis.cleanup()


if __name__ == "__main__":
    main()
