"""Realtime's ``postgres_changes`` on the real PostgreSQL, done the way supabase/realtime does it.

A join whose ``config.postgres_changes`` lists bindings (``{event, schema, table, filter}``)
gets them back in its ``phx_reply`` with server ids; once the subscription is live the channel
hears a ``system`` message "Subscribed to PostgreSQL" (or, for a table outside the
``supabase_realtime`` publication, Realtime's "Unable to subscribe to changes with given
parameters…" error). Changes come from a logical replication slot read with wal2json (format 2,
as Realtime's ``realtime.list_changes``), only for the publication's tables, polled again at
once after a poll that found changes and after ``realtime_poll_interval`` (the tenant's
``poll_interval_ms``, Realtime's default 100 ms) after an empty one, from the first subscription
on. Each change is checked for each subscriber the way ``realtime.apply_rls`` does: in a
transaction that takes the subscriber's role and sets ``request.jwt.claims`` (and
``request.jwt.claim.sub``) from its JWT, the changed row is selected by primary key, so the
table's real RLS policies decide; only a visible row is delivered (DELETEs are not checked, as
in Realtime). Events are ``postgres_changes`` with ``ids`` (the matching server ids) and
``data``: ``schema, table, commit_timestamp`` (ISO 8601, milliseconds, Z), ``type, record,
old_record, columns, errors``.

Filters: ``column=op.value`` with ``eq, neq, lt, lte, gt, gte, in`` (values compared as text,
numbers as numbers). The slot is temporary (dropped with the sandbox's connection). Faults of
the realtime service: ``decode_delay_ms`` holds each decoded batch before delivery (a slow WAL
decoder), ``rls_off`` delivers every matching change without the RLS check (to prove the leak
alarm).

Needs the sandbox's ``database_url`` (a superuser, as Realtime's own) on a PostgreSQL with
``wal_level = logical`` and the wal2json plugin; without it, subscriptions are refused with a
``system`` error that says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from sandbox.context import Context
from sandbox.tokens import TokenError, verify

log = logging.getLogger("sandbox.postgres_changes")

PUBLICATION = "supabase_realtime"
EVENTS = ("INSERT", "UPDATE", "DELETE", "*")
ACTIONS = {"I": "INSERT", "U": "UPDATE", "D": "DELETE"}
OPERATORS = ("eq", "neq", "lt", "lte", "gt", "gte", "in")
SUBSCRIBED = "Subscribed to PostgreSQL"

# The publication's tables, as wal2json's add-tables wants them (no table: a name that matches
# nothing, so the slot still moves on). Read at most once a second: a poll then costs the
# database about 1 ms (a join of the two in one statement took three times as long).
TABLES_SQL = """
SELECT coalesce(string_agg(schemaname || '.' || tablename, ','), 'pg_catalog.none')
  FROM pg_publication_tables WHERE pubname = %s
"""
TABLES_MAX_AGE = 1.0
CHANGES_SQL = """
SELECT data FROM pg_logical_slot_get_changes(
  %(slot)s, NULL, NULL, 'format-version', '2', 'include-timestamp', 'true',
  'include-pk', 'true', 'include-transaction', 'false',
  'actions', 'insert,update,delete', 'add-tables', %(tables)s)
"""
IN_PUBLICATION_SQL = """
SELECT 1 FROM pg_publication_tables
 WHERE pubname = %s AND schemaname = %s AND (tablename = %s OR %s = '*')
