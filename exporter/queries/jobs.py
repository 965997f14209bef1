"""Background jobs for the configured queries (the wedding pack and an SRE's own).

Each query runs on its own interval, never on a scrape, in a read-only transaction with its
own statement_timeout, wrapped so that the server stops after ``max_rows`` + 1 rows. Queries
share their database target's pool but may hold at most ``pool_size - 1`` of its connections
at once, so the database probe always has one; a query waits for its turn at most its own
timeout. A failing or slow query fails alone: its success gauge goes to 0 and its samples go,
the others keep theirs; the scheduler logs the first failure and the recovery once each.

A query whose statement reads a table or column the database does not have (an older or
partial platform schema), or whose result does not fit its mapping, turns itself off until
the next reload: logged once, and shown by ``wedsync_custom_query_disabled``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import structlog
from psycopg import AsyncConnection

from exporter.catalogue import BY_NAME, QUERY_DISABLED_REASONS
from exporter.clock import Clock
from exporter.config.model import QueryConfig
from exporter.config.query_naming import query_families
from exporter.config.query_statement import limited, without_trailing
from exporter.db.errors import classify
from exporter.db.pool import PgPool
from exporter.metrics.store import Sample
from exporter.probe_types import ProbeError
from exporter.queries.parameters import query_parameters
from exporter.queries.readonly import readonly_transaction
from exporter.queries.results import MappingError, ResultMapper
from exporter.recording import query_job
from exporter.runtime import Runtime
from exporter.scheduler import Job

log = structlog.get_logger("exporter.queries")

# SQLSTATEs that say the database lacks what the statement reads: the query turns off.
_MISSING = {"42P01": "missing_table", "3F000": "missing_table", "42703": "missing_column"}
_READ_ONLY_VIOLATION = "25006"
# The family whose `today` series tells wedding-day mode how many weddings are on today.
_WEDDINGS_TODAY = ("wedsync_weddings", (("window", "today"),))


@dataclass(frozen=True)
class QueryResult:
    """What one successful run found."""

    samples: list[Sample]
    folded: dict[str, int]
    today: date


@dataclass(frozen=True)
class TurnedOff:
    """The query has turned itself off until the next reload, and why."""

    reason: str
    message: str


Rows = list[tuple[Any, ...]]


class QueryRunner:
    """Runs one configured query on its database target."""

    def __init__(self, query: QueryConfig, pool: PgPool, turns: asyncio.Semaphore,
                 clock: Clock, timezone: ZoneInfo) -> None:
        self.query = query
        self.pool = pool
        self.turns = turns
        self.clock = clock
        self.timezone = timezone
        # The pack's statements end in neither `;` nor a comment (the tests check it), so only
        # an SRE's own statement needs PostgreSQL's parser to find where it ends.
        self.body = query.sql.rstrip() if query.builtin else without_trailing(query.sql)
        # One row more than allowed tells a result that is too long from one that just fits.
        self.statement = limited(self.body, query.max_rows + 1)
        self.mapper = ResultMapper(query)
        self.turned_off: TurnedOff | None = None

    async def _fetch(self, conn: AsyncConnection, statement: str,
                     params: dict[str, Any]) -> tuple[list[str], list[int], Rows]:
        async with (readonly_transaction(conn, self.query.timeout, self.timezone.key),
                    conn.cursor() as cursor):
            await cursor.execute(statement, params)
            description = cursor.description or []
            rows = await cursor.fetchall()
        return [d.name for d in description], [d.type_code for d in description], rows

    async def _fetch_in_turn(self, statement: str, params: dict[str, Any]) -> tuple[
            list[str], list[int], Rows]:
        """Columns, type OIDs and rows; _Missing if the database lacks what it reads."""
        try:
            async with asyncio.timeout(self.query.timeout):
                await self.turns.acquire()
        except TimeoutError:
            raise ProbeError("timeout", f"no free database connection within "
                                        f"{self.query.timeout:g}s") from None
        try:
            return await self.pool.run(lambda conn: self._fetch(conn, statement, params))
        except psycopg.Error as exc:
            if exc.sqlstate == _READ_ONLY_VIOLATION:
                raise ProbeError("error", "refused: the statement tried to write in its "
                                          f"read-only transaction ({exc.sqlstate})") from None
            reason = _MISSING.get(exc.sqlstate or "")
            if reason is None:
                raise classify(exc) from None
            raise _Missing(TurnedOff(reason, exc.diag.message_primary or reason)) from None
        except (ProbeError, asyncio.CancelledError):
            raise
        except Exception as exc:
            raise classify(exc) from None
        finally:
            self.turns.release()

    async def run(self) -> QueryResult | TurnedOff:
        """Run the query once; a TurnedOff once the query has turned itself off."""
        if self.turned_off is not None:
            return self.turned_off
        params = query_parameters(self.clock(), self.timezone)
        try:
            columns, type_oids, rows = await self._fetch_in_turn(self.statement, params)
            if len(rows) > self.query.max_rows:
                raise ProbeError("error", f"the result has more than {self.query.max_rows} "
                                          f"rows (max_rows)")
            self.mapper.check(columns, type_oids)
            samples, folded = self.mapper.samples(columns, rows)
        except _Missing as missing:
            self.turned_off = missing.turned_off
            return self.turned_off
        except MappingError as exc:
            self.turned_off = TurnedOff("mapping", str(exc))
            return self.turned_off
        return QueryResult(samples, folded, params["today"])

    async def describe(self) -> TurnedOff | None:
        """Check the statement's result columns against the mapping without fetching a row
        (LIMIT 0): why the query would turn off, or None if it fits."""
        params = query_parameters(self.clock(), self.timezone)
        try:
            columns, type_oids, _ = await self._fetch_in_turn(limited(self.body, 0),
                                                              params)
            self.mapper.check(columns, type_oids)
        except _Missing as missing:
            return missing.turned_off
        except MappingError as exc:
            return TurnedOff("mapping", str(exc))
        return None


class _Missing(Exception):
    """The database lacks a table or column the statement reads."""

    def __init__(self, turned_off: TurnedOff) -> None:
        super().__init__(turned_off.message)
        self.turned_off = turned_off


def _wedding_day_feed(runtime: Runtime) -> Callable[[QueryResult], None]:
    """Records today's weddings (when a run counted them) for wedding-day mode."""

    def feed(result: QueryResult) -> None:
        for sample in result.samples:
            if (sample.name, tuple(sorted(sample.labels.items()))) == _WEDDINGS_TODAY:
                assert runtime.wedding_day is not None
                runtime.wedding_day.record(result.today, int(sample.value))

    return feed


