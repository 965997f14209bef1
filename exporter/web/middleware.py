"""The one middleware every request passes: connection bookkeeping, the Content-Encoding
rule, a count of every 4xx answer by reason (wedsync_http_refused_requests_total), and the
tarpit for refusals beyond a client's budget (``exporter/web/tarpit.py``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from aiohttp import web

from exporter.catalogue import HTTP_REFUSAL_REASONS
from exporter.metrics.store import MetricStore
from exporter.web.bodies import ENCODED_BODY_PATHS, content_encoding
from exporter.web.connections import ConnectionGuard
from exporter.web.refusal import RequestRefused, reason_of
from exporter.web.tarpit import Tarpit

REFUSED = "wedsync_http_refused_requests_total"
# The deploy gate's 423 is its answer ("not now"), not a refused request.
NOT_REFUSALS = frozenset({423})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def counts_as_refusal(status: int) -> bool:
    """True for the statuses counted in wedsync_http_refused_requests_total."""
    return 400 <= status < 500 and status not in NOT_REFUSALS


# An unread body larger than this is not read at all: the answer goes out and the connection
# closes. A smaller one is read and dropped (for at most LINGER_SECONDS) so the connection
# stays usable. The server's own lingering is off (service.py): aiohttp would otherwise read
# every unread body to its end — a megabyte per request under a flood of large bodies, where
# ``force_close`` on the answer did not stop it.
LINGER_BYTES = 64 * 1024
LINGER_SECONDS = 2.0


def _large_body_unread(request: web.Request) -> bool:
    if not request.body_exists or request.content.is_eof():
        return False
    length = request.content_length
    return length is None or length > LINGER_BYTES


def stop_reading(request: web.BaseRequest) -> None:
    """Read no more from the request's connection (it closes after the answer)."""
    transport = request.transport
    if transport is not None:
        with contextlib.suppress(AttributeError, NotImplementedError, RuntimeError):
            transport.pause_reading()


def request_middleware(store: MetricStore, connections: ConnectionGuard, tarpit: Tarpit
                       ) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """The middleware, counting into ``store``, telling ``connections`` when a request
    is being handled (a busy connection is never timed out or evicted), and holding refusals
    beyond a client's budget in ``tarpit``."""
    for reason in HTTP_REFUSAL_REASONS:
        store.zero(REFUSED, {"reason": reason})

    def count(request: web.Request, response: web.StreamResponse) -> None:
        if counts_as_refusal(response.status):
            store.inc(REFUSED, {"reason": reason_of(response)})

    async def settle_body(request: web.Request, response: web.StreamResponse) -> None:
        """Hold a refusal beyond the client's budget (its body unread, the connection closed
        after it, or at once without an answer when the tarpit is full); else drop a small
        unread body (the connection stays usable) and close after a large one."""
        if counts_as_refusal(response.status) and tarpit.over_budget(request):
            stop_reading(request)
            response.force_close()
            if not await tarpit.hold(request):
                transport = request.transport
                if transport is not None:
                    transport.abort()
            return
        if not request.body_exists or request.content.is_eof():
            return
        if _large_body_unread(request):
            # Reading (and discarding) a large body only to keep the connection costs more
            # than a new connection would: answer and close instead, reading nothing more
            # meanwhile (the transport went on reading until the close, 0.5 MB of a refused
            # 1 MB bomb, after the answer had gone).
            response.force_close()
            stop_reading(request)
            return
        with contextlib.suppress(Exception):
            async with asyncio.timeout(min(LINGER_SECONDS,
                                           connections.settings.body_timeout)):
                while await request.content.readany():
                    pass

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        transport = request.transport
        connections.request_started(transport)
        try:
            try:
                # Refused before the handler runs: a compressed body is never decoded for a
                # route that does not take one (aiohttp's own decoding is switched off).
                # Routes that do take one check it after the token (and count it themselves).
                if request.path not in ENCODED_BODY_PATHS:
                    content_encoding(request)
                response = await handler(request)
            except RequestRefused as exc:
                response = exc.response()
            except web.HTTPException as exc:
                count(request, exc)
                await settle_body(request, exc)
                raise
            count(request, response)
            await settle_body(request, response)
            return response
        finally:
            connections.request_finished(transport)

    return middleware