"""


class SubscribeError(ValueError):
    """A binding Realtime would not subscribe (its message is Realtime's)."""


@dataclass(frozen=True)
class Binding:
    """One postgres_changes binding of one channel, with its server id."""

    id: int
    event: str
    schema: str
    table: str
    filter: str | None

    def listing(self) -> dict[str, Any]:
        """How the join reply lists it (the client's fields back, plus ``id``)."""
        out: dict[str, Any] = {"event": self.event, "schema": self.schema, "table": self.table}
        if self.filter is not None:
            out["filter"] = self.filter
        return {**out, "id": self.id}

    def describe(self) -> str:
        filters = f"[{self.filter}]" if self.filter else "[]"
        return (f"[event: {self.event}, schema: {self.schema}, table: {self.table}, "
                f"filters: {filters}]")


def bindings_of(payload: Any) -> list[Binding]:
    """The join payload's ``config.postgres_changes`` as bindings (SubscribeError names a bad
    one)."""
    config = payload.get("config") if isinstance(payload, dict) else None
    listed = config.get("postgres_changes") if isinstance(config, dict) else None
    if not isinstance(listed, list):
        return []
    out = []
    for raw in listed:
        if not isinstance(raw, dict):
            raise SubscribeError("postgres_changes bindings must be objects")
        event = str(raw.get("event", "*")).upper()
        schema, table = raw.get("schema") or "public", raw.get("table") or "*"
        filter_ = raw.get("filter")
        if event not in EVENTS or not isinstance(schema, str) or not isinstance(table, str) \
                or not (filter_ is None or isinstance(filter_, str)):
            raise SubscribeError(f"invalid postgres_changes binding {raw!r}")
        if filter_:
            parse_filter(filter_)
        params = json.dumps([event, schema, table, filter_])
        out.append(Binding(zlib.crc32(params.encode()), event, schema, table, filter_))
    return out


def parse_filter(text: str) -> tuple[str, str, str]:
    """``column=op.value`` as (column, op, value)."""
    column, _, rest = text.partition("=")
    op, _, value = rest.partition(".")
    if not column or op not in OPERATORS or not _:
        raise SubscribeError(f"Error parsing `filter` params: {text}")
    return column, op, value


def passes(filter_: str | None, row: dict[str, Any]) -> bool:
    """Whether ``row`` passes the binding's filter."""
    if not filter_:
        return True
    column, op, value = parse_filter(filter_)
    if column not in row:
        return False
    actual = row[column]
    if op == "in":
        wanted = [v.strip() for v in value.strip("()").split(",")]
        return actual is not None and _text(actual) in wanted
    if actual is None:
        return False
    if isinstance(actual, int | float) and not isinstance(actual, bool):
        try:
            left, right = float(actual), float(value)
        except ValueError:
            return False
        compare: tuple[Any, Any] = (left, right)
    else:
        compare = (_text(actual), value)
    left_, right_ = compare
    return {"eq": left_ == right_, "neq": left_ != right_, "lt": left_ < right_,
            "lte": left_ <= right_, "gt": left_ > right_, "gte": left_ >= right_}[op]


def _text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool) else str(value)


