"""PostgreSQL probe: round trip, connections, transaction and buffer counters, longest
transaction, replication lag, size, slow statements, tables without RLS and WAL archiving.

Works with least privilege: a login role with ``pg_monitor`` (for other sessions' states,
pg_stat_statements and replication views) — no superuser, no table access.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from psycopg import AsyncConnection, errors, sql

from exporter.config.model import DatabaseTarget
from exporter.db.archiving import read_archiver
from exporter.db.errors import classify
from exporter.db.pool import PgPool
from exporter.metrics.store import Sample
from exporter.probes.base import ProbeOutcome

STATS_SQL = """
SELECT current_setting('max_connections')::int AS max_connections,
       pg_database_size(current_database()) AS size_bytes,
       pg_is_in_recovery() AS in_recovery,
       d.xact_commit, d.xact_rollback, d.deadlocks, d.blks_hit, d.blks_read
  FROM pg_stat_database d
 WHERE d.datname = current_database()
"""

ACTIVITY_SQL = """
SELECT coalesce(state, 'unknown') AS state, count(*) AS n,
       coalesce(max(extract(epoch FROM clock_timestamp() - xact_start))
                FILTER (WHERE pid <> pg_backend_pid()), 0) AS longest_xact
  FROM pg_stat_activity
 WHERE backend_type = 'client backend'
 GROUP BY 1
"""

REPLICA_LAG_SQL = """
SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0)
       END AS lag
"""

PRIMARY_LAG_SQL = """
SELECT count(*) AS replicas, max(extract(epoch FROM replay_lag)) AS lag
  FROM pg_stat_replication
"""

STATEMENTS_SCHEMA_SQL = """
SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE e.extname = 'pg_stat_statements'
"""

SLOW_STATEMENTS_SQL = """
SELECT count(*) FROM {schema}.pg_stat_statements
 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND mean_exec_time > %(threshold_ms)s
"""

RLS_SQL = """
SELECT n.nspname AS schema, count(*) FILTER (WHERE NOT c.relrowsecurity) AS without_rls
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(%(schemas)s)
 GROUP BY 1
