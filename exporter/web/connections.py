"""Client connections: a cap on how many are open, and timeouts aiohttp does not have.

aiohttp's server has no header timeout, and its keep-alive timeout only closes a connection
that is waiting for a request; a client that opens connections and sends nothing, or sends
headers a byte at a time, holds a descriptor each until it goes away. ``ConnectionGuard``
wraps every connection's protocol and closes those that broke a rule:

- ``header_timeout``: a new connection, or a request begun on a kept-alive one, must reach
  the handler (request line and headers complete) within this time;
- ``idle_timeout``: a kept-alive connection with no request in progress is closed after this;
- ``max_connections``: a connection beyond the cap takes the place of the longest-waiting one
  that never finished a request (then of the longest idle one); only if every connection is
  busy in a handler is the new one closed at once. A flood of slow connections therefore
  cannot lock Prometheus out, and descriptors stay free for the probes.

A request body's own deadline is enforced where it is read (``exporter/web/bodies.py``).

The sweep runs when the earliest deadline falls due, never sooner than ``SWEEP_PERIOD`` after
the last one (so a flood of connections costs at most one sweep per period), and not at all
while no deadline is pending: sweeping once a second whether or not anything could be due was
sixty wake-ups a minute of an idle exporter (issue 25: idle cost).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import structlog
from aiohttp import web

from exporter.metrics.store import MetricStore
from exporter.web.protocol import handler_factory
from exporter.web.server_settings import ServerSettings, connection_cap
from exporter.yielding import request_arrived

CLOSED = "wedsync_http_connections_closed_total"
OPEN = "wedsync_http_connections"
# At most one log line per this many seconds about connections at the cap.
CAP_LOG_PERIOD = 60.0
# At most one sweep per this many seconds (a quarter of a header timeout if that is shorter).
SWEEP_PERIOD = 1.0

log = structlog.get_logger("exporter.http")


class GuardedConnection(asyncio.Protocol):
    """One client connection: forwards to aiohttp's protocol and keeps the guard's timings."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self.guard = guard
        self.inner = inner
        self.transport: asyncio.Transport | None = None
        self.opened = 0.0
        self.idle_since = 0.0
        # When the first byte of a not yet handled request arrived (None: none pending).
        self.request_started: float | None = None
        self.busy = False
        self.data_while_busy = False
        self.served = 0
        self.admitted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.opened = self.idle_since = self.guard.now()
        if self.guard.admit(self):
            self.admitted = True
            self.guard.watch(self)
            self.inner.connection_made(transport)
        else:
            transport.abort()  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if self.busy:
            self.data_while_busy = True
        elif self.request_started is None:
            self.request_started = self.guard.now()
            self.guard.watch(self)
            request_arrived()  # slices of long work let its handler go first
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.forget(self)
        if self.admitted:
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def deadline(self, settings: ServerSettings) -> tuple[float, str] | None:
        """When this connection must be closed if nothing changes, and why."""
        if self.busy:
            return None
        if self.served == 0:
            return self.opened + settings.header_timeout, "header_timeout"
        if self.request_started is not None:
            return self.request_started + settings.header_timeout, "header_timeout"
        return self.idle_since + settings.idle_timeout, "idle_timeout"