def commit_timestamp(text: str) -> str:
    """wal2json's ``2026-12-03 08:13:55.360454+00`` as Realtime sends it:
    ``2026-12-03T08:13:55.360Z``."""
    moment = datetime.fromisoformat(text if ":" in text[-3:] else text + ":00")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{moment.microsecond // 1000:03d}Z"


@dataclass
class Change:
    """One decoded row change."""

    schema: str
    table: str
    type: str
    record: dict[str, Any]
    old_record: dict[str, Any]
    columns: list[dict[str, str]]
    commit_timestamp: str
    # Primary-key columns and their values (wal2json's ``pk`` with include-pk).
    key: list[tuple[str, Any]]

    def data(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schema": self.schema, "table": self.table,
                               "commit_timestamp": self.commit_timestamp, "type": self.type,
                               "columns": self.columns, "errors": None}
        if self.type != "DELETE":
            out["record"] = self.record
        if self.type != "INSERT":
            out["old_record"] = self.old_record
        return out


def decode(text: str) -> Change | None:
    """A wal2json format-2 row message as a change (None for anything else)."""
    message = json.loads(text)
    action = ACTIONS.get(message.get("action", "")) if isinstance(message, dict) else None
    if action is None:
        return None
    columns = message.get("columns") or []
    identity = message.get("identity") or []
    record = {c["name"]: c.get("value") for c in columns}
    old = {c["name"]: c.get("value") for c in identity}
    pk_names = [p["name"] for p in message.get("pk") or []]
    source = record if action != "DELETE" else old
    return Change(
        schema=message["schema"], table=message["table"], type=action, record=record,
        old_record=old,
        columns=[{"name": c["name"], "type": c.get("type", "")} for c in columns or identity],
        commit_timestamp=commit_timestamp(message["timestamp"]),
        key=[(name, source.get(name)) for name in pk_names])


@dataclass(eq=False)
class Subscriber:
    """One channel's postgres_changes subscription."""

    bindings: list[Binding]
    claims: dict[str, Any]
    deliver: Callable[[list[int], dict[str, Any]], None]

    def matching(self, change: Change) -> list[int]:
        row = change.old_record if change.type == "DELETE" else change.record
        return [b.id for b in self.bindings
                if b.schema == change.schema and b.table in (change.table, "*")
                and b.event in (change.type, "*") and passes(b.filter, row)]


def claims_of(context: Context, token: str | None) -> dict[str, Any]:
    """The claims a subscription is checked with: its access token's, else the anon key's."""
    for candidate in (token, context.settings.anon_key):
        if candidate:
            with contextlib.suppress(TokenError):
                return verify(candidate, context.settings.jwt_secret)
    return {"role": "anon"}


class ChangeFeed:
    """The slot poller and the subscribers it delivers to."""

    def __init__(self, context: Context) -> None:
        self.context = context
        self.subscribers: set[Subscriber] = set()
        # One slot per feed (two sandboxes may share a database).
        self.slot = f"wedsync_sandbox_{os.getpid()}_{secrets.token_hex(4)}"
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._checker: psycopg.AsyncConnection[Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        # The publication's tables and when they were read (monotonic; 0: read them).
        self._tables = ""
        self._tables_read = 0.0

    async def _start(self) -> None:
        """Connect and create the slot, once (SubscribeError when that cannot be done)."""
        async with self._lock:
            if self._task is not None and not self._task.done():
                return
            if not self.context.settings.database_url:
                raise SubscribeError("postgres_changes needs the sandbox's database "
                                     "(SANDBOX_DATABASE_URL)")
            try:
                await self._connect()
            except psycopg.Error as exc:
                await self._close_connections()
                raise SubscribeError(f"cannot read PostgreSQL's changes: "
                                     f"{type(exc).__name__} (wal_level = logical and the "
                                     f"wal2json plugin are needed)") from None
            self._task = asyncio.create_task(self._poll())

    async def _connect(self) -> None:
        """Open both connections and a new temporary slot (changes from before are gone, as
        when Realtime loses its slot)."""
        url = self.context.settings.database_url
        self._conn = await psycopg.AsyncConnection.connect(
            url, autocommit=True, application_name="wedsync-sandbox-realtime")
        self._checker = await psycopg.AsyncConnection.connect(
            url, application_name="wedsync-sandbox-realtime-rls")
        for conn in (self._conn, self._checker):
            await self._untracked(conn)
        await self._allow_wal2json(self._conn)
        await self._conn.execute(
            "SELECT pg_create_logical_replication_slot(%s, 'wal2json', true)", (self.slot,))

    @staticmethod
    async def _untracked(conn: psycopg.AsyncConnection[Any]) -> None:
        """Keep the stand-in's own statements out of pg_stat_statements: creating the slot waits
        for every running transaction (seconds on a busy machine), and the exporter would count
        that as the platform's slow statement."""
        try:
            await conn.execute("SET pg_stat_statements.track = 'none'")
        except psycopg.Error:
            if not conn.autocommit:
                await conn.rollback()
            return
        if not conn.autocommit:
            await conn.commit()  # a SET rolled back with the checks' transactions is undone

    @staticmethod
    async def _allow_wal2json(conn: psycopg.AsyncConnection[Any]) -> None:
        # Some Debian builds only load output plugins listed in output_plugin_libraries.
        cursor = await conn.execute(
            "SELECT 1 FROM pg_settings WHERE name = 'output_plugin_libraries'")
        if await cursor.fetchone():
            await conn.execute(
                "SET output_plugin_libraries = pgoutput, test_decoding, wal2json")

    async def subscribe(self, subscriber: Subscriber) -> None:
        """Start delivering to ``subscriber`` (SubscribeError for a table outside the
        publication, or when changes cannot be read)."""
        await self._start()
        if self._conn is None:
            raise SubscribeError("cannot read PostgreSQL's changes: the database is not "
                                 "reachable")
        for binding in subscriber.bindings:
            try:
                cursor = await self._conn.execute(IN_PUBLICATION_SQL, (
                    PUBLICATION, binding.schema, binding.table, binding.table))
                found = await cursor.fetchone()
            except psycopg.Error as exc:
                raise SubscribeError(f"cannot read PostgreSQL's publication: "
                                     f"{type(exc).__name__}") from None
            if found is None:
                raise SubscribeError(
                    "Unable to subscribe to changes with given parameters. Please check "
                    "Realtime is enabled for the given connect parameters: "
                    + binding.describe())
        self.subscribers.add(subscriber)
        self._tables_read = 0.0  # a table just added to the publication is read at once

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)

    async def _poll(self) -> None:
        while True:
            try:
                if self._conn is None:
                    raise psycopg.OperationalError("not connected")
                if time.monotonic() - self._tables_read > TABLES_MAX_AGE:
                    cursor = await self._conn.execute(TABLES_SQL, (PUBLICATION,))
                    found = await cursor.fetchone()
                    self._tables = str(found[0]) if found else "pg_catalog.none"
                    self._tables_read = time.monotonic()
                cursor = await self._conn.execute(CHANGES_SQL, {"slot": self.slot,
                                                                "tables": self._tables})
                rows = await cursor.fetchall()
            except psycopg.Error as exc:
                # The database restarted or went away: reconnect with a new slot, as Realtime
                # does after a backoff.
                log.warning("reading the replication slot failed: %s", type(exc).__name__)
                await asyncio.sleep(1.0)
                await self._close_connections()
                try:
                    await self._connect()
                except psycopg.Error:
                    await self._close_connections()
                continue
            changes = [c for (text,) in rows if (c := decode(text)) is not None]
            if changes:
                delay = self.context.faults.get("realtime").decode_delay_ms / 1000
                if delay > 0:
                    await asyncio.sleep(delay)
                for change in changes:
                    await self._dispatch(change)
            else:
                # Free-running, as Realtime's poller is while its tenant has subscribers: a
                # change waits for the next poll, whenever that falls.
                await asyncio.sleep(self.context.settings.realtime_poll_interval)

    async def _dispatch(self, change: Change) -> None:
        rls_off = self.context.faults.get("realtime").rls_off
        data = change.data()
        for subscriber in list(self.subscribers):
            ids = subscriber.matching(change)
            if not ids:
                continue
            if rls_off or change.type == "DELETE" or await self._visible(subscriber, change):
                subscriber.deliver(ids, data)

    async def _visible(self, subscriber: Subscriber, change: Change) -> bool:
        """Whether the subscriber's role and claims may select the changed row (the table's
        own RLS policies decide)."""
        if self._checker is None or not change.key:
            return False
        claims = subscriber.claims
        where = sql.SQL(" AND ").join(
            sql.SQL("{}::text = %s").format(sql.Identifier(name)) for name, _ in change.key)
        query = sql.SQL("SELECT 1 FROM {}.{} WHERE {}").format(
            sql.Identifier(change.schema), sql.Identifier(change.table), where)
        try:
            async with self._checker.transaction(force_rollback=True):
                await self._checker.execute(
                    "SELECT set_config('role', %s, true), "
                    "set_config('request.jwt.claims', %s, true), "
                    "set_config('request.jwt.claim.sub', %s, true)",
                    (str(claims.get("role") or "anon"), json.dumps(claims),
                     str(claims.get("sub") or "")))
                cursor = await self._checker.execute(
                    query, [None if v is None else _text(v) for _, v in change.key])
                return await cursor.fetchone() is not None
        except psycopg.Error as exc:
            # A role that does not exist or may not read the table sees nothing.
            log.info("RLS check refused: %s", type(exc).__name__)
            return False

    async def _close_connections(self) -> None:
        for conn in (self._conn, self._checker):
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()
        self._conn = self._checker = None

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._close_connections()
