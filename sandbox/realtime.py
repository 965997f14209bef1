"""Stand-in for Supabase Realtime: Phoenix channels over WebSocket, serializers vsn 1.0.0 and
2.0.0.

Two ways in, as on a real deployment:

- ``/realtime/v1/websocket?apikey=…&vsn=…`` through the gateway. With no ``realtime_tenant``
  setting the gateway maps every host to the one tenant (self-hosted Kong); with one, the first
  label of the Host name must be it (hosted Supabase: ``<ref>.supabase.co``).
- ``/socket/websocket?apikey=…`` straight to the Realtime container, which takes the tenant from
  the first label of the Host name (``realtime-dev`` unless ``realtime_tenant`` says otherwise), so
  a call to an IP address or another name is an unknown tenant.

Realtime resolves the tenant and checks the key (``x-api-key`` header, else ``apikey``) when the
socket connects: since v2.116 an unknown tenant is HTTP 404 and a bad key 401; before, every
connect error was 403. The release is the ``realtime_version`` setting, or the ``version`` fault.
Keys Realtime accepts: the project's anon and publishable keys, and any JWT signed with the
project's secret.

Frames: vsn 1.0.0 JSON objects ``{topic, event, payload, ref}`` (a client may add ``join_ref``;
the server's replies do not carry it), vsn 2.0.0 arrays ``[join_ref, ref, topic, event,
payload]``. ``phx_join`` (``config.broadcast.self``/``ack``, booleans or the strings
"true"/"false"; an optional ``access_token`` checked like Realtime does, the API keys included),
heartbeats on topic ``phoenix``, ``broadcast`` delivered to every subscriber of the channel (and
to the sender when ``self`` is set; acknowledged when ``ack`` is set), ``access_token``,
``phx_leave``; presence (``config.presence.enabled`` and ``key``): ``presence_state`` after
the join, ``presence`` ``track``/``untrack`` answered with ``presence_diff`` to every member that
hears presence, leaves when a member goes. Join errors carry Realtime's ``"Code: message"``
reasons. ``config.postgres_changes`` bindings are served from the real PostgreSQL's WAL with
each subscriber's RLS applied (``sandbox.postgres_changes``).
``/realtime/v1/api/ping`` answers ``{"message": "Success"}``.

Faults (see sandbox.faults): ``echo_delay_ms`` delays delivery (the ack is not delayed: it only
says the server accepted the message), ``refuse_join`` refuses every join with its reason,
``drop_socket`` aborts the connection at the next frame received, ``version`` changes the
release whose connect errors are given, ``max_connections`` refuses connects beyond that many
open sockets (429 "Too many connected users", as a tenant at its limit), ``suspended`` refuses
every connect as for a tenant with Realtime disabled (403), ``decode_delay_ms`` holds decoded
WAL changes before delivery, ``rls_off`` delivers postgres_changes without the RLS check.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from sandbox.context import Context
from sandbox.gateway import check_apikey, is_api_key, presented_key
from sandbox.postgres_changes import (
    SUBSCRIBED,
    ChangeFeed,
    SubscribeError,
    Subscriber,
    bindings_of,
    claims_of,
)
from sandbox.settings import anon_key_for, parse_version
from sandbox.tokens import TokenError, verify

PREFIX = "/realtime/v1"
# The Realtime container's own socket path (what the gateway forwards /realtime/v1 to).
DIRECT_PREFIX = "/socket"
TOPIC_PREFIX = "realtime:"
# Self-hosted Supabase's one tenant.
SELF_HOSTED_TENANT = "realtime-dev"
# The first release that answers 404/401 at connect instead of 403 for everything.
STATUS_CODES_SINCE = (2, 116, 0)
# Ecto casts these strings to booleans in Realtime's join config.
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


def flag(value: Any) -> bool:
    """A join-config boolean as Realtime reads it: true, "true" and "1" are true."""
    if isinstance(value, bool):
        return value
    return _BOOLEANS.get(value, False) if isinstance(value, str) else False


# --- serializers ---------------------------------------------------------------------------

def _decode_v1(text: str) -> dict[str, Any] | None:
    message = json.loads(text)
    return message if isinstance(message, dict) else None


def _encode_v1(topic: str, event: str, payload: Any, ref: str | None,
               join_ref: str | None) -> str:
    # Phoenix's V1 serializer sends topic, event, payload and ref only.
    return json.dumps({"topic": topic, "event": event, "payload": payload, "ref": ref})


def _decode_v2(text: str) -> dict[str, Any] | None:
    message = json.loads(text)
    if not isinstance(message, list) or len(message) != 5:
        return None
    join_ref, ref, topic, event, payload = message
    return {"join_ref": join_ref, "ref": ref, "topic": topic, "event": event,
            "payload": payload}


def _encode_v2(topic: str, event: str, payload: Any, ref: str | None,
               join_ref: str | None) -> str:
    return json.dumps([join_ref, ref, topic, event, payload])


@dataclass(frozen=True)
class Serializer:
    """One Phoenix wire format."""

    decode: Callable[[str], dict[str, Any] | None]
    encode: Callable[[str, str, Any, str | None, str | None], str]


SERIALIZERS: dict[str, Serializer] = {
    "1.0.0": Serializer(_decode_v1, _encode_v1),
    "2.0.0": Serializer(_decode_v2, _encode_v2),
}
DEFAULT_VSN = "1.0.0"


@dataclass
class Subscription:
    """One socket's membership of one channel."""

    connection: Connection
    topic: str
    join_ref: str | None
    self_broadcast: bool
    ack: bool
    # Presence: whether this member hears presence events, under which key it tracks, and what
    # it tracks now (one meta, or None).
    presence: bool = False
    presence_key: str = ""
    tracked: dict[str, Any] | None = None
    # Its postgres_changes subscription (sandbox.postgres_changes), if it asked for one.
    changes: Subscriber | None = None


