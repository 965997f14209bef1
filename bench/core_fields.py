"""The Core Fields path on the sandbox: the postgres_changes round trip against the broadcast echo
in the same probe runs, and what the probe costs the database.

Starts the sandbox platform (its own PostgreSQL with wal_level logical and wal2json, Redis and
the sandbox, as ``wedsync-stack up --sandbox``), builds the Realtime target the platform gives
the exporter (through the real config loader), and runs the Realtime probe ``--runs`` times,
``--interval`` seconds apart. Each run: a broadcast echo, then a write to the probe table timed
until its postgres_changes event. Prints median and p99 of both paths and of the split, and the
cost: database writes and WAL bytes per probe run, and per minute at the production interval
(``--production-interval``, the probe interval of the example config, 15 s).

    python -m bench.core_fields [--runs 60] [--interval 1] [--poll-interval 0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import yaml

from exporter.config import parse_config
from exporter.config.model import RealtimeTarget
from exporter.probes.base import ProbeError, ProbeOutcome
from exporter.probes.realtime import RealtimeProbe
from harness.sandbox_platform import DATABASE, REALTIME_POLL_INTERVAL, SandboxPlatform

WAL_SQL = "SELECT pg_current_wal_lsn()::text"
UPDATES_SQL = ("SELECT n_tup_upd FROM pg_stat_user_tables WHERE schemaname = 'wedsync_probe' "
               "AND relname = 'core_fields'")


def percentiles(values: list[float]) -> tuple[float, float]:
    """(median, p99) in milliseconds."""
    cuts = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 \
        else values * 99
    return statistics.median(values) * 1000, cuts[98] * 1000


def target_of(platform: SandboxPlatform) -> RealtimeTarget:
    sections = platform.exporter_sections()
    config = parse_config(yaml.safe_dump({"probe_defaults": {"interval": "15s",
                                                             "timeout": "5s"}, **sections}), {})
    [target] = config.targets("realtime")
    assert isinstance(target, RealtimeTarget) and target.postgres_changes is not None
    return target


async def probe_runs(target: RealtimeTarget, runs: int, interval: float
                     ) -> tuple[list[dict[str, Any]], list[str]]:
    probe = RealtimeProbe(target)
    details: list[dict[str, Any]] = []
    failures: list[str] = []
    try:
        for _ in range(runs):
            started = time.monotonic()
            try:
                outcome = await asyncio.wait_for(probe.run(), target.timeout)
            except (ProbeError, TimeoutError) as exc:
                failures.append(str(exc) or "timeout")
            else:
                assert isinstance(outcome, ProbeOutcome)
                details.append(outcome.details)
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))
    finally:
        await probe.close()
    return details, failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--production-interval", type=float, default=15.0)
    parser.add_argument("--poll-interval", type=float, default=REALTIME_POLL_INTERVAL,
                        help="the sandbox Realtime's slot poll interval in seconds (Realtime's "
                             "tenant setting poll_interval_ms; its default is 0.1)")
    args = parser.parse_args()
    if not 2 <= args.runs <= 1000 or not 0.2 <= args.interval <= 60 \
            or not 0.01 <= args.poll_interval <= 1:
        parser.error("--runs must be 2-1000, --interval 0.2-60 s, --poll-interval 0.01-1 s")
    platform = SandboxPlatform(realtime_poll_interval=args.poll_interval).start()
    try:
        assert platform.postgres is not None
        pg = platform.postgres
        target = target_of(platform)
        # One warm-up run: the sign-ins and the replication slot are set up once, not per run.
        asyncio.run(probe_runs(target, 1, 0))
        time.sleep(1.0)
        [(wal_before,)] = pg.execute(WAL_SQL, dbname=DATABASE)
        [(updates_before,)] = pg.execute(UPDATES_SQL, dbname=DATABASE)
        began = time.monotonic()
        details, failures = asyncio.run(probe_runs(target, args.runs, args.interval))
        elapsed = time.monotonic() - began
        time.sleep(1.5)  # table statistics reach pg_stat_user_tables within a second
        [(wal_bytes,)] = pg.execute(
            f"SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '{wal_before}')::bigint",
            dbname=DATABASE)
        [(updates_after,)] = pg.execute(UPDATES_SQL, dbname=DATABASE)
    finally:
        platform.stop()

    print(f"Core Fields probe on the sandbox: {len(details)} runs ok, {len(failures)} failed, "
          f"{args.interval:g} s apart ({elapsed:.0f} s); Realtime polls its slot "
          f"{args.poll_interval * 1000:g} ms after an empty poll")
    for failure in sorted(set(failures)):
        print(f"  failed: {failure}")
    rows = [("postgres_changes (write to event)", "postgres_change_seconds"),
            ("  stage commit (write to commit)", "commit_seconds"),
            ("  stage delivery (commit to event)", "delivery_seconds"),
            ("broadcast echo (same runs)", "roundtrip_seconds")]
    for label, key in rows:
        values = [d[key] for d in details if key in d]
        if values:
            median, p99 = percentiles(values)
            print(f"  {label:<36} median {median:6.1f} ms   p99 {p99:6.1f} ms   (n={len(values)})")
    runs = len(details) + len(failures)
    writes = updates_after - updates_before
    per_minute = 60 / args.production_interval
    print(f"cost: {writes} UPDATEs of the probe table for {runs} runs "
          f"({writes / runs:.2f} per run); WAL {wal_bytes} bytes ({wal_bytes / runs:.0f} per run)")
    print(f"  at the {args.production_interval:g} s production interval: "
          f"{writes / runs * per_minute:.0f} database writes/min, "
          f"{wal_bytes / runs * per_minute:.0f} WAL bytes/min "
          f"(+ a full-page image of the row's page after each checkpoint where "
          f"full_page_writes is on; this bench's PostgreSQL runs with it off)")


if __name__ == "__main__":
    main()
