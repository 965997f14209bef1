"""The sandbox's Realtime serves postgres_changes from a real PostgreSQL's WAL (wal2json) with
each subscriber's Row Level Security applied; Supabase's official ``realtime`` client is the
judge. Every test here runs on a PostgreSQL of its own with ``wal_level = logical``."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import pytest
from realtime import AsyncRealtimeClient, RealtimeSubscribeStates
from supabase_auth import AsyncGoTrueClient

from harness.core_fields import LOGICAL_SETTINGS, prepare_core_fields
from harness.postgres import PostgresServer
from harness.sandbox_platform import SCHEMA
from sandbox.auth import user_id_for
from sandbox.postgres_changes import commit_timestamp, passes
from sandbox.server import Sandbox
from sandbox.settings import OUTSIDER_EMAIL, WATCHER_EMAIL, Settings

PASSWORD = "core-fields-test-password-7b1c"
WATCHER, OUTSIDER = user_id_for(WATCHER_EMAIL), user_id_for(OUTSIDER_EMAIL)
TIMEOUT = 5.0


@pytest.fixture(scope="module")
def logical_pg() -> Iterator[tuple[PostgresServer, str]]:
    """A PostgreSQL with wal_level logical, the reference schema and the Core Fields probe's
    migration; (server, the writer role's URL)."""
    with PostgresServer(settings=LOGICAL_SETTINGS) as server:
        server.execute("CREATE DATABASE wedsync")
        server.execute(SCHEMA.read_text(), dbname="wedsync")
        writer = prepare_core_fields(server, "wedsync", secrets.token_hex(8),
                                     [WATCHER, OUTSIDER])
        yield server, writer


def with_sandbox(server: PostgresServer,
                 scenario: Callable[[Sandbox], Awaitable[Any]]) -> Any:
    async def go() -> Any:
        settings = Settings(users={WATCHER_EMAIL: PASSWORD, OUTSIDER_EMAIL: PASSWORD},
                            database_url=server.dsn(dbname="wedsync"))
        async with Sandbox(settings) as box:
            return await asyncio.wait_for(scenario(box), 30)

    return asyncio.run(go())


async def token_of(box: Sandbox, email: str) -> str:
    auth = AsyncGoTrueClient(url=box.auth_url, headers={"apikey": box.settings.anon_key},
                             auto_refresh_token=False)
    answer = await auth.sign_in_with_password({"email": email, "password": PASSWORD})
    assert answer.session is not None
    return answer.session.access_token


def write(server: PostgresServer, user_id: str, nonce: str) -> None:
    server.execute(f"UPDATE wedsync_probe.core_fields SET nonce = '{nonce}' "
                   f"WHERE user_id = '{user_id}'", dbname="wedsync")


async def changes_channel(box: Sandbox, email: str, row: str,
                          inbox: asyncio.Queue[dict[str, Any]]) -> AsyncRealtimeClient:
    """An official client signed in as ``email``, subscribed to UPDATEs of ``row``."""
    client = AsyncRealtimeClient(f"{box.url}/realtime/v1", box.settings.anon_key,
                                 auto_reconnect=False, max_retries=1)
    await client.connect()
    await client.set_auth(await token_of(box, email))
    channel = client.channel(f"core-fields-{secrets.token_hex(3)}")
    system: asyncio.Queue[Any] = asyncio.Queue()
    channel.on_system(system.put_nowait)
    channel.on_postgres_changes("UPDATE", inbox.put_nowait, table="core_fields",
                                schema="wedsync_probe", filter=f"user_id=eq.{row}")
    states: list[Any] = []
    await channel.subscribe(lambda state, error: states.append((state, error)))
    assert states == [(RealtimeSubscribeStates.SUBSCRIBED, None)]
    message = await asyncio.wait_for(system.get(), TIMEOUT)
    assert (message.status, message.message) == ("ok", "Subscribed to PostgreSQL"), message
    return client


def test_the_official_client_receives_a_change_of_its_own_row(logical_pg) -> None:
    server, _ = logical_pg

    async def scenario(box: Sandbox) -> dict[str, Any]:
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        client = await changes_channel(box, WATCHER_EMAIL, WATCHER, inbox)
        await asyncio.to_thread(write, server, WATCHER, "n-official")
        payload = await asyncio.wait_for(inbox.get(), TIMEOUT)
        await client.close()
        return payload

    payload = with_sandbox(server, scenario)
    data = payload["data"]
    assert data["schema"] == "wedsync_probe" and data["table"] == "core_fields"
    assert data["type"] == "UPDATE" and data["errors"] is None
    assert data["record"]["nonce"] == "n-official"
    assert data["record"]["user_id"] == WATCHER
    assert data["old_record"] == {"user_id": WATCHER}  # replica identity default: the key
    assert data["commit_timestamp"].endswith("Z") and len(data["commit_timestamp"]) == 24
    assert {"name": "nonce", "type": "text"} in data["columns"]
    assert len(payload["ids"]) == 1


def test_rls_hides_another_users_row_unless_the_rls_off_fault_is_set(logical_pg) -> None:
    server, _ = logical_pg

    async def scenario(box: Sandbox) -> tuple[bool, bool]:
        own: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        other: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        watcher = await changes_channel(box, WATCHER_EMAIL, WATCHER, own)
        outsider = await changes_channel(box, OUTSIDER_EMAIL, WATCHER, other)
        await asyncio.to_thread(write, server, WATCHER, "n-hidden")
        await asyncio.wait_for(own.get(), TIMEOUT)
        await asyncio.sleep(0.5)
        hidden = other.empty()
        box.faults.set("realtime", rls_off=True)
        await asyncio.to_thread(write, server, WATCHER, "n-leaked")
        await asyncio.wait_for(own.get(), TIMEOUT)
        leaked = (await asyncio.wait_for(other.get(), TIMEOUT))["data"]["record"]["nonce"]
        await watcher.close()
        await outsider.close()
        return hidden, leaked == "n-leaked"

    assert with_sandbox(server, scenario) == (True, True)


def test_a_table_outside_the_publication_is_refused_with_realtimes_message(logical_pg) -> None:
    server, _ = logical_pg

    async def scenario(box: Sandbox) -> list[dict[str, Any]]:
        async with aiohttp.ClientSession() as session, session.ws_connect(
                f"{box.realtime_url}/websocket?apikey={box.settings.anon_key}&vsn=1.0.0") as ws:
            binding = {"event": "*", "schema": "public", "table": "weddings"}
            await ws.send_str(json.dumps({
                "topic": "realtime:x", "event": "phx_join", "ref": "1", "payload": {
                    "config": {"postgres_changes": [binding]}}}))
            return [json.loads((await ws.receive(timeout=TIMEOUT)).data) for _ in range(2)]

    reply, system = with_sandbox(server, scenario)
    listed = reply["payload"]["response"]["postgres_changes"]
    assert reply["event"] == "phx_reply" and reply["payload"]["status"] == "ok"
    assert listed[0]["table"] == "weddings" and isinstance(listed[0]["id"], int)
    assert system["event"] == "system" and system["payload"]["status"] == "error"
    assert system["payload"]["message"].startswith(
        "Unable to subscribe to changes with given parameters")


def test_filters_and_commit_timestamps_read_as_realtime_reads_them() -> None:
    row = {"id": 5, "status": "open", "venue": None}
    assert passes("id=eq.5", row) and passes("id=gt.4", row) and not passes("id=lt.5", row)
    assert passes("status=in.(open,pending)", row) and not passes("status=neq.open", row)
    assert not passes("venue=eq.Barn", row) and not passes("missing=eq.1", row)
    assert commit_timestamp("2026-12-03 08:13:55.360454+00") == "2026-12-03T08:13:55.360Z"
    assert commit_timestamp("2026-12-03 09:13:55.1+01") == "2026-12-03T08:13:55.100Z"


def test_subscriptions_survive_a_database_restart() -> None:
    with PostgresServer(settings=LOGICAL_SETTINGS) as server:
        server.execute("CREATE DATABASE wedsync")
        server.execute(SCHEMA.read_text(), dbname="wedsync")
        prepare_core_fields(server, "wedsync", secrets.token_hex(8), [WATCHER, OUTSIDER])

        async def scenario(box: Sandbox) -> str:
            inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
            client = await changes_channel(box, WATCHER_EMAIL, WATCHER, inbox)
            await asyncio.to_thread(server.stop)
            await asyncio.to_thread(server.start)
            # Changes written before Realtime has its new slot are lost (as in Realtime):
            # write until one comes through.
            for attempt in range(20):
                await asyncio.to_thread(write, server, WATCHER, f"n-after-{attempt}")
                try:
                    payload = await asyncio.wait_for(inbox.get(), 1.0)
                except TimeoutError:
                    continue
                await client.close()
                return str(payload["data"]["record"]["nonce"])
            raise AssertionError("no change came through after the restart")

        assert with_sandbox(server, scenario).startswith("n-after-")
