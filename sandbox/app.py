"""The sandbox's aiohttp application: one port, every stand-in service under its gateway path.

Each service lives under a path prefix (``SERVICES``) and its faults apply to every request under
that prefix, in the middleware below, so a route module only writes the happy path. To add
routes (the WedSync API endpoints, say), write a module with ``register(app, context)`` and add
it to ``ROUTE_MODULES``; routes under ``/api`` are the ``api`` service and get its faults.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from aiohttp import web

from sandbox import STAND_IN_NOTICE
from sandbox.faults import FaultBoard
from sandbox.settings import Settings

# Service name -> path prefix. The prefixes are Supabase's gateway paths.
SERVICES: dict[str, str] = {"auth": "/auth/v1", "realtime": "/realtime/v1", "api": "/api"}
STAND_IN_HEADER = "X-Stand-In"
STAND_IN_VALUE = "wedsync-sandbox; not Supabase"
# A hung request is let go at the latest after this long, so nothing waits forever.
HANG_LIMIT = 600.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Context:
    """What the route modules share: settings, faults, and their own state by name."""

    settings: Settings
    faults: FaultBoard
    state: dict[str, Any] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)


CONTEXT_KEY = web.AppKey("context", Context)


def service_of(path: str) -> str | None:
    """The service a request path belongs to, or None (control and info routes)."""
    for service, prefix in SERVICES.items():
        if path == prefix or path.startswith(prefix + "/"):
            return service
    return None


def gateway_error(status: int, message: str) -> web.Response:
    """An answer shaped like the Supabase gateway's (Kong) own errors."""
    return web.json_response({"message": message}, status=status)


async def _hold(request: web.Request, context: Context, service: str) -> None:
    """Wait while the service's hang fault is on (or until the client goes away)."""
    deadline = time.monotonic() + HANG_LIMIT
    while context.faults.get(service).hang and time.monotonic() < deadline:
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        await asyncio.sleep(0.05)


@web.middleware
async def faults_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Apply the faults of the request's service before its handler runs."""
    context = request.app[CONTEXT_KEY]
    service = service_of(request.path)
    if service is None:
        return await handler(request)
    faults = context.faults.get(service)
    if faults.latency_ms:
        await asyncio.sleep(faults.latency_ms / 1000)
    if faults.hang:
        await _hold(request, context, service)
        faults = context.faults.get(service)
        if request.transport is None or request.transport.is_closing():
            raise web.HTTPRequestTimeout()
    upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
    # A Realtime socket is dropped at its next frame (see sandbox.realtime), not at upgrade.
    if faults.drop_socket and not (service == "realtime" and upgrade):
        if request.transport is not None:
            request.transport.abort()
        raise web.HTTPServiceUnavailable()
    if faults.unavailable:
        return gateway_error(503, "The upstream server is currently unavailable "
                                  "(sandbox fault)")
    return await handler(request)


async def _stand_in_header(_: web.Request, response: web.StreamResponse) -> None:
    response.headers[STAND_IN_HEADER] = STAND_IN_VALUE


def route_modules() -> list[ModuleType]:
    """The modules whose ``register(app, context)`` adds routes (import order = route order)."""
    from sandbox import api, auth, control, realtime

    return [control, auth, realtime, api]


def build_app(settings: Settings, faults: FaultBoard | None = None) -> web.Application:
    """The sandbox application with every route module registered."""
    context = Context(settings=settings, faults=faults or FaultBoard(tuple(SERVICES)))
    app = web.Application(middlewares=[faults_middleware])
    app[CONTEXT_KEY] = context
    app.on_response_prepare.append(_stand_in_header)

    async def index(_: web.Request) -> web.Response:
        return web.json_response({
            "notice": STAND_IN_NOTICE,
            "services": SERVICES,
            "control": "/_sandbox/faults",
        })

    app.router.add_get("/", index)
    for module in route_modules():
        module.register(app, context)
    return app