@dataclass(eq=False)
class Connection:
    """One client socket; frames to it go through a queue so a slow client slows only itself."""

    ws: web.WebSocketResponse
    serializer: Serializer = SERIALIZERS[DEFAULT_VSN]
    outbox: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)

    def push(self, topic: str, event: str, payload: Any, ref: str | None,
             join_ref: str | None = None) -> None:
        self.outbox.put_nowait(self.serializer.encode(topic, event, payload, ref, join_ref))

    def reply(self, message: dict[str, Any], status: str, response: dict[str, Any]) -> None:
        """A ``phx_reply`` to ``message`` (same topic, ref and join_ref)."""
        self.push(message["topic"], "phx_reply", {"status": status, "response": response},
                  message.get("ref"), message.get("join_ref"))

    async def write(self) -> None:
        """Send queued frames until told to stop (None) or the socket closes."""
        while (text := await self.outbox.get()) is not None:
            if self.ws.closed:
                return
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return


class Hub:
    """Channel topic -> subscriptions; delivers broadcasts."""

    def __init__(self, context: Context) -> None:
        self.context = context
        self.topics: dict[str, dict[Connection, Subscription]] = {}
        self.connections: set[Connection] = set()
        self._deliveries: set[asyncio.Task[None]] = set()
        self.changes = ChangeFeed(context)

    def subscribe(self, subscription: Subscription) -> None:
        self.topics.setdefault(subscription.topic, {})[subscription.connection] = subscription
        subscription.connection.subscriptions[subscription.topic] = subscription

    def unsubscribe(self, connection: Connection, topic: str) -> None:
        members = self.topics.get(topic, {})
        left = members.get(connection)
        if left is not None and left.tracked is not None:
            self.presence_diff(topic, {}, {left.presence_key: {"metas": [left.tracked]}})
        members.pop(connection, None)
        if left is not None and left.changes is not None:
            self.changes.unsubscribe(left.changes)
        if not members:
            self.topics.pop(topic, None)
        connection.subscriptions.pop(topic, None)

    def subscribe_changes(self, subscription: Subscription) -> None:
        """Start the channel's postgres_changes subscription; the channel hears "Subscribed to
        PostgreSQL" once it is live, or Realtime's error."""
        assert subscription.changes is not None
        connection, topic = subscription.connection, subscription.topic

        def system(status: str, message: str) -> None:
            connection.push(topic, "system", {
                "channel": topic.removeprefix(TOPIC_PREFIX), "extension": "postgres_changes",
                "message": message, "status": status}, None)

        async def go(subscriber: Subscriber) -> None:
            try:
                await self.changes.subscribe(subscriber)
            except SubscribeError as exc:
                system("error", str(exc))
                return
            if connection.subscriptions.get(topic) is not subscription:
                self.changes.unsubscribe(subscriber)  # left (or rejoined) meanwhile
                return
            system("ok", SUBSCRIBED)

        task = asyncio.create_task(go(subscription.changes))
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    def forget(self, connection: Connection) -> None:
        for topic in list(connection.subscriptions):
            self.unsubscribe(connection, topic)

    def presence_state(self, topic: str) -> dict[str, Any]:
        """Who is tracked on ``topic``: key -> {"metas": [...]}, as Phoenix.Presence lists it."""
        state: dict[str, Any] = {}
        for member in self.topics.get(topic, {}).values():
            if member.tracked is not None:
                state.setdefault(member.presence_key, {"metas": []})["metas"].append(
                    member.tracked)
        return state

    def presence_diff(self, topic: str, joins: dict[str, Any], leaves: dict[str, Any]) -> None:
        """Tell every member that hears presence who joined and who left."""
        for connection, member in list(self.topics.get(topic, {}).items()):
            if member.presence:
                connection.push(topic, "presence_diff", {"joins": joins, "leaves": leaves},
                                None)

    def track(self, member: Subscription, payload: Any) -> None:
        """``track`` replaces what ``member`` tracks; ``untrack`` (payload None) ends it."""
        leaves = {member.presence_key: {"metas": [member.tracked]}} if member.tracked else {}
        member.tracked = None if payload is None else {
            **(payload if isinstance(payload, dict) else {}),
            "phx_ref": uuid.uuid4().hex[:20]}
        joins = {member.presence_key: {"metas": [member.tracked]}} if member.tracked else {}
        if joins or leaves:
            self.presence_diff(member.topic, joins, leaves)

    def broadcast(self, sender: Connection, topic: str, payload: Any) -> None:
        """Deliver ``payload`` to the channel, after the echo-delay fault if one is set."""
        delay = self.context.faults.get("realtime").echo_delay_ms / 1000
        if delay <= 0:
            self._deliver(sender, topic, payload)
            return
        task = asyncio.create_task(self._deliver_later(delay, sender, topic, payload))
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _deliver_later(self, delay: float, sender: Connection, topic: str,
                             payload: Any) -> None:
        await asyncio.sleep(delay)
        self._deliver(sender, topic, payload)

    def _deliver(self, sender: Connection, topic: str, payload: Any) -> None:
        for connection, subscription in list(self.topics.get(topic, {}).items()):
            if connection is sender and not subscription.self_broadcast:
                continue
            connection.push(topic, "broadcast", payload, None)

    async def close(self) -> None:
        for task in list(self._deliveries):
            task.cancel()
        await asyncio.gather(*self._deliveries, return_exceptions=True)
        await self.changes.close()


