"""The sandbox's aiohttp application: one port, every stand-in service under its gateway path.

Each service lives under a path prefix (``SERVICES``) and its faults apply to every request under
that prefix, in the middleware below, so a route module only writes the happy path. To add
routes (the WedSync API endpoints, say), write a module with ``register(app, context)`` and add
it to ``route_modules()``; routes under ``/api`` are the ``api`` service and get its faults.

Request observers (``Context.request_observers``) see every service request once it is answered
(method, route template, status, seconds, faults included): the place for a reporter that sends
the stand-in API's own timings somewhere, e.g. to the exporter's ingestion endpoint.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from types import ModuleType

from aiohttp import web

from sandbox import STAND_IN_NOTICE, api, auth, control, realtime, timings, wedsync_api
from sandbox.context import CONTEXT_KEY, Context, RequestObserver, RequestRecord
from sandbox.faults import FaultBoard, under
from sandbox.gateway import gateway_error
from sandbox.settings import Settings

# The route modules share Context, RequestRecord and gateway_error from the modules below
# them (sandbox.context, sandbox.gateway), so none of them imports this one.
__all__ = ["CONTEXT_KEY", "SERVICES", "Context", "RequestObserver", "RequestRecord",
           "build_app", "route_modules", "service_of"]

log = logging.getLogger("sandbox.app")

# Service name -> path prefix. The prefixes are Supabase's gateway paths.
SERVICES: dict[str, str] = {"auth": "/auth/v1", "realtime": "/realtime/v1", "api": "/api"}
# The services' own paths, as reached without the gateway (Auth's port 9999 serves /health,
# /token, ... at its root; the Realtime container serves /socket/websocket). Same faults.
DIRECT_PATHS: dict[str, tuple[str, ...]] = {
    "auth": ("/health", "/token", "/user", "/logout", "/settings"),
    "realtime": ("/socket",),
}
STAND_IN_HEADER = "X-Stand-In"
STAND_IN_VALUE = "wedsync-sandbox; not Supabase"
# A hung request is let go at the latest after this long, so nothing waits forever.
HANG_LIMIT = 600.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def service_of(path: str) -> str | None:
    """The service a request path belongs to, or None (control and info routes)."""
    for service, prefix in SERVICES.items():
        if under(path, prefix):
            return service
    for service, prefixes in DIRECT_PATHS.items():
        if any(under(path, prefix) for prefix in prefixes):
            return service
    return None


async def _hold(request: web.Request, context: Context, service: str) -> None:
    """Wait while the service's hang fault is on (or until the client goes away)."""
    deadline = time.monotonic() + HANG_LIMIT
    while context.faults.get(service).hang and time.monotonic() < deadline:
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        await asyncio.sleep(0.05)


def _route_of(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else request.path


def _notify(context: Context, record: RequestRecord) -> None:
    for observer in context.request_observers:
        try:
            observer(record)
        except Exception:  # an observer's bug must not fail the request it watched
            log.exception("request observer %r failed", observer)


@web.middleware
async def observers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Tell the request observers about each service request once it is answered (outermost, so
    that fault latency and fault answers are part of what they see)."""
    context = request.app[CONTEXT_KEY]
    service = service_of(request.path)
    if not context.request_observers or service is None:
        return await handler(request)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        _notify(context, RequestRecord(service, request.method, _route_of(request), status,
                                       time.perf_counter() - started))


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
    status = context.faults.error_status_for(service, request.path)
    if status is not None:
        return web.json_response({"error": "injected_failure",
                                  "message": "request failed by the sandbox's error_rate fault"},
                                 status=status)
    return await handler(request)


async def _stand_in_header(_: web.Request, response: web.StreamResponse) -> None:
    response.headers[STAND_IN_HEADER] = STAND_IN_VALUE


def route_modules() -> list[ModuleType]:
    """The modules whose ``register(app, context)`` adds routes (in route order)."""
    return [control, auth, realtime, api, wedsync_api, timings]


def build_app(settings: Settings, faults: FaultBoard | None = None) -> web.Application:
    """The sandbox application with every route module registered."""
    context = Context(settings=settings, faults=faults or FaultBoard(SERVICES))
    app = web.Application(middlewares=[observers_middleware, faults_middleware])
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
