"""Supabase's own Python clients (PyPI ``realtime`` and ``supabase-auth``) are the judge of the
sandbox: every test here drives it only through them, with the sandbox's default settings (a
JWT anon key signed with its secret, Realtime's current release, no tenant)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from realtime import AsyncRealtimeClient, RealtimeSubscribeStates
from realtime.types import RealtimeAcknowledgementStatus
from supabase_auth import AsyncGoTrueClient
from supabase_auth.errors import AuthApiError

from sandbox.server import Sandbox
from sandbox.settings import Settings

EMAIL = "probe@wedsync.test"
PASSWORD = "official-client-password-3f9a"
TIMEOUT = 5.0


def with_sandbox(scenario: Callable[[Sandbox], Awaitable[Any]]) -> Any:
    """Run ``scenario(box)`` against a sandbox with default settings and one user."""

    async def go() -> Any:
        async with Sandbox(Settings(users={EMAIL: PASSWORD})) as box:
            return await asyncio.wait_for(scenario(box), 30)

    return asyncio.run(go())


def realtime_client(box: Sandbox, key: str | None = None) -> AsyncRealtimeClient:
    return AsyncRealtimeClient(f"{box.url}/realtime/v1", key or box.settings.anon_key,
                               auto_reconnect=False, max_retries=1)


def auth_client(box: Sandbox, key: str | None = None) -> AsyncGoTrueClient:
    return AsyncGoTrueClient(url=box.auth_url, headers={"apikey": key or box.settings.anon_key},
                             auto_refresh_token=False)


def channel_options(self_broadcast: bool = True, ack: bool = True) -> dict[str, Any]:
    return {"config": {"broadcast": {"self": self_broadcast, "ack": ack},
                       "presence": {"key": "", "enabled": False}, "private": False}}


class Inbox:
    """Broadcasts one channel received, awaitable one by one."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def __call__(self, payload: dict[str, Any]) -> None:
        self.queue.put_nowait(payload)

    async def next(self) -> dict[str, Any]:
        return await asyncio.wait_for(self.queue.get(), TIMEOUT)


async def subscribed(client: AsyncRealtimeClient, topic: str, inbox: Inbox | None = None,
                     **options: Any) -> tuple[Any, list[tuple[Any, Exception | None]]]:
    """A channel after ``subscribe`` has settled, and the states its callback saw."""
    channel = client.channel(topic, channel_options(**options))
    if inbox is not None:
        channel.on_broadcast("wedding", inbox)
    states: list[tuple[Any, Exception | None]] = []
    await channel.subscribe(lambda state, error: states.append((state, error)))
    return channel, states


# --- Realtime -----------------------------------------------------------------------------

def test_the_realtime_client_joins_and_gets_its_own_broadcast_back() -> None:
    async def scenario(box: Sandbox) -> None:
        client = realtime_client(box)
        await client.connect()
        inbox = Inbox()
        channel, states = await subscribed(client, "room1", inbox)
        assert states == [(RealtimeSubscribeStates.SUBSCRIBED, None)]
        await channel.send_broadcast("wedding", {"field": "venue", "value": "Barn"})
        assert await inbox.next() == {"event": "wedding",
                                      "payload": {"field": "venue", "value": "Barn"}}
        await client.close()

    with_sandbox(scenario)


def test_a_broadcast_with_ack_is_acknowledged_by_the_server() -> None:
    async def scenario(box: Sandbox) -> str:
        client = realtime_client(box)
        await client.connect()
        channel, _ = await subscribed(client, "room-ack")
        acked: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        push = await channel.push("broadcast", {"type": "broadcast", "event": "wedding",
                                                "payload": {"n": 1}})
        push.receive(RealtimeAcknowledgementStatus.Ok,
                     lambda _response: acked.done() or acked.set_result("ok"))
        push.receive(RealtimeAcknowledgementStatus.Timeout,
                     lambda: acked.done() or acked.set_result("timeout"))
        result = await asyncio.wait_for(acked, TIMEOUT)
        await client.close()
        return result

    assert with_sandbox(scenario) == "ok"


def test_another_subscriber_gets_the_broadcast_and_the_sender_without_self_does_not() -> None:
    async def scenario(box: Sandbox) -> None:
        sender, listener = realtime_client(box), realtime_client(box)
        await sender.connect()
        await listener.connect()
        own, heard = Inbox(), Inbox()
        channel, _ = await subscribed(sender, "room2", own, self_broadcast=False, ack=False)
        await subscribed(listener, "room2", heard)
        await channel.send_broadcast("wedding", {"guests": 120})
        received = await heard.next()
        assert received["payload"] == {"guests": 120} and received["event"] == "wedding"
        await asyncio.sleep(0.2)
        assert own.queue.empty()
        await sender.close()
        await listener.close()

    with_sandbox(scenario)


def test_presence_tracks_joins_and_leaves_between_clients() -> None:
    async def scenario(box: Sandbox) -> None:
        watcher, florist = realtime_client(box), realtime_client(box)
        await watcher.connect()
        await florist.connect()
        synced = asyncio.Event()
        watching = watcher.channel("room-presence", channel_options())
        watching.on_presence_sync(synced.set)
        await watching.subscribe()
        tracking = florist.channel("room-presence", {"config": {
            "broadcast": {"self": False, "ack": False},
            "presence": {"key": "florist-7", "enabled": True}, "private": False}})
        await tracking.subscribe()
        await tracking.track({"role": "florist"})

        async def state_is(wanted: set[str]) -> None:
            while set(watching.presence_state()) != wanted:
                synced.clear()
                await asyncio.wait_for(synced.wait(), TIMEOUT)

        await state_is({"florist-7"})
        [meta] = watching.presence_state()["florist-7"]
        assert meta["role"] == "florist"
        await tracking.untrack()
        await state_is(set())
        await tracking.track({"role": "florist", "status": "at the venue"})
        await state_is({"florist-7"})
        await florist.close()  # a member that goes leaves
        await state_is(set())
        await watcher.close()

    with_sandbox(scenario)


