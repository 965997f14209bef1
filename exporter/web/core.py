"""Core routes: /metrics, /-/healthy, /-/ready, POST /-/reload."""

from __future__ import annotations

from aiohttp import web

from exporter.metrics.exposition import CONTENT_TYPE
from exporter.web.hooks import Host

_PLAIN = {"Content-Type": CONTENT_TYPE}
_GZIP = {"Content-Type": CONTENT_TYPE, "Content-Encoding": "gzip", "Vary": "Accept-Encoding"}


def accepts_gzip(header: str) -> bool:
    """Whether an Accept-Encoding value allows gzip: listed (or ``*``) with a q above 0."""
    if header == "gzip" or header.startswith("gzip,"):  # what Prometheus sends
        return True
    gzip = star = None
    for item in header.split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip().lower()
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = 0.0  # unreadable: do not assume the client wants gzip
        if coding in ("gzip", "x-gzip"):
            gzip = quality if gzip is None else max(gzip, quality)
        elif coding == "*":
            star = quality
    if gzip is not None:
        return gzip > 0
    return star is not None and star > 0


def add_core_routes(app: web.Application, service: Host) -> None:
    """Register the core routes on ``app``."""

    async def metrics(request: web.Request) -> web.Response:
        # Only bytes rendered in the background are sent: a scrape never waits on a probe.
        rendered = service.renderer.current
        if accepts_gzip(request.headers.get("Accept-Encoding", "")):
            return web.Response(body=rendered.gzipped, headers=_GZIP)
        return web.Response(body=rendered.plain, headers=_PLAIN)

    async def healthy(_: web.Request) -> web.Response:
        return web.Response(text="WedSync exporter is healthy.\n")

    async def ready(_: web.Request) -> web.Response:
        if service.ready:
            return web.Response(text="WedSync exporter is ready.\n")
        return web.Response(status=503, text="Not ready: not every probe has run once.\n")

    async def reload(request: web.Request) -> web.Response:
        checked = service.guard.check(request, "reload", ("admin",))
        if isinstance(checked, web.Response):
            return checked
        ok, message = await service.reload()
        return web.json_response({"reloaded": ok, "message": message}, status=200 if ok else 400)

    app.router.add_get("/metrics", metrics)
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    app.router.add_post("/-/reload", reload)
