"""Scrape cost of the exporter against its peers, in one run.

Peers: Debian's prometheus-postgres-exporter and prometheus-redis-exporter. Each side gets its
own throwaway PostgreSQL (pg_stat_statements preloaded, reference schema) and Redis, so the
server CPU each side causes can be told apart.

    python -m bench.scrape [--scrapes 200] [--minutes 10] [--only pooler,queues]

Prints: per-scrape latency and CPU (plain and gzip, with Prometheus' own request headers),
scrape p99 while our PostgreSQL is hung, and the fair whole — CPU per minute of exporter plus
PostgreSQL plus Redis while an HA pair of real Prometheus servers scrapes every 15 s — with
each exporter's RSS at the end; then the pooler probe next to Debian's
prometheus-pgbouncer-exporter on the same PgBouncer, and the queue probe's Redis commands per
interval for 100 BullMQ queues (``bench/pooler_queues.py``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from pathlib import Path

from bench import pooler_queues
from bench.measure import PROMETHEUS_HEADERS, cpu_ns, rss_bytes, scrape, tree
from harness.exporter import ExporterProcess
from harness.ports import free_port, wait_for_url
from harness.postgres import PostgresServer
from harness.prometheus import PrometheusServer
from harness.redis import RedisServer

REPO = Path(__file__).resolve().parent.parent
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


def fair_whole(ours: ExporterProcess, peers, ours_backends, peer_backends,
               minutes: float) -> None:
    print(f"\n== The fair whole: an HA pair of Prometheus scraping every 15 s for "
          f"{minutes:g} min ==")
    targets = {"ours": [f"127.0.0.1:{ours.port}"],
               "peers": [f"127.0.0.1:{port}" for _, _, port in peers]}
    config = {"global": {"scrape_interval": "15s", "scrape_timeout": "10s"},
              "scrape_configs": [{"job_name": job, "static_configs": [{"targets": t}]}
                                 for job, t in targets.items()]}
    pair = [PrometheusServer(config).start(), PrometheusServer(config).start()]

    def our_pids() -> list[int]:
        pg, redis = ours_backends
        return [ours.process.pid, *tree(pg.pid), redis.process.pid]

    def peer_pids() -> list[int]:
        pg, redis = peer_backends
        return [*(p.pid for _, p, _ in peers), *tree(pg.pid), redis.process.pid]

    try:
        ours_before, peers_before = cpu_ns(our_pids()), cpu_ns(peer_pids())
        started = time.monotonic()
        time.sleep(minutes * 60)
        elapsed_min = (time.monotonic() - started) / 60
        ours_cpu = (cpu_ns(our_pids()) - ours_before) / 1e9 / elapsed_min
        peers_cpu = (cpu_ns(peer_pids()) - peers_before) / 1e9 / elapsed_min
        print(f"wedsync-exporter + PostgreSQL + Redis: {ours_cpu:7.3f} CPU-s per minute "
              "(probes included)")
        print(f"postgres_exporter + redis_exporter + PostgreSQL + Redis: {peers_cpu:7.3f} CPU-s "
              f"per minute ({peers_cpu / ours_cpu:4.1f}x ours)")
        mib = {name: rss_bytes(pid) / 2**20 for name, pid in (
            ("wedsync-exporter", ours.process.pid), ("postgres_exporter", peers[0][1].pid),
            ("redis_exporter", peers[1][1].pid))}
        sizes = "; ".join(f"{name} {size:.1f} MiB" for name, size in mib.items())
        print(f"RSS after {minutes:g} min: {sizes}")
    finally:
        for prom in pair:
            prom.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scrapes", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=10.0)
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
    peers = []
    ours = None
    try:
        pg, redis = ours_backends
        ours = start_ours(pg, redis)
        time.sleep(1)  # the first results are rendered within a second of being ready
        peers = start_peers(*peer_backends)
        per_scrape(ours, peers, peer_backends[0], args.scrapes)
        hung_database(ours, pg, args.scrapes)
        time.sleep(2)
        if args.minutes > 0:
            fair_whole(ours, peers, ours_backends, peer_backends, args.minutes)
        pooler_queues.pooler(args.scrapes)
        pooler_queues.queues()
    finally:
        if ours is not None:
            ours.stop()
        for _, proc, _ in peers:
            proc.terminate()
            proc.wait(10)
        for pg, redis in (ours_backends, peer_backends):
            pg.cleanup()
            redis.cleanup()


if __name__ == "__main__":
    main()
