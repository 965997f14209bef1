"""``check-config --connect``: check every query against its database before it is deployed.

Each enabled query's statement runs once with ``LIMIT 0`` in the same read-only transaction
the exporter uses, and its result columns are checked against the mapping: a missing table or
column, or a mapped column the result lacks, is reported with the query's name, instead of
being found at the exporter's first run.
"""

from __future__ import annotations

import asyncio
from zoneinfo import ZoneInfo

from exporter.clock import Clock, utc_now
from exporter.config.model import Config
from exporter.db.pool import PgPool
from exporter.probe_types import ProbeError
from exporter.queries.jobs import QueryRunner


async def describe_queries(config: Config, clock: Clock = utc_now) -> tuple[list[str],
                                                                            list[str]]:
    """(problems, notes): a line per query that would fail or turn off, and per query that
    was not checked because its database target is off."""
    problems: list[str] = []
    notes: list[str] = []
    pools = {t.name: PgPool(t.dsn, size=1, statement_timeout=t.statement_timeout,
                            connect_timeout=t.timeout) for t in config.database}
    try:
        for query in (q for q in config.queries if q.enabled):
            where = f"queries.{query.name}"
            pool = pools.get(query.database)
            if pool is None:
                notes.append(f"{where}: not checked: its database target is off")
                continue
            runner = QueryRunner(query, pool, asyncio.Semaphore(1), clock,
                                 ZoneInfo(config.timezone))
            try:
                async with asyncio.timeout(2 * query.timeout + 1):
                    turned_off = await runner.describe()
            except ProbeError as exc:
                problems.append(f"{where}: cannot check: {exc.message}")
                continue
            except TimeoutError:
                problems.append(f"{where}: cannot check: the database did not answer in time")
                continue
            if turned_off is not None:
                problems.append(f"{where}: would turn off ({turned_off.reason}): "
                                f"{turned_off.message}")
    finally:
        for pool in pools.values():
            await pool.close()
    return problems, notes
