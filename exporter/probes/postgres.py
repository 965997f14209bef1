"""PostgreSQL probe: round trip, connections, transaction and buffer counters, longest
transaction, replication lag, size, slow statements, tables without RLS and WAL archiving.

Works with least privilege: a login role with ``pg_monitor`` (for other sessions' states,
pg_stat_statements and replication views) — no superuser, no table access.

A run is two statements: ``SELECT 1`` (the round trip) and one statement that reads
everything else (``PROBE_SQL``). Two parts exist only on some servers — pg_stat_statements (an
extension, in some schema, that must be preloaded) and the list of WAL segments waiting for the
archiver (``pg_ls_archive_statusdir``, for ``pg_monitor``) — so the statement also says whether
they are there now (the extension's schema, the right to list), and it is composed again and
rerun when that differs from what it was composed with, or when a part it included is refused.
Eleven statements a run, as before, cost PostgreSQL about 5 ms of CPU and the exporter a wake-up
each (issue 25: idle cost).

The statement reads the statistics functions behind the ``pg_stat_*`` views rather than the
views (the same rows, the same privileges): PostgreSQL then has no view definitions to expand
and no joins with ``pg_database`` and ``pg_authid`` to plan, which was most of its cost, since
the statement is parsed and planned on every run (no prepared statements, for transaction
poolers). ``pg_database_size`` stats every file of the database, so it is read at most once a
``SIZE_EVERY`` (its last reading is exported in between). Together: about 3.6 ms of PostgreSQL
CPU a run before, 1.2 ms after.
"""

from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, errors, sql

from exporter.config.model import DatabaseTarget
from exporter.db.archiving import Archiver
from exporter.db.errors import classify
from exporter.db.pool import PgPool
from exporter.metrics.store import Sample
from exporter.probes.base import ProbeError, ProbeOutcome

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
# The role may not list the archiver's waiting segments, or the server has no such function.
_PENDING_UNAVAILABLE = (errors.InsufficientPrivilege, errors.UndefinedFunction)
# pg_database_size walks the database's files: read at most this often (seconds).
SIZE_EVERY = 60.0
STATES = ("active", "idle", "idle_in_transaction", "idle_in_transaction_aborted",
          "fastpath_function_call", "disabled")


def state_label(state: str) -> str:
    """``idle in transaction (aborted)`` -> ``idle_in_transaction_aborted``."""
    label = state.replace("(", "").replace(")", "").replace(" ", "_")
    return label if label in STATES else "unknown"

ACTIVITY = """
SELECT coalesce(state, 'unknown') AS state, count(*) AS n,
       coalesce(max(extract(epoch FROM clock_timestamp() - xact_start))
                FILTER (WHERE pid <> pg_backend_pid()), 0) AS longest_xact
  FROM pg_stat_get_activity(NULL::integer)
 WHERE backend_type = 'client backend'
 GROUP BY 1
"""
RLS = """
SELECT n.nspname AS schema, count(*) FILTER (WHERE NOT c.relrowsecurity) AS without_rls
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(%(schemas)s)
 GROUP BY 1
"""
SLOW_STATEMENTS = """
(SELECT count(*) FROM {schema}.pg_stat_statements
  WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND mean_exec_time > %(threshold_ms)s)
"""
PENDING = """
(SELECT json_build_array(count(*), min(modification))
   FROM pg_ls_archive_statusdir() WHERE name LIKE '%%.ready')
"""
PROBE_SQL = """
SELECT current_setting('max_connections')::int AS max_connections,
       {size} AS size_bytes,
       pg_is_in_recovery() AS in_recovery,
       pg_stat_get_db_xact_commit(d.oid) AS xact_commit,
       pg_stat_get_db_xact_rollback(d.oid) AS xact_rollback,
       pg_stat_get_db_deadlocks(d.oid) AS deadlocks,
       pg_stat_get_db_blocks_hit(d.oid) AS blks_hit,
       pg_stat_get_db_blocks_fetched(d.oid) - pg_stat_get_db_blocks_hit(d.oid) AS blks_read,
       (SELECT coalesce(json_agg(json_build_array(a.state, a.n, a.longest_xact)), '[]')
          FROM ({activity}) a) AS activity,
       CASE WHEN pg_is_in_recovery() THEN
            CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                 ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0)
            END END AS replica_lag,
       r.replicas, r.primary_lag,
       (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
         WHERE e.extname = 'pg_stat_statements') AS statements_schema,
       {slow} AS slow_statements,
       (SELECT coalesce(json_agg(json_build_array(t.schema, t.without_rls)), '[]')
          FROM ({rls}) t) AS rls,
       coalesce(has_function_privilege(
           to_regprocedure('pg_catalog.pg_ls_archive_statusdir()'), 'EXECUTE'),
           false) AS may_list_pending,
       current_setting('archive_mode') AS archive_mode, now() AS now,
       ar.archived_count, ar.last_archived_wal, ar.last_archived_time,
       ar.failed_count, ar.last_failed_wal, ar.last_failed_time,
       {pending} AS pending
  FROM pg_database d,
       (SELECT count(*) AS replicas, max(extract(epoch FROM replay_lag)) AS primary_lag
          FROM pg_stat_get_wal_senders()) r,
       pg_stat_get_archiver() ar
 WHERE d.datname = current_database()
"""