def token_refusal(context: Context, token: str) -> str | None:
    """Why Realtime refuses ``token`` (``"Code: message"``), or None: the project's API keys and
    unexpired JWTs signed with its secret are accepted."""
    if is_api_key(token, context.settings):
        return None
    try:
        verify(token, context.settings.jwt_secret)
    except TokenError as exc:
        return f"{exc.code}: {exc.message}"
    return None


def join_refusal(context: Context, topic: str, payload: Any) -> str | None:
    """Why a join must be refused (Realtime's ``"Code: message"``), or None."""
    refused = context.faults.get("realtime").refuse_join
    if refused:
        return refused
    if topic == TOPIC_PREFIX:
        return "TopicNameRequired: You must provide a topic name"
    if not topic.startswith(TOPIC_PREFIX):
        return "unmatched topic"
    token = payload.get("access_token") if isinstance(payload, dict) else None
    if token:
        return token_refusal(context, str(token))
    return None


def config_of(payload: Any) -> tuple[bool, bool]:
    """(self, ack) from a join payload's ``config.broadcast``."""
    config = payload.get("config") if isinstance(payload, dict) else None
    broadcast = config.get("broadcast") if isinstance(config, dict) else None
    if not isinstance(broadcast, dict):
        return False, False
    return flag(broadcast.get("self")), flag(broadcast.get("ack"))


