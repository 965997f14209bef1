"""Stand-in for Supabase Realtime: Phoenix channels over WebSocket, JSON serializer vsn 1.0.0.

``/realtime/v1/websocket?apikey=…&vsn=1.0.0``: ``phx_join`` (with ``config.broadcast.self`` and
``ack``, an optional ``access_token`` checked like Realtime does), heartbeats on topic
``phoenix``, ``broadcast`` delivered to every subscriber of the channel (and to the sender when
``self`` is set; acknowledged when ``ack`` is set), ``phx_leave``. Join errors carry Realtime's
``"Code: message"`` reasons. ``/realtime/v1/api/ping`` answers ``{"message": "Success"}``.

Faults (see sandbox.faults): ``echo_delay_ms`` delays delivery (the ack is not delayed: it only
says the server accepted the message), ``refuse_join`` refuses every join with its reason,
``drop_socket`` aborts the connection at the next frame received.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from sandbox.context import Context
from sandbox.gateway import check_apikey
from sandbox.tokens import TokenError, verify

PREFIX = "/realtime/v1"
TOPIC_PREFIX = "realtime:"
SUPPORTED_VSN = "1.0.0"


@dataclass
class Subscription:
    """One socket's membership of one channel."""

    connection: Connection
    topic: str
    join_ref: str | None
    self_broadcast: bool
    ack: bool


@dataclass(eq=False)
class Connection:
    """One client socket; frames to it go through a queue so a slow client slows only itself."""

    ws: web.WebSocketResponse
    outbox: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)

    def push(self, topic: str, event: str, payload: Any, ref: str | None,
             join_ref: str | None = None) -> None:
        message: dict[str, Any] = {"topic": topic, "event": event, "payload": payload,
                                   "ref": ref}
        if join_ref is not None:
            message["join_ref"] = join_ref
        self.outbox.put_nowait(json.dumps(message))

    def reply(self, message: dict[str, Any], status: str, response: dict[str, Any]) -> None:
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

    def subscribe(self, subscription: Subscription) -> None:
        self.topics.setdefault(subscription.topic, {})[subscription.connection] = subscription
        subscription.connection.subscriptions[subscription.topic] = subscription

    def unsubscribe(self, connection: Connection, topic: str) -> None:
        members = self.topics.get(topic, {})
        members.pop(connection, None)
        if not members:
            self.topics.pop(topic, None)
        connection.subscriptions.pop(topic, None)

    def forget(self, connection: Connection) -> None:
        for topic in list(connection.subscriptions):
            self.unsubscribe(connection, topic)

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
        try:
            verify(str(token), context.settings.jwt_secret)
        except TokenError as exc:
            return f"{exc.code}: {exc.message}"
    return None


def config_of(payload: Any) -> tuple[bool, bool]:
    """(self, ack) from a join payload's ``config.broadcast``."""
    config = payload.get("config") if isinstance(payload, dict) else None
    broadcast = config.get("broadcast") if isinstance(config, dict) else None
    if not isinstance(broadcast, dict):
        return False, False
    return bool(broadcast.get("self")), bool(broadcast.get("ack"))


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
        self_broadcast, ack = config_of(payload)
        hub.unsubscribe(connection, topic)
        hub.subscribe(Subscription(connection, topic, message.get("join_ref") or
                                   message.get("ref"), self_broadcast, ack))
        connection.reply(message, "ok", {"postgres_changes": []})
        return
    subscription = connection.subscriptions.get(topic)
    if subscription is None:
        connection.reply(message, "error", {"reason": "unmatched topic"})
        return
    if event == "phx_leave":
        hub.unsubscribe(connection, topic)
        connection.reply(message, "ok", {})
        connection.push(topic, "phx_close", {}, subscription.join_ref)
    elif event == "broadcast":
        if subscription.ack:
            connection.reply(message, "ok", {})
        hub.broadcast(connection, topic, payload)
    # access_token refreshes, presence and postgres_changes are accepted and ignored.


def register(app: web.Application, context: Context) -> None:
    """Add the Realtime routes."""
    hub = Hub(context)
    context.state["realtime"] = hub

    async def websocket(request: web.Request) -> web.StreamResponse:
        refused = check_apikey(request, context.settings.anon_key)
        if refused is not None:
            return refused
        vsn = request.query.get("vsn", SUPPORTED_VSN)
        if vsn != SUPPORTED_VSN:
            return web.json_response(
                {"message": f"this stand-in speaks vsn {SUPPORTED_VSN} only, not {vsn}"},
                status=400)
        ws = web.WebSocketResponse(heartbeat=None, autoping=True)
        await ws.prepare(request)
        connection = Connection(ws)
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
                    message = json.loads(frame.data)
                except ValueError:
                    await ws.close(code=1003, message=b"invalid JSON")
                    break
                if isinstance(message, dict):
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

    async def ping(request: web.Request) -> web.Response:
        refused = check_apikey(request, context.settings.anon_key)
        return refused or web.json_response({"message": "Success"})

    async def sockets(_: web.Request) -> web.Response:
        # For tests and drills: are clients closing their sockets?
        return web.json_response({"connections": len(hub.connections),
                                  "topics": {t: len(m) for t, m in hub.topics.items()}})

    async def close(_: web.Application) -> None:
        await hub.close()

    app.router.add_get("/_sandbox/realtime", sockets)
    app.router.add_get(f"{PREFIX}/websocket", websocket)
    app.router.add_get(f"{PREFIX}/api/ping", ping)
    app.on_cleanup.append(close)