@dataclass(frozen=True)
class Composition:
    """What a composed probe statement reads besides what every server has."""

    statements_schema: str | None  # pg_stat_statements is read from this schema (None: not)
    pending: bool  # the archiver's waiting segments are listed

    def sql(self, size: bool = True) -> str:
        """The statement's text (composed once per shape), reading the database's size or
        not."""
        return _statement(self.statements_schema, self.pending, size)


@functools.lru_cache(maxsize=32)
def _statement(statements_schema: str | None, pending: bool, size: bool) -> str:
    slow: sql.Composable = sql.SQL("NULL::bigint")
    if statements_schema is not None:
        slow = sql.SQL(SLOW_STATEMENTS).format(schema=sql.Identifier(statements_schema))
    return sql.SQL(PROBE_SQL).format(
        activity=sql.SQL(ACTIVITY), rls=sql.SQL(RLS), slow=slow,
        size=sql.SQL("pg_database_size(current_database())" if size else "NULL::bigint"),
        pending=sql.SQL(PENDING) if pending else sql.SQL("NULL::json")).as_string()


class PostgresProbe:
    """Probes one PostgreSQL target through the shared pool."""

    component = "database"

    def __init__(self, target: DatabaseTarget, pool: PgPool) -> None:
        self.target = target
        self.pool = pool
        # What the next run's statement reads, and the optional parts the server refused on
        # the current connection (its backend).
        self._composition = Composition(None, False)
        self._backend: int | None = None
        self._refused: set[tuple[str, str]] = set()
        # The last size read and when (monotonic); read again SIZE_EVERY seconds later.
        self._size: int | None = None
        self._size_read = 0.0

    async def run(self) -> ProbeOutcome:
        try:
            return await self.pool.run(self._measure)
        except Exception as exc:
            raise classify(exc) from None

    async def _fetch(self, conn: AsyncConnection, composition: Composition,
                     size: bool) -> dict[str, Any]:
        async with conn.cursor() as cur:
            await cur.execute(composition.sql(size), {
                "schemas": list(self.target.exposed_schemas),
                "threshold_ms": self.target.slow_statement_threshold * 1000})
            row = await cur.fetchone()
            names = [d.name for d in cur.description or []]
        return dict(zip(names, row or (), strict=False))

    async def _read(self, conn: AsyncConnection) -> tuple[dict[str, Any], bool]:
        """The composed statement's row and whether pg_stat_statements could be read."""
        if conn.info.backend_pid != self._backend:
            # A new connection (a restart, a new role's rights): learn everything again.
            self._backend, self._refused = conn.info.backend_pid, set()
        now = time.monotonic()
        size = self._size is None or now - self._size_read >= SIZE_EVERY
        for _ in range(4):
            composition = self._composition
            try:
                row = await self._fetch(conn, composition, size)
            except _STATEMENTS_UNAVAILABLE as exc:
                if composition.statements_schema is None:
                    raise
                if not isinstance(exc, errors.UndefinedTable):
                    # Not preloaded, not readable, an older layout: not on this connection.
                    # (A dropped extension is a change, seen in the schema column next run.)
                    self._refused.add(("statements", composition.statements_schema))
                self._composition = Composition(None, composition.pending)
                continue
            except _PENDING_UNAVAILABLE:
                if not composition.pending:
                    raise
                self._refused.add(("pending", ""))
                self._composition = Composition(composition.statements_schema, False)
                continue
            schema = row["statements_schema"]
            usable = schema if ("statements", schema) not in self._refused else None
            pending = bool(row["may_list_pending"]) and ("pending", "") not in self._refused
            wanted = Composition(usable, pending)
            if wanted == composition:
                if size:
                    self._size, self._size_read = row["size_bytes"], now
                else:
                    row["size_bytes"] = self._size
                return row, usable is not None
            self._composition = wanted  # the server changed since: compose again
        raise ProbeError("protocol", "the probe statement kept changing shape")

    async def _measure(self, conn: AsyncConnection) -> ProbeOutcome:
        t = {"target": self.target.name}
        started = time.perf_counter()
        await conn.execute("SELECT 1")
        roundtrip = time.perf_counter() - started

        row, statements = await self._read(conn)
        samples = [
            Sample("wedsync_db_max_connections", t, row["max_connections"]),
            Sample("wedsync_db_size_bytes", t, row["size_bytes"]),
            Sample("wedsync_db_in_recovery", t, 1 if row["in_recovery"] else 0),
        ]
        samples += [Sample(name, t, row[column]) for column, name in COUNTERS.items()]

        connections = dict.fromkeys(STATES, 0.0)
        longest = 0.0
        for state, count, longest_xact in row["activity"]:
            label = state_label(state)
            connections[label] = connections.get(label, 0.0) + count
            longest = max(longest, float(longest_xact or 0))
        samples += [Sample("wedsync_db_connections", {**t, "state": s}, n)
                    for s, n in connections.items()]
        samples.append(Sample("wedsync_db_longest_transaction_seconds", t, longest))

        if row["in_recovery"]:
            samples.append(Sample("wedsync_db_replication_lag_seconds", t,
                                  float(row["replica_lag"] or 0)))
        else:
            samples.append(Sample("wedsync_db_replicas", t, row["replicas"]))
            if row["replicas"]:
                samples.append(Sample("wedsync_db_replication_lag_seconds", t,
                                      float(row["primary_lag"] or 0)))

        samples.append(Sample("wedsync_db_stat_statements_available", t, 1 if statements else 0))
        if statements:
            samples.append(Sample("wedsync_db_slow_statements", t, row["slow_statements"] or 0))
        rls = {s: 0 for s in self.target.exposed_schemas}
        for schema, without in row["rls"]:
            rls[schema] = without
        samples += [Sample("wedsync_db_tables_without_rls", {**t, "schema": s}, n)
                    for s, n in rls.items()]
        samples += self._archiving(row, t)
        return ProbeOutcome(
            latency=roundtrip, samples=samples,
            observations=[Sample("wedsync_db_roundtrip_seconds", t, roundtrip)],
            details={"active_connections": int(connections["active"])},
        )

    @staticmethod
    def _archiving(row: dict[str, Any], t: dict[str, str]) -> list[Sample]:
        """WAL archiving: enabled, counters, failing, last success, segments waiting."""
        pending = oldest_age = None
        if row["pending"] is not None:
            count, oldest = row["pending"]
            pending = int(count)
            oldest_age = 0.0 if oldest is None else max(
                0.0, (row["now"] - datetime.fromisoformat(oldest)).total_seconds())
        state = Archiver(
            mode=str(row["archive_mode"] or "off"), destination_set=None,
            replica=bool(row["in_recovery"]), archived=int(row["archived_count"] or 0),
            last_archived_wal=row["last_archived_wal"], last_archived=row["last_archived_time"],
            failed=int(row["failed_count"] or 0), last_failed_wal=row["last_failed_wal"],
            last_failed=row["last_failed_time"], pending=pending, oldest_pending_age=oldest_age)
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
