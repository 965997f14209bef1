"""aiohttp's per-connection protocol, with malformed requests answered like every other
refusal.

A request aiohttp's parser cannot read (a control character in a header, an overlong line)
never reaches the application's middleware: aiohttp answers it itself with a text body that
quotes the offending header back — an Authorization header included — and logs a traceback
at error level for each one, which a client could use to flood the log. Here it is a JSON 400
naming only the kind of problem, counted as ``malformed_request``, and logged at debug level.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from exporter.web.refusal import tag


class HardenedRequestHandler(RequestHandler):
    """RequestHandler whose answers to unparseable requests are clean, counted 400s."""

    on_malformed: Callable[[], None] | None = None

    def handle_error(self, request: BaseRequest, status: int = 500,
                     exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if not 400 <= status < 500:
            return super().handle_error(request, status, exc, message)
        self.logger.debug("malformed request from %s: %s", request.remote,
                          type(exc).__name__ if exc else status)
        if self.on_malformed is not None:
            self.on_malformed()
        kind = type(exc).__name__ if exc is not None else "malformed request"
        response = web.json_response(
            {"error": f"the request is not valid HTTP/1.1 ({kind}); nothing was processed"},
            status=status)
        response.force_close()
        tag(response, "malformed_request")
        return response


def handler_factory(server: web.Server, on_malformed: Callable[[], None]
                    ) -> Callable[[], RequestHandler]:
    """What ``server()`` does, with HardenedRequestHandler instead of RequestHandler."""

    def make() -> RequestHandler:
        handler = HardenedRequestHandler(server, loop=server._loop, **server._kwargs)
        handler.on_malformed = on_malformed
        return handler

    return make