def presence_of(payload: Any) -> tuple[bool, str]:
    """(enabled, key) from a join payload's ``config.presence``; the key is a new UUID when the
    client gives none, as Realtime does."""
    config = payload.get("config") if isinstance(payload, dict) else None
    presence = config.get("presence") if isinstance(config, dict) else None
    if not isinstance(presence, dict):
        return False, ""
    key = presence.get("key")
    return flag(presence.get("enabled")), key if isinstance(key, str) and key else \
        str(uuid.uuid4())


def _tenant_of(request: web.Request) -> str:
    """The first label of the Host name, as Realtime reads the tenant's external id."""
    return (request.url.host or "").split(".", 1)[0]


def _connect_error(with_codes: bool, status: int, message: str) -> web.Response:
    """Realtime's answer to a refused upgrade: from v2.116 the status that fits and a JSON
    ``{"error": …}`` body; before, Phoenix's bare 403 for every connect error."""
    if with_codes:
        return web.json_response({"error": message}, status=status)
    return web.Response(status=403)


def connect_refusal(context: Context, request: web.Request, direct: bool,
                    connections: int) -> web.Response | None:
    """The answer to an upgrade that is refused (by the gateway's key check, or by Realtime:
    unknown tenant, bad key, too many connections), or None. ``connections``: the sockets open
    now."""
    settings = context.settings
    if direct:
        key = request.headers.get("x-api-key") or request.query.get("apikey") or ""
    else:
        # Kong's key-auth first; then its request transformer hands Realtime the key as
        # ``x-api-key``, an opaque key (publishable, or an anon key that is no JWT) turned into
        # a JWT of the project. A JWT anon key goes through as it is, for Realtime to check.
        refused = check_apikey(request, settings)
        if refused is not None:
            return refused
        key = presented_key(request)
        if key.count(".") != 2:
            key = anon_key_for(settings.jwt_secret)
    faults = context.faults.get("realtime")
    with_codes = parse_version(faults.version or settings.realtime_version) >= \
        STATUS_CODES_SINCE
    expected = settings.realtime_tenant or (SELF_HOSTED_TENANT if direct else "")
    if expected and _tenant_of(request) != expected:
        return _connect_error(with_codes, 404, "Tenant not found")
    if faults.suspended:
        return _connect_error(with_codes, 403, "Realtime was disabled for this tenant")
    if not key:
        return _connect_error(with_codes, 401, "API key is missing")
    try:
        verify(key, settings.jwt_secret)
    except TokenError as exc:
        message = "Token has expired" if exc.message.startswith("Token has expired") \
            else _CONNECT_MESSAGES.get(exc.code, exc.message)
        return _connect_error(with_codes, 401, message)
    if faults.max_connections is not None and connections >= faults.max_connections:
        return _connect_error(with_codes, 429, "Too many connected users")
    return None


# Realtime's connect-error messages by the token error's code.
_CONNECT_MESSAGES = {"MalformedJWT": "The token provided is not a valid JWT",
                     "JwtSignatureError": "Failed to validate JWT signature"}