"""

COUNTERS = {
    "xact_commit": "wedsync_db_xact_commit_total",
    "xact_rollback": "wedsync_db_xact_rollback_total",
    "deadlocks": "wedsync_db_deadlocks_total",
    "blks_hit": "wedsync_db_blocks_hit_total",
    "blks_read": "wedsync_db_blocks_read_total",
}
# Not preloaded, not readable with these grants, or an older column layout.
_STATEMENTS_UNAVAILABLE = (errors.ObjectNotInPrerequisiteState, errors.InsufficientPrivilege,
                           errors.UndefinedTable, errors.UndefinedColumn)
STATES = ("active", "idle", "idle_in_transaction", "idle_in_transaction_aborted",
          "fastpath_function_call", "disabled")


def state_label(state: str) -> str:
    """``idle in transaction (aborted)`` -> ``idle_in_transaction_aborted``."""
    label = state.replace("(", "").replace(")", "").replace(" ", "_")
    return label if label in STATES else "unknown"


class PostgresProbe:
    """Probes one PostgreSQL target through the shared pool."""

    component = "database"

    def __init__(self, target: DatabaseTarget, pool: PgPool) -> None:
        self.target = target
        self.pool = pool

    async def run(self) -> ProbeOutcome:
        try:
            return await self.pool.run(self._measure)
        except Exception as exc:
            raise classify(exc) from None

    async def _fetchone(self, conn: AsyncConnection, query: str,
                        params: dict[str, Any] | None = None) -> dict[str, Any]:
        async with conn.cursor() as cur:
            await cur.execute(query, params)  # type: ignore[arg-type]
            row = await cur.fetchone()
            names = [d.name for d in cur.description or []]
        return dict(zip(names, row or (), strict=False))

    async def _measure(self, conn: AsyncConnection) -> ProbeOutcome:
        t = {"target": self.target.name}
        started = time.perf_counter()
        await conn.execute("SELECT 1")
        roundtrip = time.perf_counter() - started

        stats = await self._fetchone(conn, STATS_SQL)
        samples = [
            Sample("wedsync_db_max_connections", t, stats["max_connections"]),
            Sample("wedsync_db_size_bytes", t, stats["size_bytes"]),
            Sample("wedsync_db_in_recovery", t, 1 if stats["in_recovery"] else 0),
        ]
        samples += [Sample(name, t, stats[column]) for column, name in COUNTERS.items()]

        connections = dict.fromkeys(STATES, 0.0)
        longest = 0.0
        async with conn.cursor() as cur:
            await cur.execute(ACTIVITY_SQL)
            for state, count, longest_xact in await cur.fetchall():
                label = state_label(state)
                connections[label] = connections.get(label, 0.0) + count
                longest = max(longest, float(longest_xact or 0))
        samples += [Sample("wedsync_db_connections", {**t, "state": s}, n)
                    for s, n in connections.items()]
        samples.append(Sample("wedsync_db_longest_transaction_seconds", t, longest))

        if stats["in_recovery"]:
            lag = await self._fetchone(conn, REPLICA_LAG_SQL)
            samples.append(Sample("wedsync_db_replication_lag_seconds", t, float(lag["lag"])))
        else:
            repl = await self._fetchone(conn, PRIMARY_LAG_SQL)
            samples.append(Sample("wedsync_db_replicas", t, repl["replicas"]))
            if repl["replicas"]:
                samples.append(Sample("wedsync_db_replication_lag_seconds", t,
                                      float(repl["lag"] or 0)))

        samples += await self._slow_statements(conn, t)
        rls = {s: 0 for s in self.target.exposed_schemas}
        async with conn.cursor() as cur:
            await cur.execute(RLS_SQL, {"schemas": list(self.target.exposed_schemas)})
            for schema, without in await cur.fetchall():
                rls[schema] = without
        samples += [Sample("wedsync_db_tables_without_rls", {**t, "schema": s}, n)
                    for s, n in rls.items()]
        samples += await self._archiving(conn, t)
        return ProbeOutcome(
            latency=roundtrip, samples=samples,
            observations=[Sample("wedsync_db_roundtrip_seconds", t, roundtrip)],
            details={"active_connections": int(connections["active"])},
        )

    async def _slow_statements(self, conn: AsyncConnection, t: dict[str, str]) -> list[Sample]:
        """pg_stat_statements may be absent or not preloaded: then only say it is unavailable."""
        schema_row = await self._fetchone(conn, STATEMENTS_SCHEMA_SQL)
        if not schema_row:
            return [Sample("wedsync_db_stat_statements_available", t, 0)]
        query = sql.SQL(SLOW_STATEMENTS_SQL).format(schema=sql.Identifier(schema_row["nspname"]))
        try:
            async with conn.cursor() as cur:
                await cur.execute(query, {
                    "threshold_ms": self.target.slow_statement_threshold * 1000})
                row = await cur.fetchone()
        except _STATEMENTS_UNAVAILABLE:
            return [Sample("wedsync_db_stat_statements_available", t, 0)]
        return [Sample("wedsync_db_stat_statements_available", t, 1),
                Sample("wedsync_db_slow_statements", t, row[0] if row else 0)]

    async def _archiving(self, conn: AsyncConnection, t: dict[str, str]) -> list[Sample]:
        """WAL archiving: enabled, counters, failing, last success, segments waiting."""
        state = await read_archiver(conn, destination=False)
        samples = [
            Sample("wedsync_db_wal_archiving_enabled", t, 1 if state.enabled else 0),
            Sample("wedsync_db_wal_archived_total", t, state.archived),
            Sample("wedsync_db_wal_archive_failures_total", t, state.failed),
            Sample("wedsync_db_wal_archive_failing", t, 1 if state.failing else 0),
        ]
        if state.last_archived is not None:
            samples.append(Sample("wedsync_db_wal_last_archived_timestamp_seconds", t,
                                  state.last_archived.timestamp()))
        if state.pending is not None and state.oldest_pending_age is not None:
            samples += [Sample("wedsync_db_wal_archive_pending_segments", t, state.pending),
                        Sample("wedsync_db_wal_archive_oldest_pending_seconds", t,
                               state.oldest_pending_age)]
        return samples

    def abort(self, task: asyncio.Task[Any]) -> bool:
        """Break the connection of a timed-out run (see PgPool.abort)."""
        return self.pool.abort(task)

    async def close(self) -> None:
        # The pool is shared with queries and validation; the service closes it.
        return None
