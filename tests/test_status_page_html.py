"""The public status page read as HTML, without a browser: one row per registered component with
its label and the health document's status, the overall status, and nothing a visitor must not
see (error text, host names, ports, tokens). tests/test_status_page.py renders the same page in
headless Chromium on a phone-sized screen."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import ClientSession, web

from exporter.components import REGISTRY
from harness.ports import free_port
from tests.support import (
    SHARED_PG_DSN,
    SHARED_REDIS_URL,
    exporter_config,
    in_process_exporter,
    read_status_page,
)

ADMIN = "admin-token-for-the-html-status-page"


async def failing_api(port: int) -> web.AppRunner:
    """An API whose health URL answers 503 with a host name in the body."""
    async def health(_: web.Request) -> web.Response:
        return web.Response(status=503, text="upstream db-primary.internal:5432 refused")

    app = web.Application()
    app.router.add_get("/health", health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def fetch(session: ClientSession, url: str, **headers: str) -> Any:
    async with session.get(url, headers=headers) as answer:
        if answer.content_type == "application/json":
            return await answer.json()
        return await answer.text()


def test_page_rows_are_the_registered_components_with_the_health_documents_statuses() -> None:
    api_port = free_port()
    config = exporter_config(
        database=[{"name": "primary", "dsn": "${PG}"}],
        redis=[{"name": "cache", "url": "${REDIS}"}],
        api=[{"name": "health", "url": f"http://127.0.0.1:{api_port}/health"}],
        tokens={"admin": "${ADMIN}"}, rate_limits={"health": "1000/minute"},
        status_page={"title": "WedSync & friends status"})
    env = {"PG": SHARED_PG_DSN, "REDIS": SHARED_REDIS_URL, "ADMIN": ADMIN}

    async def scenario() -> tuple[str, dict[str, Any]]:
        api = await failing_api(api_port)
        try:
            async with in_process_exporter(config, env) as running, ClientSession() as http:
                for _ in range(100):
                    document = await fetch(http, f"{running.url}/api/system/health",
                                           Authorization=f"Bearer {ADMIN}")
                    statuses = {k: v["status"] for k, v in document["components"].items()}
                    if "unknown" not in (statuses["database"], statuses["redis"],
                                         statuses["api"]):
                        break
                    await asyncio.sleep(0.1)
                page = await fetch(http, f"{running.url}/")
                document = await fetch(http, f"{running.url}/api/system/health",
                                       Authorization=f"Bearer {ADMIN}")
                return page, document
        finally:
            await api.cleanup()

    page, document = asyncio.run(scenario())
    shown = read_status_page(page)
    assert {key: row["status"] for key, row in shown["rows"].items()} == {
        key: entry["status"] for key, entry in document["components"].items()}
    assert shown["rows"]["database"]["status"] == "healthy"
    assert shown["rows"]["api"]["status"] == "critical"
    assert shown["rows"]["external_services"]["status"] == "unknown"
    assert list(shown["rows"]) == [c.document_key for c in REGISTRY]
    assert {row["label"] for row in shown["rows"].values()} == {c.label for c in REGISTRY}
    assert shown["overall"] == document["overall_status"] == "critical"
    assert shown["title"] == "WedSync & friends status"
    assert "not monitored" in page  # external services have no target
    for forbidden in ("127.0.0.1", str(api_port), "503", "HTTP", "db-primary", "refused",
                      "postgresql://", ADMIN):
        assert forbidden not in page, forbidden
