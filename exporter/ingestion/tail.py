"""Second source: tail the platform's ``performance_logs`` table (off by default).

Counts exactly the rows committed after the tailer started, each once:

* Start at "now": the first pass reads the ids of the recent rows already there and counts
  none of them; a restart therefore never counts a row that an earlier process may have
  counted (Prometheus sees a counter reset, as for any restart).
* Rows committed out of order: ``created_at`` defaults to ``now()``, the start of the
  inserting transaction, so a transaction that commits late adds rows *behind* ones already
  read. Each pass first asks PostgreSQL for the start of the oldest transaction still open
  (``pg_stat_activity.xact_start``) and only then, in a later snapshot, reads the rows. Any
  row that is not visible yet belongs to a transaction open at the first question, so its
  ``created_at`` is at or after that start: the *horizon*. Rows before the horizon are final;
  rows at or after it are re-read on the next pass, and the ids already counted there are
  skipped. The horizon also keeps a ``settle`` margin for ``created_at`` values written by an
  application's clock, and never trails ``now`` by more than ``max_lag`` (a transaction open
  longer than that may have its rows missed; that is logged).
* Batches page through ``(created_at, id)`` in order, so even a bulk insert of many rows
  with one ``created_at`` is read in full.

Needs ``SELECT`` on the table and ``pg_read_all_stats`` (in ``pg_monitor``) to see other
roles' open transactions; without it the horizon falls back to ``max_lag``.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from psycopg import AsyncConnection

from exporter.db.errors import classify
from exporter.db.pool import PgPool
from exporter.ingestion.recorder import Ingestion
from exporter.ingestion.settings import TailSettings
from exporter.runtime import Runtime
from exporter.scheduler import Job
from exporter.shared_state.lease import Lease, shared_lease
from exporter.shared_state.state import SharedState
from exporter.yielding import step_aside

log = structlog.get_logger("exporter.ingestion.tail")

LAST_ROW = "wedsync_ingest_tail_last_row_timestamp_seconds"
SUCCESS = "wedsync_ingest_tail_last_run_success"
LEASE_HELD = "wedsync_ingest_tail_lease_held"
NIL = uuid.UUID(int=0)

HORIZON_SQL = """
SELECT statement_timestamp() AS now,
       min(xact_start) FILTER (WHERE backend_type = 'client backend'
                                 AND pid <> pg_backend_pid()) AS oldest_open,
       count(*) FILTER (WHERE backend_type = 'client backend' AND state IS NULL
                          AND pid <> pg_backend_pid()) AS hidden
  FROM pg_stat_activity
"""

ROWS_SQL = """
SELECT id, endpoint, method, response_time_ms, status_code, created_at
  FROM public.performance_logs
 WHERE created_at >= %(after_at)s AND (created_at, id) > (%(after_at)s, %(after_id)s)
 ORDER BY created_at, id
 LIMIT %(limit)s
"""


@dataclass
class TailPosition:
    """Where the tailer is: rows before ``cursor`` are done; ``seen`` holds the ids at or
    after it that were counted (or were there at the start)."""

    cursor: datetime | None = None
    seen: dict[uuid.UUID, datetime] = field(default_factory=dict)
    warned: set[str] = field(default_factory=set)


@dataclass
class PassResult:
    counted: int = 0
    newest: datetime | None = None


class Tailer:
    """Reads new performance_logs rows into ingestion on every pass."""

    def __init__(self, pool: PgPool, ingestion: Ingestion, settings: TailSettings,
                 position: TailPosition, budget: float) -> None:
        self.pool = pool
        self.ingestion = ingestion
        self.settings = settings
        self.position = position
        self.budget = budget

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self.position.warned:
            self.position.warned.add(key)
            log.warning(message)

    async def _horizon(self, conn: AsyncConnection) -> datetime:
        async with conn.cursor() as cur:
            await cur.execute(HORIZON_SQL)
            now, oldest_open, hidden = await cur.fetchone()  # type: ignore[misc]
        earliest = now - timedelta(seconds=self.settings.max_lag)
        if hidden:
            self._warn_once("hidden", "performance_logs tail cannot see other roles' "
                            "transactions (grant pg_read_all_stats); re-reading max_lag")
            return earliest
        horizon = min(now, oldest_open or now) - timedelta(seconds=self.settings.settle)
        if horizon < earliest:
            self._warn_once("lag", "a transaction has been open longer than "
                            "performance_logs max_lag; rows it writes may not be counted")
            return earliest
        return horizon

    async def _page(self, conn: AsyncConnection, after: tuple[datetime, uuid.UUID]) -> list[
            tuple[Any, ...]]:
        async with conn.cursor() as cur:
            await cur.execute(ROWS_SQL, {"after_at": after[0], "after_id": after[1],
                                         "limit": self.settings.batch_size})
            return await cur.fetchall()

    async def run_pass(self) -> PassResult:
        """One pass: read what is new, count it, move the cursor."""
        try:
            return await self.pool.run(self._pass)
        except Exception as exc:
            raise classify(exc) from None

    async def _pass(self, conn: AsyncConnection) -> PassResult:
        position = self.position
        starting = position.cursor is None
        horizon = await self._horizon(conn)
        after = (horizon if starting else position.cursor, NIL)
        deadline = time.monotonic() + self.budget
        result = PassResult()
        drained = False
        while True:
            rows = await self._page(conn, after)
            if rows:
                after = (rows[-1][5], rows[-1][0])
                result.newest = rows[-1][5]
                result.counted += await self._take(rows, count=not starting)
            if len(rows) < self.settings.batch_size:
                drained = True
                break
            if time.monotonic() > deadline:
                break
        # Rows before the horizon can no longer appear; if the pass stopped early, only the
        # rows before the last one read are known to be done.
        done_until = horizon if drained else min(horizon, after[0])
        if position.cursor is None or done_until > position.cursor:
            position.cursor = done_until
        cursor = position.cursor
        position.seen = {i: at for i, at in position.seen.items() if at >= cursor}
        return result

    async def _take(self, rows: list[tuple[Any, ...]], count: bool) -> int:
        seen = self.position.seen
        fresh = [row for row in rows if row[0] not in seen]
        for row in fresh:
            seen[row[0]] = row[5]
        if not count or not fresh:
            return 0
        for start in range(0, len(fresh), 500):
            if start:
                await step_aside()
            chunk = fresh[start:start + 500]
            events = [{"endpoint": r[1], "method": r[2], "response_time_ms": r[3],
                       "status_code": r[4]} for r in chunk]
            self.ingestion.record(events, times=[r[5].timestamp() for r in chunk])
        return len(fresh)


def encode_position(position: TailPosition, by: str = "") -> dict[str, Any]:
    """The position as JSON, for the next holder of the lease (``by``: who saved it)."""
    return {"cursor": position.cursor.isoformat() if position.cursor else None,
            "seen": {str(i): at.isoformat() for i, at in position.seen.items()}, "by": by}


def decode_position(document: Any, into: TailPosition) -> bool:
    """Replace ``into``'s cursor and ids with the saved ones; False if ``document`` is none."""
    try:
        cursor = datetime.fromisoformat(document["cursor"])
        seen = {uuid.UUID(i): datetime.fromisoformat(at) for i, at in document["seen"].items()}
    except (TypeError, KeyError, ValueError, AttributeError):
        return False
    into.cursor, into.seen = cursor, seen
    return True


