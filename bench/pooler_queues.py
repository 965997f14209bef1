"""The pooler and queue probes' costs, for ``python -m bench.scrape``.

- Pooler: our exporter and Debian's prometheus-pgbouncer-exporter on the same PgBouncer (in
  front of a throwaway PostgreSQL, five clients holding and waiting for its pool of two), in one
  run: CPU per scrape of each exporter, PgBouncer CPU each scrape causes, series served; and
  what one background probe run of ours costs (our exporter reads PgBouncer in the background,
  never on a scrape).
- Queues: Redis commands one probe run sends for 100 real BullMQ queues (named, then found by
  discovery), counted by Redis itself (INFO commandstats), and the CPU of a run.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from bullmq import Queue

from bench.measure import cpu_ns, scrape, tree
from exporter.config.model import (
    PoolerTarget,
    QueueDiscovery,
    QueuesTarget,
    Thresholds,
)
from exporter.probes.bullmq import QueueProbe
from exporter.probes.pgbouncer import PgBouncerProbe
from harness.exporter import ExporterProcess
from harness.pgbouncer import PgBouncerServer
from harness.ports import free_port, wait_for_url
from harness.postgres import PostgresServer
from harness.redis import RedisServer

TIMING = {"interval": 15.0, "timeout": 5.0, "thresholds": Thresholds()}


def series(text: str, prefix: str) -> int:
    """Samples whose name starts with ``prefix`` in an exposition text."""
    return sum(1 for line in text.splitlines() if line.startswith(prefix))


@contextmanager
def busy_pool(server: PgBouncerServer, clients: int = 5) -> Iterator[None]:
    """``clients`` connections each holding a transaction (three wait on a pool of two)."""
    release = threading.Event()

    def client() -> None:
        try:
            with psycopg.connect(server.dsn(), connect_timeout=5) as conn:
                conn.execute("SELECT 1")
                release.wait(600)
                conn.rollback()
        except psycopg.Error:
            return

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(1)
    try:
        yield
    finally:
        release.set()
        for thread in threads:
            thread.join(10)


def pooler(count: int) -> None:
    """Our pooler metrics against prometheus-pgbouncer-exporter on the same PgBouncer."""
    print(f"\n== Pooler: {count} scrapes each, the same PgBouncer (pool 2, 5 clients) ==")
    with PostgresServer(stat_statements=False) as pg, \
            PgBouncerServer(pg.port, pool_size=2) as pgbouncer, busy_pool(pgbouncer):
        pgb_pids = lambda: tree(pgbouncer.process.pid)  # noqa: E731 (pgbouncer and any child)
        ours = ExporterProcess({
            "pooler": [{"name": "pgbouncer", "url": pgbouncer.admin_dsn()}],
            "log": {"level": "warning"}}).start()
        port = free_port()
        peer_log = pgbouncer.dir / "peer.log"
        with peer_log.open("wb") as log:
            peer = subprocess.Popen(
                ["prometheus-pgbouncer-exporter", "--host", "127.0.0.1", "--port", str(port),
                 "--pgbouncer-host", "127.0.0.1", "--pgbouncer-port", str(pgbouncer.port),
                 "--pgbouncer-user", "wedsync_stats"],
                stdout=log, stderr=subprocess.STDOUT)
        try:
            ours.wait_ready()
            # /metrics is re-rendered within a quarter second of a probe's result.
            deadline = time.monotonic() + 10
            while "wedsync_pooler_clients{" not in ours.metrics() and time.monotonic() < deadline:
                time.sleep(0.1)
            our_result = scrape("wedsync-exporter (gzip)", ours.port, [ours.process.pid],
                                count, extra_pids=pgb_pids())
            our_text = ours.metrics()
            peer_result, peer_text = None, ""
            try:
                wait_for_url(f"http://127.0.0.1:{port}/metrics", timeout=10)
                peer_result = scrape("pgbouncer_exporter (gzip)", port, [peer.pid], count,
                                     extra_pids=pgb_pids())
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                            timeout=10) as answer:
                    peer_text = answer.read().decode()
            except TimeoutError:
                pass
        finally:
            ours.stop()
            peer.terminate()
            peer.wait(10)
        print(our_result.line())
        print(f"series: ours {series(our_text, 'wedsync_pooler_')} (wedsync_pooler_*); the "
              "PgBouncer CPU above is what a scrape of ours causes: none, the probe reads "
              "PgBouncer in the background, never on a scrape")
        if peer_result is not None:
            print(peer_result.line())
            print(f"series: the peer {series(peer_text, 'pgbouncer_')} (pgbouncer_*)")
        else:
            lines = peer_log.read_text(errors="replace").strip().splitlines()
            print(f"pgbouncer_exporter ({peer_version()}) did not serve: it exited with "
                  f"{peer.returncode} at start-up ({lines[-1] if lines else 'no output'}); "
                  f"it reads the SHOW STATS columns of PgBouncer before 1.8, and this is "
                  f"{pgbouncer_version()}")
        probe_runs(pgbouncer, pgb_pids(), 200)


def peer_version() -> str:
    """The Debian package version of prometheus-pgbouncer-exporter."""
    done = subprocess.run(["dpkg-query", "-W", "-f", "${Version}",
                           "prometheus-pgbouncer-exporter"], capture_output=True, text=True,
                          check=False)
    return f"Debian {done.stdout.strip() or 'unknown version'}"


def pgbouncer_version() -> str:
    from harness.pgbouncer import version

    return version()


def probe_runs(pgbouncer: PgBouncerServer, pgb_pids: list[int], runs: int) -> None:
    """What one background probe run of ours costs (in this process, one reused connection)."""
    probe = PgBouncerProbe(PoolerTarget(name="pgbouncer", url=pgbouncer.admin_dsn(), **TIMING))

    async def go() -> tuple[float, int]:
        await probe.run()  # connect once, as the exporter does
        cpu_before, pgb_before = time.process_time(), cpu_ns(pgb_pids)
        for _ in range(runs):
            await probe.run()
        await probe.close()
        return time.process_time() - cpu_before, cpu_ns(pgb_pids) - pgb_before

    ours, caused = asyncio.run(go())
    print(f"one pooler probe run (SHOW POOLS, STATS, DATABASES, CONFIG): {ours / runs * 1000:.3f} "
          f"ms exporter CPU + {caused / runs / 1e6:.3f} ms PgBouncer CPU (mean of {runs}; once "
          f"per interval, 15 s by default, whatever the number of scrapes) — about what one "
          f"scrape of an exporter that reads PgBouncer on each scrape costs PgBouncer")


def queues(queue_count: int = 100) -> None:
    """Redis commands per probe run for ``queue_count`` real BullMQ queues."""
    print(f"\n== Queues: one probe run over {queue_count} BullMQ queues ==")
    with RedisServer() as redis:
        names = [f"queue-{i:03d}" for i in range(queue_count)]

        async def fill() -> None:
            for name in names:
                queue = Queue(name, {"connection": redis.url()})
                await queue.addBulk([{"name": "job", "data": {"n": n}} for n in range(20)])
                await queue.add("later", {}, {"delay": 60_000})
                await queue.close()

        asyncio.run(fill())
        client = redis.client()

        def one_run(target: QueuesTarget, runs: int = 1) -> tuple[int, float, float]:
            probe = QueueProbe(target)

            async def go() -> tuple[float, int]:
                await probe.run()  # connect once
                stats_before = client.info("stats")["total_commands_processed"]
                cpu_before, redis_before = time.process_time(), cpu_ns([redis.process.pid])
                for _ in range(runs):
                    await probe.run()
                spent = time.process_time() - cpu_before
                redis_spent = cpu_ns([redis.process.pid]) - redis_before
                commands = client.info("stats")["total_commands_processed"] - stats_before
                await probe.close()
                return spent, commands, redis_spent  # type: ignore[return-value]

            spent, commands, redis_spent = asyncio.run(go())  # type: ignore[misc]
            # One INFO above is ours, not the probe's.
            return (int(commands) - 1) // runs, spent / runs * 1000, redis_spent / runs / 1e6

        named = QueuesTarget(name="jobs", url=redis.url(), names=tuple(names), **TIMING)
        commands, cpu_ms, redis_ms = one_run(named, runs=20)
        print(f"named queues: {commands} Redis commands per run ({commands / queue_count:.1f} "
              f"per queue, 2 pipelined round trips), {cpu_ms:.2f} ms exporter CPU, "
              f"{redis_ms:.2f} ms Redis CPU per run")
        client.mset({f"cache:item:{i}": "x" for i in range(20_000)})
        found = QueuesTarget(name="jobs", url=redis.url(), discovery=QueueDiscovery(
            enabled=True, scan_calls=10, scan_count=1000), **TIMING)
        commands, cpu_ms, redis_ms = one_run(found, runs=20)
        print(f"discovered (10 SCAN calls of COUNT 1000 per run, {client.dbsize()} keys): "
              f"{commands} Redis commands per run, {cpu_ms:.2f} ms exporter CPU, "
              f"{redis_ms:.2f} ms Redis CPU per run")
