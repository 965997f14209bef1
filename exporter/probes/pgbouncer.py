"""Connection-pooler probe: PgBouncer's admin console (``SHOW POOLS``, ``STATS``, ``DATABASES``,
``CONFIG``) read through one reused connection.

The console is the virtual database ``pgbouncer``; a role listed in PgBouncer's ``stats_users``
may read it and change nothing. It speaks only the simple query protocol, so every statement
goes through a client-side cursor with prepared statements off.

``SHOW POOLS`` has a row per database and user: counts are summed per database and the largest
wait is kept. Only the configured databases keep their own ``database`` label (or, when none
are configured, the first ``max_databases`` by name); the rest fold into ``other``, so a pooler
that serves hundreds of tenant databases cannot blow up the series count.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import psycopg
from psycopg import AsyncClientCursor, AsyncConnection

from exporter.config.model import PoolerTarget
from exporter.db.errors import classify as classify_db
from exporter.metrics.store import Sample
from exporter.probes.base import ProbeError, ProbeOutcome

ADMIN_DATABASE = "pgbouncer"
OTHER = "other"
Row = Mapping[str, Any]

# SHOW POOLS columns summed into each state; the *_cancel* columns (PgBouncer 1.18+) are
# connections busy with a cancel request, still taken from the same pool.
CLIENT_STATES: dict[str, tuple[str, ...]] = {
    "active": ("cl_active", "cl_active_cancel_req"),
    "waiting": ("cl_waiting", "cl_waiting_cancel_req"),
}
SERVER_STATES: dict[str, tuple[str, ...]] = {
    "active": ("sv_active", "sv_active_cancel", "sv_being_canceled"),
    "idle": ("sv_idle",),
    "used": ("sv_used",),
    "tested": ("sv_tested",),
    "login": ("sv_login",),
}
# SHOW STATS column -> (family, factor to base units); PgBouncer counts time in microseconds.
STATS_COUNTERS: dict[str, tuple[str, float]] = {
    "total_xact_count": ("wedsync_pooler_transactions_total", 1.0),
    "total_query_count": ("wedsync_pooler_queries_total", 1.0),
    "total_wait_time": ("wedsync_pooler_client_wait_seconds_total", 1e-6),
}

_MESSAGES = {
    "timeout": "PgBouncer did not answer in time",
    "connect": "cannot reach PgBouncer",
}


def classify(exc: BaseException) -> ProbeError:
    """A ProbeError for a failure talking to the admin console, worded for PgBouncer."""
    if isinstance(exc, ProbeError):
        return exc
    text = str(exc)
    if isinstance(exc, psycopg.OperationalError) and "not allowed" in text:
        # The login worked but the role is in neither stats_users nor admin_users.
        return ProbeError("auth", "the role may not read the admin console (stats_users)", text)
    if getattr(exc, "sqlstate", None) == "42704":
        # PostgreSQL itself answered "unrecognized configuration parameter": not the console.
        return ProbeError("protocol", "not a PgBouncer admin console (use database pgbouncer)",
                          text)
    error = classify_db(exc)
    if error.reason == "connect" and "refused" in error.message:
        return error
    message = _MESSAGES.get(error.reason, error.message)
    return ProbeError(error.reason, message, error.detail)


def _number(row: Row, column: str) -> float:
    value = row.get(column)
    return float(value) if value is not None else 0.0


class DatabaseLabels:
    """Which ``database`` label a pooled database is exported under."""

    def __init__(self, target: PoolerTarget, names: Iterable[str]) -> None:
        seen = sorted(set(names) - {ADMIN_DATABASE})
        kept = set(target.databases) if target.databases else set(seen[: target.max_databases])
        self.kept = kept
        self.labels = {name: (name if name in kept else OTHER) for name in seen}
        self.folded = sum(1 for label in self.labels.values() if label == OTHER)
        # Configured databases are always exported, even before PgBouncer has a pool for them.
        self.exported = sorted(set(self.labels.values()) | set(target.databases))

    def __getitem__(self, name: str) -> str | None:
        return self.labels.get(name)


def pooler_samples(target: PoolerTarget, pools: list[Row], stats: list[Row],
                   databases: list[Row], config: list[Row]) -> list[Sample]:
    """The pooler families from the four SHOW answers (rows as column->value mappings)."""
    t = target.name
    labels = DatabaseLabels(target, [r["name"] for r in databases]
                            + [r["database"] for r in pools] + [r["database"] for r in stats])
    clients: dict[tuple[str, str], float] = defaultdict(float)
    servers: dict[tuple[str, str], float] = defaultdict(float)
    max_wait: dict[str, float] = defaultdict(float)
    user_pools: dict[str, int] = defaultdict(int)
    for row in pools:
        label = labels[row["database"]]
        if label is None:
            continue
        user_pools[row["database"]] += 1
        for state, columns in CLIENT_STATES.items():
            clients[label, state] += sum(_number(row, c) for c in columns)
        for state, columns in SERVER_STATES.items():
            servers[label, state] += sum(_number(row, c) for c in columns)
        wait = _number(row, "maxwait") + _number(row, "maxwait_us") / 1e6
        max_wait[label] = max(max_wait[label], wait)

    capacity: dict[str, float] = defaultdict(float)
    for row in databases:
        label = labels[row["name"]]
        if label is None:
            continue
        # Each user gets its own pool of pool_size; max_db_connections (shown as
        # max_connections, 0 = none) caps the database as a whole.
        size = _number(row, "pool_size") * max(1, user_pools[row["name"]])
        cap = _number(row, "max_connections")
        capacity[label] += min(size, cap) if cap > 0 else size

    counters: dict[tuple[str, str], float] = defaultdict(float)
    for row in stats:
        label = labels[row["database"]]
        if label is None:
            continue
        for column, (name, factor) in STATS_COUNTERS.items():
            if column in row:
                counters[name, label] += _number(row, column) * factor

    samples: list[Sample] = []
    for db in labels.exported:
        td = {"target": t, "database": db}
        samples += [Sample("wedsync_pooler_clients", {**td, "state": s}, clients[db, s])
                    for s in CLIENT_STATES]
        samples += [Sample("wedsync_pooler_server_connections", {**td, "state": s},
                           servers[db, s]) for s in SERVER_STATES]
        samples.append(Sample("wedsync_pooler_max_wait_seconds", td, max_wait[db]))
        if db in capacity:
            samples.append(Sample("wedsync_pooler_pool_size", td, capacity[db]))
        samples += [Sample(name, td, counters[name, db]) for name, _ in STATS_COUNTERS.values()
                    if (name, db) in counters]
    settings = {str(r["key"]): r["value"] for r in config}
    with contextlib.suppress(KeyError, TypeError, ValueError):
        samples.append(Sample("wedsync_pooler_max_client_connections", {"target": t},
                              float(settings["max_client_conn"])))
    samples.append(Sample("wedsync_pooler_databases_folded", {"target": t}, labels.folded))
    return samples


class PgBouncerProbe:
    """Probes one PgBouncer through its admin console over a single reused connection."""

    component = "pooler"

    def __init__(self, target: PoolerTarget) -> None:
        self.target = target
        self._conn: AsyncConnection | None = None
        self._running: asyncio.Task[Any] | None = None

    async def _connect(self) -> AsyncConnection:
        return await AsyncConnection.connect(
            self.target.url, autocommit=True, prepare_threshold=None,
            cursor_factory=AsyncClientCursor, application_name="wedsync-exporter",
            connect_timeout=max(1, math.ceil(self.target.timeout)))

    async def run(self) -> ProbeOutcome:
        self._running = asyncio.current_task()
        try:
            if self._conn is None or self._conn.closed:
                self._conn = await self._connect()
            return await self._measure(self._conn)
        except BaseException as exc:
            # Never reuse a connection that saw an error or a cancellation.
            await self._drop()
            if isinstance(exc, Exception):
                raise classify(exc) from None
            raise
        finally:
            self._running = None

    async def _show(self, conn: AsyncConnection, what: str) -> list[Row]:
        async with conn.cursor() as cur:
            await cur.execute(f"SHOW {what}")  # type: ignore[arg-type]
            names = [d.name for d in cur.description or []]
            return [dict(zip(names, row, strict=False)) for row in await cur.fetchall()]

    async def _measure(self, conn: AsyncConnection) -> ProbeOutcome:
        started = time.perf_counter()
        pools = await self._show(conn, "POOLS")
        latency = time.perf_counter() - started
        stats = await self._show(conn, "STATS")
        databases = await self._show(conn, "DATABASES")
        config = await self._show(conn, "CONFIG")
        samples = pooler_samples(self.target, pools, stats, databases, config)
        waiting = sum(s.value for s in samples if s.name == "wedsync_pooler_clients"
                      and s.labels["state"] == "waiting")
        return ProbeOutcome(latency=latency, samples=samples,
                            details={"clients_waiting": int(waiting),
                                     "databases": len(databases) - 1})

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    def abort(self, task: asyncio.Task[Any]) -> bool:
        """Break the console connection of a run that overran, so it fails at once (a hung
        PgBouncer would otherwise hold psycopg's cancellation for seconds)."""
        conn = self._conn
        if task is not self._running or conn is None or conn.closed:
            return False
        try:
            with socket.fromfd(conn.fileno(), socket.AF_INET, socket.SOCK_STREAM) as dup:
                dup.shutdown(socket.SHUT_RDWR)
        except OSError:
            return False
        return True

    async def close(self) -> None:
        await self._drop()
