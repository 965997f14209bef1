"""The status page's JSON API, public like the page, and the operators' update route.

``GET /api/v2/summary.json``, ``/api/v2/status.json`` and ``/api/v2/incidents.json`` answer
the publisher's cached bytes (Statuspage's public shape; docs/status-page.md). ``POST
/api/status/incidents/{id}/updates`` takes ``{"body": "..."}`` with the admin token,
rate-limited (``rate_limits.status_updates``), at most 500 characters, shown escaped.
"""

from __future__ import annotations

import json

from aiohttp import web

from exporter.statuspage.incidents import UpdateRefused
from exporter.statuspage.publisher import StatusPublisher
from exporter.summary import iso
from exporter.web.hooks import Host
from exporter.web.security import json_error

# Public and cheap: any cache or reader may keep an answer for a few seconds.
PUBLIC = {"Cache-Control": "public, max-age=5", "Access-Control-Allow-Origin": "*"}
ROUTE = "status_updates"
MAX_BODY_BYTES = 4096


def add_statuspage_api_routes(app: web.Application, service: Host,
                              publisher: StatusPublisher) -> None:
    """Register the API routes and the publisher's background work on ``app``."""
    for family in ("wedsync_http_unauthorized_total", "wedsync_http_rate_limited_total"):
        service.store.zero(family, {"route": ROUTE})

    async def start(_: web.Application) -> None:
        await publisher.start()

    async def stop(_: web.Application) -> None:
        await publisher.close()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)

    def answer(attribute: str) -> web.Response:
        if not service.config.status_page_enabled:
            return json_error(404, "the status page is turned off")
        return web.Response(body=getattr(publisher.current(), attribute),
                            content_type="application/json", headers=PUBLIC)

    async def summary(_: web.Request) -> web.Response:
        return answer("summary")

    async def status(_: web.Request) -> web.Response:
        return answer("status")

    async def incidents(_: web.Request) -> web.Response:
        return answer("incidents")

    async def post_update(request: web.Request) -> web.Response:
        checked = service.guard.check(request, ROUTE, ("admin",))
        if isinstance(checked, web.Response):
            return checked
        if (request.content_length or 0) > MAX_BODY_BYTES:
            return json_error(413, f"the body is over {MAX_BODY_BYTES} bytes; an update is at "
                                   f"most 500 characters")
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return json_error(400, 'the body must be JSON such as {"body": "We are on it."}')
        text = body.get("body") if isinstance(body, dict) else None
        try:
            update = publisher.incidents.add_update(request.match_info["incident"], text,
                                                    service.clock())
        except UpdateRefused as exc:
            return json_error(400, str(exc))
        if publisher.shared_updates is not None:
            incident = publisher.incidents.find(request.match_info["incident"])
            if incident is not None:
                await publisher.shared_updates.publish(incident, update)
        publisher.rebuild()
        return web.json_response({"id": update.id, "body": update.body,
                                  "created_at": iso(update.created_at)}, status=201)

    app.router.add_get("/api/v2/summary.json", summary)
    app.router.add_get("/api/v2/status.json", status)
    app.router.add_get("/api/v2/incidents.json", incidents)
    app.router.add_post("/api/status/incidents/{incident}/updates", post_update)