class ConnectionGuard:
    """Every open client connection, the cap on their number and the sweep that ends them."""

    def __init__(self, store: MetricStore, settings: ServerSettings,
                 now: Callable[[], float] | None = None) -> None:
        self.store = store
        self.settings = settings
        self.cap = connection_cap(settings)
        self._now = now
        self.connections: dict[Any, GuardedConnection] = {}
        self._started = False
        # The pending sweep (a timer handle) and when it runs; the last sweep's time.
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._last_sweep = float("-inf")
        self._cap_logged: float | None = None
        for reason in ("header_timeout", "idle_timeout", "connection_limit"):
            store.zero(CLOSED, {"reason": reason})
        store.set(OPEN, (), 0)

    def now(self) -> float:
        return self._now() if self._now is not None else asyncio.get_running_loop().time()

    def configure(self, settings: ServerSettings) -> None:
        """Adopt new limits (a reload); open connections are judged by them from now on."""
        self.settings = settings
        self.cap = connection_cap(settings)
        # Deadlines moved with the limits: sweep now and plan from there.
        if self._started:
            self._sweep_now()

    def protocol_factory(self, server: web.Server) -> Callable[[], GuardedConnection]:
        """Wrap aiohttp's protocol factory (with malformed requests counted as refusals)."""
        make = handler_factory(server, lambda: self.store.inc(
            "wedsync_http_refused_requests_total", {"reason": "malformed_request"}))
        return lambda: GuardedConnection(self, make())

    # --- admission ------------------------------------------------------------------------
    def admit(self, connection: GuardedConnection) -> bool:
        if len(self.connections) >= self.cap:
            victim = self._victim()
            self.store.inc(CLOSED, {"reason": "connection_limit"})
            now = self.now()
            if self._cap_logged is None or now - self._cap_logged >= CAP_LOG_PERIOD:
                # Once a minute at most: a flood must not flood the log as well.
                self._cap_logged = now
                log.warning("client connections at the cap; closing the longest-waiting ones",
                            cap=self.cap, busy=sum(c.busy for c in self.connections.values()))
            if victim is None:
                return False
            self._close(victim, abort=True)
        self.connections[connection.transport] = connection
        self.store.set(OPEN, (), len(self.connections), bump=False)
        return True

    def _victim(self) -> GuardedConnection | None:
        """The connection to give up: the longest-waiting one that never finished a request,
        else the longest idle one; None when every connection is busy in a handler."""
        waiting = [c for c in self.connections.values() if not c.busy]
        if not waiting:
            return None
        fresh = [c for c in waiting if c.served == 0]
        if fresh:
            return min(fresh, key=lambda c: c.opened)
        return min(waiting, key=lambda c: c.idle_since)

    def forget(self, connection: GuardedConnection) -> None:
        if self.connections.get(connection.transport) is connection:
            del self.connections[connection.transport]
            self.store.set(OPEN, (), len(self.connections), bump=False)

    # --- requests (called by the middleware) ------------------------------------------------
    def request_started(self, transport: Any) -> None:
        connection = self.connections.get(transport)
        if connection is not None:
            connection.busy = True
            connection.data_while_busy = False
            connection.request_started = None

    def request_finished(self, transport: Any) -> None:
        connection = self.connections.get(transport)
        if connection is not None:
            now = self.now()
            connection.busy = False
            connection.served += 1
            connection.idle_since = now
            # Bytes that came in meanwhile begin the next request (or are an unread body).
            connection.request_started = now if connection.data_while_busy else None
            self.watch(connection)

    # --- the sweep ------------------------------------------------------------------------
    def start(self) -> None:
        if not self._started:
            self._started = True
            self._sweep_now()

    async def stop(self) -> None:
        self._started = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _period(self) -> float:
        return max(0.05, min(SWEEP_PERIOD, self.settings.header_timeout / 4))

    def watch(self, connection: GuardedConnection) -> None:
        """Make sure a sweep runs by ``connection``'s deadline (its state just changed)."""
        due = connection.deadline(self.settings)
        if due is not None:
            self._plan(due[0])

    def _plan(self, due: float) -> None:
        if not self._started:
            return
        when = max(due, self._last_sweep + self._period())
        if self._timer is not None:
            if self._timer_at <= when:
                return
            self._timer.cancel()
        self._timer_at = when
        self._timer = asyncio.get_running_loop().call_at(when, self._sweep_now)

    def _sweep_now(self) -> None:
        self._timer = None
        self._last_sweep = self.now()
        self.sweep()
        pending = [due[0] for c in self.connections.values()
                   if (due := c.deadline(self.settings)) is not None]
        if pending:
            self._plan(min(pending))

    def sweep(self) -> None:
        """Close every connection past its deadline."""
        now = self.now()
        for connection in list(self.connections.values()):
            due = connection.deadline(self.settings)
            if due is not None and now >= due[0]:
                self.store.inc(CLOSED, {"reason": due[1]})
                # An idle connection ends politely; one stuck mid-request is cut off.
                self._close(connection, abort=due[1] != "idle_timeout")

    def _close(self, connection: GuardedConnection, *, abort: bool) -> None:
        self.forget(connection)
        transport = connection.transport
        if transport is None:
            return
        with contextlib.suppress(Exception):
            if abort or transport.get_write_buffer_size():
                transport.abort()
            else:
                transport.close()


class GuardedSite(web.TCPSite):
    """A TCP site whose connections go through a ``ConnectionGuard``."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, guard: ConnectionGuard,
                 **kwargs: Any) -> None:
        super().__init__(runner, host, port, **kwargs)
        self.guard = guard

    async def start(self) -> None:
        # BaseSite.start registers the site; TCPSite.start would serve aiohttp's own protocol.
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self.guard.protocol_factory(server), self._host, self._port,
            backlog=self._backlog, reuse_address=self._reuse_address)
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port
        self.guard.start()

    async def stop(self) -> None:
        await self.guard.stop()
        await super().stop()
