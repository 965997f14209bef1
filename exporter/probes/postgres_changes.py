"""The Core Fields path end to end: a write to the probe table reaching a Realtime subscriber as
a ``postgres_changes`` event, with Row Level Security checked on that path.

Run on the Realtime probe's socket after its broadcast echo. Two channels join with their users'
access tokens (``SyntheticUsers``) and ``config.postgres_changes: [{event: UPDATE, schema, table,
filter: user_id=eq.<watcher's id>}]``: the watcher, whose row it is, and the outsider, whose RLS
policy hides that row. Each waits for Realtime's ``phx_reply`` (which lists the subscriptions
with server ids) and its ``system`` message "Subscribed to PostgreSQL". Then the probe writes a
fresh nonce to the watcher's row through ``write_dsn`` and times the watcher's event carrying
it: ``wedsync_realtime_postgres_change_seconds``. With the event's ``commit_timestamp`` (the
database's clock) the time splits into stage ``commit`` (write sent → commit) and ``delivery``
(commit → event at the probe: WAL decoding, the RLS check, delivery); a stage below zero (beyond
the timestamp's millisecond) means the two hosts' clocks disagree, so the split is counted as
clock skew instead of recorded.

Any event that reaches the outsider is a leak (``wedsync_realtime_rls_leaks_total``), counted
whether or not the watcher's event came; a leak does not fail the probe (the path works; its own
critical alert pages). No event within the probe's timeout is reason
``timeout``.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp
import psycopg
from psycopg import sql

from exporter.catalogue import POSTGRES_CHANGE_STAGES
from exporter.config.model import PostgresChanges
from exporter.db.errors import classify
from exporter.metrics.store import Sample
from exporter.probes.base import ProbeError
from exporter.probes.synthetic_users import SyntheticUsers

ROLES = ("watcher", "outsider")
SUBSCRIBED = "Subscribed to PostgreSQL"
# How long after the watcher's event the probe still listens for a leak to the outsider
# (Realtime checks every subscriber of a change in the same poll, so a leak comes at once).
LEAK_GRACE = 0.25
APPLICATION_NAME = "wedsync-core-fields-probe"
# Realtime sends commit_timestamp in whole milliseconds (truncated).
TIMESTAMP_RESOLUTION = 0.001

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[float, str], Awaitable[dict[str, Any]]]


@dataclass
class Wire:
    """The Realtime socket as the check uses it (the Realtime probe's own send and receive)."""

    send: Send
    receive: Receive
    next_ref: Callable[[], str]
    # The ProbeError for a refused join's reason.
    refused: Callable[[Any], ProbeError]


@dataclass
class CoreFieldsResult:
    """What one run measured: gauges, histogram observations and counter increments."""

    samples: list[Sample] = field(default_factory=list)
    observations: list[Sample] = field(default_factory=list)
    counts: list[Sample] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def commit_time(data: dict[str, Any]) -> float | None:
    """The change's ``commit_timestamp`` as Unix time, or None when absent or unreadable."""
    text = data.get("commit_timestamp")
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def split(sent: float, committed: float, received: float) -> tuple[float, float] | None:
    """(database, realtime) stages of a round trip from ``sent`` to ``received`` (the
    exporter's clock) at ``committed`` (the database's), or None when the clocks disagree.

    Realtime cuts ``commit_timestamp`` to milliseconds, so a commit may read up to a
    millisecond early: within that a stage counts as 0, beyond it as clock skew."""
    database, realtime = committed - sent, received - committed
    if database < -TIMESTAMP_RESOLUTION or realtime < -TIMESTAMP_RESOLUTION:
        return None
    return max(0.0, database), max(0.0, realtime)


class CoreFieldsCheck:
    """The postgres_changes part of one Realtime target's probe."""

    def __init__(self, target: str, settings: PostgresChanges) -> None:
        self.target = target
        self.settings = settings
        self.users = SyntheticUsers(settings.auth_url, settings.anon_key,
                                    {"watcher": settings.watcher, "outsider": settings.outsider})
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._update = sql.SQL("UPDATE {}.{} SET nonce = %s, updated_at = now() "
                               "WHERE user_id = %s").format(sql.Identifier(settings.schema),
                                                            sql.Identifier(settings.table))

    @property
    def user_ids(self) -> set[str]:
        return self.users.user_ids

    async def run(self, client: aiohttp.ClientSession, wire: Wire,
                  deadline: float) -> CoreFieldsResult:
        tokens = {role: await self.users.token(client, role) for role in ROLES}
        watcher_id = self.users.ids.get("watcher")
        if watcher_id is None:
            raise ProbeError("protocol", "Auth's token answer for the Core Fields watcher has "
                                         "no user id")
        binding = {"event": "UPDATE", "schema": self.settings.schema,
                   "table": self.settings.table, "filter": f"user_id=eq.{watcher_id}"}
        topics = {role: f"realtime:wedsync-core-fields-{role}-{secrets.token_hex(4)}"
                  for role in ROLES}
        result = CoreFieldsResult()
        t = {"target": self.target}
        leaks = 0
        try:
            for role in ROLES:
                await self._join(wire, topics[role], tokens[role], binding, deadline)
            conn = await self._connect()
            nonce = secrets.token_hex(12)
            sent_wall, sent = time.time(), time.perf_counter()
            await self._write(conn, nonce, watcher_id)
            event: dict[str, Any] | None = None
            while event is None:
                message = await wire.receive(deadline, "postgres_changes event")
                if message.get("event") != "postgres_changes":
                    continue
                if message.get("topic") == topics["outsider"]:
                    leaks += 1
                elif message.get("topic") == topics["watcher"]:
                    data = _data(message)
                    record = data.get("record")
                    if isinstance(record, dict) and record.get("nonce") == nonce:
                        event = data
            received_wall, roundtrip = time.time(), time.perf_counter() - sent
            leaks += await self._leaks_after(wire, topics["outsider"], deadline)
        except ProbeError as error:
            if leaks:
                error.counts.append(Sample("wedsync_realtime_rls_leaks_total", t, leaks))
            raise
        if leaks:
            result.counts.append(Sample("wedsync_realtime_rls_leaks_total", t, leaks))
        result.observations.append(Sample("wedsync_realtime_postgres_change_seconds", t,
                                          roundtrip))
        result.details = {"postgres_change_seconds": roundtrip, "rls_leaks": leaks}
        committed = commit_time(event)
        stages = split(sent_wall, committed, received_wall) if committed is not None else None
        if stages is None:
            result.counts.append(Sample("wedsync_realtime_clock_skew_total", t, 1))
        else:
            for stage, seconds in zip(POSTGRES_CHANGE_STAGES, stages, strict=True):
                result.observations.append(Sample(
                    "wedsync_realtime_postgres_change_stage_seconds", {**t, "stage": stage},
                    seconds))
                result.details[f"{stage}_seconds"] = seconds
        return result

    async def _join(self, wire: Wire, topic: str, token: str, binding: dict[str, str],
                    deadline: float) -> None:
        """Join ``topic`` with one postgres_changes binding and wait until Realtime says the
        subscription is live."""
        ref = wire.next_ref()
        await wire.send({"topic": topic, "event": "phx_join", "ref": ref, "join_ref": ref,
                         "payload": {"config": {
                             "broadcast": {"self": False, "ack": False},
                             "presence": {"enabled": False}, "private": False,
                             "postgres_changes": [binding]}, "access_token": token}})
        replied = subscribed = False
        while not (replied and subscribed):
            message = await wire.receive(deadline, "postgres_changes subscription")
            if message.get("topic") != topic:
                continue
            payload = message.get("payload")
            payload = payload if isinstance(payload, dict) else {}
            if message.get("event") == "phx_reply" and message.get("ref") == ref:
                if payload.get("status") != "ok":
                    response = payload.get("response")
                    raise wire.refused(response.get("reason") if isinstance(response, dict)
                                       else None)
                response = payload.get("response")
                listed = response.get("postgres_changes") if isinstance(response, dict) \
                    else None
                if not isinstance(listed, list) or len(listed) != 1 \
                        or not isinstance(listed[0], dict) or "id" not in listed[0]:
                    raise ProbeError("protocol", "Realtime's join reply does not list the "
                                                 "postgres_changes subscription with its id")
                replied = True
            elif message.get("event") == "system" and payload.get("extension") in (
                    "postgres_changes", None):
                if payload.get("status") != "ok":
                    raise ProbeError("protocol", "Realtime could not subscribe to the probe "
                                                 "table's changes: is the table in the "
                                                 "supabase_realtime publication?")
                subscribed = payload.get("message") == SUBSCRIBED or subscribed

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        """The write role's connection, opened before the clock starts (a new connection's
        login is not part of the path)."""
        if self._conn is None or self._conn.closed:
            try:
                self._conn = await psycopg.AsyncConnection.connect(
                    self.settings.write_dsn, autocommit=True, connect_timeout=5,
                    application_name=APPLICATION_NAME)
            except Exception as exc:
                raise self._failed(exc) from None
        return self._conn

    async def _write(self, conn: psycopg.AsyncConnection[Any], nonce: str,
                     watcher_id: str) -> None:
        """Write ``nonce`` to the watcher's row through the write role (one autocommit
        UPDATE)."""
        try:
            cursor = await conn.execute(self._update, (nonce, watcher_id))
        except Exception as exc:
            await conn.close()
            self._conn = None
            raise self._failed(exc) from None
        if cursor.rowcount != 1:
            raise ProbeError("error", "the Core Fields probe table has no row for the watcher "
                                      "user: run the migration of docs/core-fields-probe.md "
                                      "with its id")

    @staticmethod
    def _failed(exc: BaseException) -> ProbeError:
        error = classify(exc)
        return ProbeError(error.reason, f"the Core Fields write failed: {error.message}",
                          error.detail)

    async def _leaks_after(self, wire: Wire, outsider: str, deadline: float) -> int:
        """Events that reach the outsider within ``LEAK_GRACE`` after the watcher's."""
        leaks = 0
        until = min(deadline, time.monotonic() + LEAK_GRACE)
        while time.monotonic() < until:
            try:
                message = await wire.receive(until, "leak")
            except ProbeError:
                break
            if message.get("event") == "postgres_changes" and message.get("topic") == outsider:
                leaks += 1
        return leaks

    async def close(self, client: aiohttp.ClientSession | None) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
        if client is not None:
            await self.users.close(client)


def _data(message: dict[str, Any]) -> dict[str, Any]:
    payload = message.get("payload")
    data = payload.get("data") if isinstance(payload, dict) else None
    return data if isinstance(data, dict) else {}