def test_the_publishable_key_works_where_the_anon_key_does() -> None:
    async def scenario(box: Sandbox) -> None:
        key = box.settings.publishable_key
        assert key.startswith("sb_publishable_")
        client = realtime_client(box, key)
        await client.connect()
        _, states = await subscribed(client, "room3")
        assert states == [(RealtimeSubscribeStates.SUBSCRIBED, None)]
        await client.close()
        signed_in = await auth_client(box, key).sign_in_with_password(
            {"email": EMAIL, "password": PASSWORD})
        assert signed_in.user is not None and signed_in.user.email == EMAIL

    with_sandbox(scenario)


def test_a_refused_join_reaches_the_client_as_a_channel_error_with_realtimes_reason() -> None:
    async def scenario(box: Sandbox) -> None:
        box.faults.set("realtime", refuse_join="Unauthorized: You do not have permissions")
        client = realtime_client(box)
        await client.connect()
        _, states = await subscribed(client, "room4")
        [(state, error)] = states
        assert state == RealtimeSubscribeStates.CHANNEL_ERROR
        assert "Unauthorized: You do not have permissions" in str(error)
        await client.close()

    with_sandbox(scenario)


def test_a_dropped_socket_errors_the_clients_channels() -> None:
    async def scenario(box: Sandbox) -> None:
        client = realtime_client(box)
        await client.connect()
        channel, states = await subscribed(client, "room5")
        box.faults.set("realtime", drop_socket=True)
        await channel.send_broadcast("wedding", {"n": 1})
        for _ in range(50):
            if len(states) > 1:
                break
            await asyncio.sleep(0.1)
        assert states[-1][0] == RealtimeSubscribeStates.CHANNEL_ERROR
        assert not client.is_connected
        assert box.context.state["realtime"].connections == set()
        await client.close()

    with_sandbox(scenario)


def test_a_wrong_key_is_refused_when_the_realtime_client_connects() -> None:
    async def scenario(box: Sandbox) -> str:
        client = realtime_client(box, "not-this-projects-key")
        with pytest.raises(Exception) as caught:
            await client.connect()
        return str(caught.value)

    assert "401" in with_sandbox(scenario)


# --- Auth ---------------------------------------------------------------------------------

def test_the_auth_client_signs_in_reads_the_user_refreshes_and_signs_out() -> None:
    async def scenario(box: Sandbox) -> None:
        client = auth_client(box)
        signed_in = await client.sign_in_with_password({"email": EMAIL, "password": PASSWORD})
        session, user = signed_in.session, signed_in.user
        assert session is not None and user is not None
        assert user.email == EMAIL and user.aud == "authenticated" and not user.is_anonymous
        assert user.identities and user.identities[0].provider == "email"
        assert user.created_at is not None and user.updated_at is not None
        fetched = await client.get_user()
        assert fetched is not None and fetched.user.id == user.id
        refreshed = await client.refresh_session()
        assert refreshed.session is not None
        assert refreshed.session.refresh_token != session.refresh_token
        assert refreshed.user is not None and refreshed.user.id == user.id
        # The first refresh token worked once.
        with pytest.raises(AuthApiError) as reused:
            await client.refresh_session(session.refresh_token)
        assert reused.value.code == "refresh_token_already_used"
        last_access_token = refreshed.session.access_token
        await client.sign_out({"scope": "local"})
        assert await client.get_session() is None
        with pytest.raises(AuthApiError) as ended:
            await client.get_user(last_access_token)
        assert (ended.value.status, ended.value.code) == (403, "session_not_found")

    with_sandbox(scenario)


def test_a_wrong_password_is_invalid_credentials_to_the_auth_client() -> None:
    async def scenario(box: Sandbox) -> AuthApiError:
        with pytest.raises(AuthApiError) as caught:
            await auth_client(box).sign_in_with_password({"email": EMAIL, "password": "wrong"})
        return caught.value

    error = with_sandbox(scenario)
    assert (error.status, error.code, error.message) == (
        400, "invalid_credentials", "Invalid login credentials")


def test_captcha_protection_refuses_the_sign_in_but_not_the_refresh() -> None:
    async def scenario(box: Sandbox) -> None:
        client = auth_client(box)
        signed_in = await client.sign_in_with_password({"email": EMAIL, "password": PASSWORD})
        box.faults.set("auth", captcha="on")
        with pytest.raises(AuthApiError) as caught:
            await auth_client(box).sign_in_with_password(
                {"email": EMAIL, "password": PASSWORD})
        assert (caught.value.status, caught.value.code) == (400, "captcha_failed")
        assert signed_in.session is not None
        refreshed = await client.refresh_session(signed_in.session.refresh_token)
        assert refreshed.session is not None
        box.faults.set("auth", captcha="test")
        tested = await auth_client(box).sign_in_with_password(
            {"email": EMAIL, "password": PASSWORD,
             "options": {"captcha_token": "10000000-aaaa-bbbb-cccc-000000000001"}})
        assert tested.session is not None

    with_sandbox(scenario)
