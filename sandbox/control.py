"""The HTTP control endpoint for faults (loopback use only; it has no authentication).

``GET /_sandbox/faults`` every service's faults; ``PATCH /_sandbox/faults/{service}`` with a JSON
object sets some faults of one service (the others stay); ``DELETE /_sandbox/faults/{service}``
or ``DELETE /_sandbox/faults`` puts one or every service back to normal. Bad input is a 400 (404
for an unknown service) that names the problem and changes nothing.
"""

from __future__ import annotations

import json

from aiohttp import web

from sandbox import STAND_IN_NOTICE
from sandbox.context import Context
from sandbox.faults import FaultError

PREFIX = "/_sandbox"


def register(app: web.Application, context: Context) -> None:
    """Add the control routes."""
    board = context.faults

    def answer(status: int = 200) -> web.Response:
        return web.json_response({"notice": STAND_IN_NOTICE, "faults": board.snapshot()},
                                 status=status)

    def problem(status: int, message: str) -> web.Response:
        return web.json_response({"error": message}, status=status)

    def known(service: str) -> web.Response | None:
        if service not in board.services:
            return problem(404, f"unknown service {service!r}; known: "
                                f"{', '.join(board.services)}")
        return None

    async def show(_: web.Request) -> web.Response:
        return answer()

    async def change(request: web.Request) -> web.Response:
        service = request.match_info["service"]
        if (missing := known(service)) is not None:
            return missing
        try:
            changes = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return problem(400, "the body must be a JSON object of faults, e.g. "
                                '{"latency_ms": 150}')
        if not isinstance(changes, dict):
            return problem(400, "the body must be a JSON object of faults")
        try:
            board.set(service, **changes)
        except FaultError as exc:
            return problem(400, str(exc))
        return answer()

    async def clear(request: web.Request) -> web.Response:
        service = request.match_info.get("service")
        if service is not None and (missing := known(service)) is not None:
            return missing
        board.clear(service)
        return answer()

    app.router.add_get(f"{PREFIX}/faults", show)
    app.router.add_patch(f"{PREFIX}/faults/{{service}}", change)
    app.router.add_put(f"{PREFIX}/faults/{{service}}", change)
    app.router.add_delete(f"{PREFIX}/faults/{{service}}", clear)
    app.router.add_delete(f"{PREFIX}/faults", clear)