def handle(context: Context, hub: Hub, connection: Connection, message: dict[str, Any]) -> None:
    """Act on one client frame."""
    topic, event = message.get("topic"), message.get("event")
    payload = message.get("payload")
    if not isinstance(topic, str) or not isinstance(event, str):
        return
    if topic == "phoenix" and event == "heartbeat":
        connection.reply(message, "ok", {})
        return
    if event == "phx_join":
        reason = join_refusal(context, topic, payload)
        if reason is not None:
            connection.reply(message, "error", {"reason": reason})
            return
        try:
            bindings = bindings_of(payload)
        except SubscribeError as exc:
            connection.reply(message, "error", {"reason": f"InvalidJoinPayload: {exc}"})
            return
        self_broadcast, ack = config_of(payload)
        presence, key = presence_of(payload)
        hub.unsubscribe(connection, topic)
        subscription = Subscription(connection, topic, message.get("join_ref") or
                                    message.get("ref"), self_broadcast, ack, presence, key)
        if bindings:
            token = payload.get("access_token") if isinstance(payload, dict) else None
            subscription.changes = Subscriber(
                bindings, claims_of(context, str(token) if token else None),
                lambda ids, data: connection.push(topic, "postgres_changes",
                                                  {"ids": ids, "data": data}, None))
        hub.subscribe(subscription)
        connection.reply(message, "ok",
                         {"postgres_changes": [b.listing() for b in bindings]})
        if subscription.changes is not None:
            hub.subscribe_changes(subscription)
        if presence:
            connection.push(topic, "presence_state", hub.presence_state(topic), None)
        return
    subscription = connection.subscriptions.get(topic)
    if subscription is None:
        connection.reply(message, "error", {"reason": "unmatched topic"})
        return
    if event == "phx_leave":
        hub.unsubscribe(connection, topic)
        connection.reply(message, "ok", {})
        connection.push(topic, "phx_close", {}, subscription.join_ref, subscription.join_ref)
    elif event == "broadcast":
        if subscription.ack:
            connection.reply(message, "ok", {})
        hub.broadcast(connection, topic, payload)
    elif event == "access_token":
        token = payload.get("access_token") if isinstance(payload, dict) else None
        reason = token_refusal(context, str(token)) if token else None
        if reason is not None:
            # Realtime tells the channel and leaves it when a refreshed token is refused.
            hub.unsubscribe(connection, topic)
            connection.push(topic, "system", {"channel": topic.removeprefix(TOPIC_PREFIX),
                                              "extension": "system", "message": reason,
                                              "status": "error"}, None)
            connection.push(topic, "phx_close", {}, subscription.join_ref,
                            subscription.join_ref)
    elif event == "presence":
        kind = payload.get("event") if isinstance(payload, dict) else None
        if kind not in ("track", "untrack"):
            connection.reply(message, "error", {"reason": "UnknownPresenceEvent: "
                                                          "Unknown presence event"})
            return
        connection.reply(message, "ok", {})
        hub.track(subscription, payload.get("payload") if kind == "track" else None)


def register(app: web.Application, context: Context) -> None:
    """Add the Realtime routes."""
    hub = Hub(context)
    context.state["realtime"] = hub

    async def websocket(request: web.Request, direct: bool = False) -> web.StreamResponse:
        refused = connect_refusal(context, request, direct, len(hub.connections))
        if refused is not None:
            return refused
        vsn = request.query.get("vsn", DEFAULT_VSN)
        serializer = SERIALIZERS.get(vsn)
        if serializer is None:
            return web.json_response(
                {"message": f"unsupported vsn {vsn}; this stand-in speaks "
                            f"{', '.join(SERIALIZERS)}"}, status=400)
        ws = web.WebSocketResponse(heartbeat=None, autoping=True)
        await ws.prepare(request)
        connection = Connection(ws, serializer)
        hub.connections.add(connection)
        writer = asyncio.create_task(connection.write())
        try:
            while True:
                try:
                    frame = await ws.receive(timeout=context.settings.idle_timeout)
                except TimeoutError:
                    break  # no heartbeat: Phoenix closes such sockets too
                if frame.type != WSMsgType.TEXT:
                    break
                if context.faults.get("realtime").drop_socket:
                    if request.transport is not None:
                        request.transport.abort()
                    break
                try:
                    message = serializer.decode(frame.data)
                except ValueError:
                    await ws.close(code=1003, message=b"invalid JSON")
                    break
                if message is not None:
                    handle(context, hub, connection, message)
        finally:
            hub.forget(connection)
            hub.connections.discard(connection)
            connection.outbox.put_nowait(None)
            with contextlib.suppress(asyncio.TimeoutError, ConnectionError):
                await asyncio.wait_for(writer, 1.0)
            writer.cancel()
            if not ws.closed:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await ws.close()
        return ws

    async def direct_websocket(request: web.Request) -> web.StreamResponse:
        return await websocket(request, direct=True)

    async def ping(request: web.Request) -> web.Response:
        refused = check_apikey(request, context.settings)
        return refused or web.json_response({"message": "Success"})

    async def sockets(_: web.Request) -> web.Response:
        # For tests and drills: are clients closing their sockets?
        return web.json_response({"connections": len(hub.connections),
                                  "topics": {t: len(m) for t, m in hub.topics.items()}})

    async def close(_: web.Application) -> None:
        await hub.close()

    app.router.add_get("/_sandbox/realtime", sockets)
    app.router.add_get(f"{PREFIX}/websocket", websocket)
    app.router.add_get(f"{DIRECT_PREFIX}/websocket", direct_websocket)
    app.router.add_get(f"{PREFIX}/api/ping", ping)
    app.on_cleanup.append(close)