def query_runner_job(runner: QueryRunner, runtime: Runtime) -> Job:
    """The scheduler job of one query, recording its results, failures and turning off."""
    query, store = runner.query, runtime.store
    q = {"query": query.name}
    for label in query.labels:
        store.zero("wedsync_custom_query_folded_total", {**q, "label": label.name})
    for reason in QUERY_DISABLED_REASONS:
        store.set("wedsync_custom_query_disabled", {**q, "reason": reason}, 0)
    fills_weddings = any(m.name == _WEDDINGS_TODAY[0] for m in query.metrics)
    feed = _wedding_day_feed(runtime) if fills_weddings else None
    wedding_day = runtime.wedding_day
    assert wedding_day is not None

    def after(ok: bool) -> None:
        wedding_day.query_ran(query.name, ok)
        runtime.update_wedding_day()

    # The hard timeout covers the wait for a turn and the statement, each bounded by timeout.
    base = query_job(query.name, query.interval, 2 * query.timeout + 1.0, runner.run, store,
                     after=after if fills_weddings else None, abort=runner.pool.abort)
    reported: list[TurnedOff] = []

    def turn_off(off: TurnedOff) -> None:
        if reported:
            return
        reported.append(off)
        store.clear_owned(("query", query.name))
        store.remove("wedsync_custom_query_success", q)
        store.remove("wedsync_custom_query_duration_seconds", q)
        store.set("wedsync_custom_query_disabled", {**q, "reason": off.reason}, 1)
        if fills_weddings:
            wedding_day.query_turned_off(query.name, off.reason)
        log.warning("query turned off until the next reload", query=query.name,
                    reason=off.reason, error=off.message)

    def on_success(result: QueryResult | TurnedOff, duration: float) -> None:
        if isinstance(result, TurnedOff):
            turn_off(result)
            return
        for label, count in result.folded.items():
            if count:
                store.inc("wedsync_custom_query_folded_total", {**q, "label": label}, count)
        if feed is not None:
            feed(result)
        base.on_success(result.samples, duration)

    return dataclasses.replace(base, on_success=on_success)


def query_jobs(runtime: Runtime) -> list[Job]:
    """A job per enabled query whose database target is on; registers the queries' families."""
    enabled = [q for q in runtime.config.queries if q.enabled]
    runtime.store.configure_families(
        family for query in enabled for family in query_families(query.metrics, query.labels)
        if family.name not in BY_NAME)
    targets = {t.name: t for t in runtime.config.database}
    turns = {name: asyncio.Semaphore(max(1, t.pool_size - 1)) for name, t in targets.items()}
    jobs = []
    for query in enabled:
        pool = runtime.pools.get(query.database)
        if pool is None:
            log.info("query not run: its database target is off", query=query.name,
                     database=query.database or None)
            continue
        runner = QueryRunner(query, pool, turns[query.database], runtime.clock,
                             runtime.timezone)
        jobs.append(query_runner_job(runner, runtime))
    return jobs