class LeasedTailer:
    """Several replicas, one tailer: a pass runs only on the holder of the lease, which starts
    from the position its predecessor saved and saves its own after every pass."""

    def __init__(self, tailer: Tailer, lease: Lease, runtime: Runtime) -> None:
        self.tailer = tailer
        self.lease = lease
        self.store = runtime.store

    async def run_pass(self) -> PassResult:
        outcome = await self.lease.hold()
        held = 1 if outcome else 0
        if self.store.get(LEASE_HELD) != held:
            self.store.set(LEASE_HELD, (), held)
        if outcome is None:
            return PassResult()
        if outcome == "taken":
            position = self.tailer.position
            saved = await self.lease.load()
            ours = isinstance(saved, dict) and saved.get("by") == self.lease.token
            if ours and position.cursor is not None:
                # This replica saved last and kept tailing on its own while Redis was away:
                # what it knows is newer than what it could save.
                pass
            elif not decode_position(saved, position):
                # Nobody tailed before: start at "now", like a single replica.
                position.cursor, position.seen = None, {}
            log.info("performance_logs tailer lease taken", resumed=position.cursor is not None)
        result = await self.tailer.run_pass()
        await self.lease.save(encode_position(self.tailer.position, self.lease.token))
        return result


def tail_jobs(runtime: Runtime, ingestion: Ingestion,
              shared: SharedState | None = None) -> list[Job]:
    """The tailer's job, when ingestion.performance_logs is enabled; rows go to the service's
    ``ingestion``, which the HTTP route shares. With ``shared`` state, only the replica that
    holds the tailer's lease tails."""
    settings = ingestion.configure(runtime.config).tail
    if not settings.enabled:
        return []
    name = settings.database or (runtime.config.database[0].name
                                 if runtime.config.database else None)
    if name is None or name not in runtime.pools:
        log.error("performance_logs tail is enabled but there is no database target to read",
                  database=name)
        return []
    dsn = next(t.dsn for t in runtime.config.database if t.name == name)
    key = f"{name}\0{dsn}"
    position = ingestion.tail_positions.get(key)
    if position is None:
        # A new database (or a changed one) starts at "now"; others are forgotten.
        ingestion.tail_positions.clear()
        position = ingestion.tail_positions[key] = TailPosition()
    timeout = max(5.0, settings.interval)
    tailer = Tailer(runtime.pools[name], ingestion, settings, position, budget=timeout / 2)
    run = tailer.run_pass
    interval = settings.interval
    if shared is not None:
        duration = runtime.config.shared_state.lease
        run = LeasedTailer(tailer, shared_lease(shared, f"performance_logs:{name}", duration),
                           runtime).run_pass
        runtime.store.set(LEASE_HELD, (), 0)
        # Ask often enough that the lease is renewed well before it expires.
        interval = min(interval, duration / 3)

    def on_success(result: PassResult, _duration: float) -> None:
        if result.newest is not None:
            runtime.store.set(LAST_ROW, (), result.newest.timestamp())
        runtime.store.set(SUCCESS, (), 1)

    def on_failure(_error: object, _duration: float) -> None:
        runtime.store.set(SUCCESS, (), 0)

    return [Job(name=f"performance_logs tail {name}", interval=interval,
                timeout=timeout, run=run, on_success=on_success,
                on_failure=on_failure, labels={"database": name})]
