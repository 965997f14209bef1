"""Stand-in for the WedSync API (Next.js on serverless functions), under ``/api``.

Every route here is the ``api`` service: its faults (latency, 503, hang, dropped connection,
error rate) apply without any code in the handler. The WedSync endpoints the load tests hit are
in ``sandbox.wedsync_api``.
"""

from __future__ import annotations

from aiohttp import web

from sandbox import STAND_IN_NOTICE
from sandbox.context import Context


def register(app: web.Application, context: Context) -> None:
    """Add the API routes."""

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "service": "wedsync-api",
                                  "notice": STAND_IN_NOTICE})

    app.router.add_get("/api/health", health)
