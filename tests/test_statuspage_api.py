"""The Statuspage-compatible API and the page around it, against a running exporter probing the
shared PostgreSQL and Redis and an API whose two health URLs a test can break: component
grades, the page's indicator, incidents opened and resolved by outages with operators' updates
(admin token, rate limit, length cap, escaping), maintenance windows that change the page and
nothing else, the wedding-day banner, unmonitored components kept apart, the JSON validated
against the fields Statuspage documents, and no token, host name or error text anywhere."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
from aiohttp import ClientSession, web

from harness.ports import free_port
from tests.support import SHARED_PG_DSN, SHARED_REDIS_URL, exporter_config, in_process_exporter

ADMIN = "admin-token-canary-for-statuspage-9d1e"
INGEST = "ingest-token-canary-for-statuspage-4b7c"
HIDDEN_HOST = "db-primary.internal"
ERROR_TEXT = "upstream refused the connection"

# The fields of Statuspage's public API (docs/status-page.md lists them) that we rely on.
DATE = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"}
PAGE = {"type": "object", "required": ["id", "name", "url", "time_zone", "updated_at"],
        "properties": {"id": {"type": "string"}, "name": {"type": "string"},
                       "url": {"type": "string"}, "time_zone": {"type": "string"},
                       "updated_at": DATE}}
STATUS = {"type": "object", "required": ["indicator", "description"],
          "properties": {"indicator": {"enum": ["none", "minor", "major", "critical"]},
                         "description": {"type": "string"}}}
COMPONENT = {"type": "object",
             "required": ["id", "name", "status", "created_at", "updated_at", "position",
                          "description", "showcase", "start_date", "group_id", "page_id",
                          "group", "only_show_if_degraded"],
             "properties": {"status": {"enum": ["operational", "degraded_performance",
                                                "partial_outage", "major_outage",
                                                "under_maintenance"]},
                            "position": {"type": "integer"}, "created_at": DATE,
                            "updated_at": DATE, "group": {"type": "boolean"}}}
UPDATE = {"type": "object",
          "required": ["id", "status", "body", "incident_id", "created_at", "updated_at",
                       "display_at"],
          "properties": {"body": {"type": "string"}, "created_at": DATE}}
INCIDENT = {"type": "object",
            "required": ["id", "name", "status", "created_at", "updated_at", "monitoring_at",
                         "resolved_at", "impact", "shortlink", "started_at", "page_id",
                         "incident_updates", "components"],
            "properties": {"status": {"enum": ["investigating", "identified", "monitoring",
                                               "resolved", "postmortem", "scheduled",
                                               "in_progress", "verifying", "completed"]},
                           "impact": {"enum": ["none", "minor", "major", "critical",
                                               "maintenance"]},
                           "started_at": DATE, "incident_updates": {"type": "array",
                                                                    "items": UPDATE},
                           "components": {"type": "array", "items": COMPONENT}}}
MAINTENANCE = {"allOf": [INCIDENT, {"type": "object",
                                    "required": ["scheduled_for", "scheduled_until"],
                                    "properties": {"scheduled_for": DATE,
                                                   "scheduled_until": DATE}}]}
SUMMARY = {"type": "object",
           "required": ["page", "status", "components", "incidents", "scheduled_maintenances"],
           "properties": {"page": PAGE, "status": STATUS,
                          "components": {"type": "array", "items": COMPONENT},
                          "incidents": {"type": "array", "items": INCIDENT},
                          "scheduled_maintenances": {"type": "array", "items": MAINTENANCE},
                          "not_monitored": {"type": "array", "items": {"type": "string"}}}}
STATUS_DOCUMENT = {"type": "object", "required": ["page", "status"],
                   "properties": {"page": PAGE, "status": STATUS}}


class FlakyApi:
    """Two health URLs (``/a``, ``/b``) that answer 200, or 503 with internals in the body."""

    def __init__(self) -> None:
        self.port = free_port()
        self.failing: set[str] = set()
        self._runner: web.AppRunner | None = None

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    async def start(self) -> None:
        async def health(request: web.Request) -> web.Response:
            if request.match_info["name"] in self.failing:
                return web.Response(status=503, text=f"{ERROR_TEXT} at {HIDDEN_HOST}:5432")
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_get("/{name}", health)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def config(api: FlakyApi, **sections: Any) -> dict[str, Any]:
    return exporter_config(
        database=[{"name": "primary", "dsn": "${PG}"}],
        redis=[{"name": "cache", "url": "${REDIS}"}],
        api=[{"name": "a", "url": api.url("a")}, {"name": "b", "url": api.url("b")}],
        tokens={"admin": "${ADMIN}", "ingest": "${INGEST}"},
        rate_limits={"health": "1000/minute", "status_updates": "2/minute"},
        **sections)


ENV = {"PG": SHARED_PG_DSN, "REDIS": SHARED_REDIS_URL, "ADMIN": ADMIN, "INGEST": INGEST}


@asynccontextmanager
async def running(api: FlakyApi, clock: Any = None, **sections: Any) -> AsyncIterator[Any]:
    await api.start()
    try:
        async with in_process_exporter(config(api, **sections), ENV, clock=clock) as exporter, \
                ClientSession() as http:
            yield exporter, http
    finally:
        await api.stop()


async def get_json(http: ClientSession, url: str) -> Any:
    async with http.get(url) as answer:
        assert answer.status == 200, await answer.text()
        assert answer.content_type == "application/json"
        return await answer.json()


async def until(check: Any, timeout: float = 15.0) -> Any:
    """Poll the coroutine function ``check`` until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await check()
        if found:
            return found
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


def grades(summary: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["status"] for c in summary["components"]}


def test_outages_grade_components_open_incidents_with_updates_and_resolve_them() -> None:
    api = FlakyApi()

    async def scenario() -> None:
        async with running(api) as (exporter, http):
            base = exporter.url

            async def summary_when(expected: dict[str, str]) -> Any:
                async def check() -> Any:
                    found = await get_json(http, f"{base}/api/v2/summary.json")
                    return found if {k: grades(found).get(k) for k in expected} == expected \
                        else None
                return await until(check)

            healthy = await summary_when({"database": "operational", "redis": "operational",
                                          "api": "operational"})
            jsonschema.validate(healthy, SUMMARY)
            assert healthy["status"] == {"indicator": "none",
                                         "description": "All Systems Operational"}
            assert healthy["incidents"] == [] and healthy["scheduled_maintenances"] == []
            # Unmonitored components are not in `components`, but listed apart.
            assert set(healthy["not_monitored"]) >= {"auth", "realtime", "external"}
            assert not set(healthy["not_monitored"]) & set(grades(healthy))
            status = await get_json(http, f"{base}/api/v2/status.json")
            jsonschema.validate(status, STATUS_DOCUMENT)
            assert status["status"] == healthy["status"]

            api.failing = {"b"}
            partial = await summary_when({"api": "partial_outage"})
            jsonschema.validate(partial, SUMMARY)
            assert partial["status"]["indicator"] == "major"
            [incident] = partial["incidents"]
            assert incident["components"][0]["id"] == "api"
            assert (incident["status"], incident["impact"]) == ("investigating", "major")

            # An operator's update: admin token only, escaped on the page, rate-limited.
            path = f"{base}/api/status/incidents/{incident['id']}/updates"
            update = {"body": "We are looking into slow <script>alert(1)</script> pages."}
            async with http.post(path, json=update) as answer:
                assert answer.status == 401
            async with http.post(path, json=update,
                                 headers={"Authorization": f"Bearer {INGEST}"}) as answer:
                assert answer.status == 403
            admin = {"Authorization": f"Bearer {ADMIN}"}
            async with http.post(path, json={"body": "x" * 501}, headers=admin) as answer:
                assert answer.status == 400
                assert "limit is 500" in (await answer.json())["error"]
            async with http.post(path, json=update, headers=admin) as answer:
                assert answer.status == 201, await answer.text()
            async with http.post(path, json=update, headers=admin) as answer:
                assert answer.status == 429 and "Retry-After" in answer.headers
            async with http.post(f"{base}/api/status/incidents/database-1/updates",
                                 json=update, headers=admin) as answer:
                assert answer.status == 429  # the limit is per token, whatever the incident

            summary = await get_json(http, f"{base}/api/v2/summary.json")
            [shown_update] = summary["incidents"][0]["incident_updates"]
            assert shown_update["body"] == update["body"]
            async with http.get(f"{base}/") as answer:
                page = await answer.text()
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page
            assert f'data-incident="{incident["id"]}"' in page
            assert 'data-component="api" data-status="critical" data-grade="partial_outage"' \
                in page

            api.failing = {"a", "b"}
            major = await summary_when({"api": "major_outage"})
            assert major["status"] == {"indicator": "critical",
                                       "description": "Major System Outage"}
            assert major["incidents"][0]["impact"] == "critical"
            assert major["incidents"][0]["id"] == incident["id"]  # the same incident

            api.failing = set()
            over = await summary_when({"api": "operational"})
            assert over["incidents"] == []
            history = await get_json(http, f"{base}/api/v2/incidents.json")
            [resolved] = history["incidents"]
            assert resolved["status"] == "resolved" and resolved["resolved_at"] is not None
            assert resolved["started_at"] == incident["started_at"]

    asyncio.run(scenario())


def test_nothing_secret_or_internal_reaches_the_page_or_the_api() -> None:
    """Canary: tokens, the probed host and port, and the failing service's error text."""
    api = FlakyApi()
    api.failing = {"a", "b"}

    async def scenario() -> None:
        async with running(api, prometheus={"url": "http://127.0.0.1:1"}) as (exporter, http):
            base = exporter.url

            async def critical() -> Any:
                found = await get_json(http, f"{base}/api/v2/summary.json")
                return grades(found).get("api") == "major_outage"
            await until(critical)
            bodies = []
            for path in ("/", "/api/v2/summary.json", "/api/v2/status.json",
                         "/api/v2/incidents.json"):
                async with http.get(f"{base}{path}") as answer:
                    assert answer.status == 200
                    bodies.append(await answer.text())
            for body in bodies:
                for secret in (ADMIN, INGEST, "127.0.0.1", str(api.port), HIDDEN_HOST,
                               ERROR_TEXT, "503", "HTTP", "postgresql://", "redis://",
                               ":5432", ":6379"):
                    assert secret not in body, secret

    asyncio.run(scenario())


def test_maintenance_is_shown_in_advance_and_changes_only_the_page() -> None:
    api = FlakyApi()
    api.failing = {"a", "b"}
    now = datetime.now(UTC)
    windows = [
        {"start": (now - timedelta(hours=1)).isoformat(), "end": (now + timedelta(hours=1))
         .isoformat(), "components": ["api"], "message": "Moving the API to a new region."},
        {"start": (now + timedelta(days=2)).isoformat(), "end": (now + timedelta(days=2,
         hours=1)).isoformat(), "components": ["redis"], "message": "Cache upgrade <b>."},
    ]

    async def scenario() -> None:
        async with running(api, maintenance={"windows": windows},
                           deploy_gate={"fail_open": True}) as (exporter, http):
            base = exporter.url
            admin = {"Authorization": f"Bearer {ADMIN}"}

            async def api_down() -> Any:
                async with http.get(f"{base}/api/system/health", headers=admin) as answer:
                    document = await answer.json()
                return document["components"]["api"]["status"] == "critical"
            await until(api_down)
            await asyncio.sleep(1.5)  # a few builds of the page while the API is down
            summary = await get_json(http, f"{base}/api/v2/summary.json")
            jsonschema.validate(summary, SUMMARY)
            assert grades(summary)["api"] == "under_maintenance"
            assert summary["incidents"] == []  # planned work is no incident
            assert summary["status"] == {"indicator": "none",
                                         "description": "Service Under Maintenance"}
            planned = {m["scheduled_for"][:13]: m for m in summary["scheduled_maintenances"]}
            assert [m["status"] for m in planned.values()] == ["in_progress", "scheduled"]
            assert [c["id"] for m in planned.values() for c in m["components"]] == [
                "api", "redis"]
            async with http.get(f"{base}/") as answer:
                page = await answer.text()
            assert "Moving the API to a new region." in page
            assert "Cache upgrade &lt;b&gt;." in page  # shown two days ahead, escaped
            assert 'data-grade="under_maintenance"' in page
            assert 'data-indicator="none">Service Under Maintenance' in page
            # Prometheus is told (for the uptime figures only): the API's window is open, the
            # cache's is two days away.
            async with http.get(f"{base}/metrics") as answer:
                metrics = await answer.text()
            assert 'wedsync_maintenance_active{component="api"} 1.0' in metrics
            assert 'wedsync_maintenance_active{component="redis"} 0.0' in metrics
            # Nothing else changed: the health document, /metrics and the deploy gate still
            # see the API down.
            async with http.get(f"{base}/metrics") as answer:
                metrics = await answer.text()
            assert 'wedsync_up{component="api",target="a"} 0.0' in metrics
            async with http.get(f"{base}/api/system/deploy-gate", headers=admin) as answer:
                gate = await answer.json()
            assert gate["allowed"] is False
            assert any("api (a, b)" in reason for reason in gate["reasons"]), gate

    asyncio.run(scenario())


def test_a_wedding_day_shows_a_calm_banner_and_other_days_do_not() -> None:
    api = FlakyApi()
    saturday = datetime(2026, 6, 6, 13, 0, tzinfo=UTC)

    async def scenario(clock: Any) -> str:
        async with running(api, clock=clock) as (exporter, http), \
                http.get(f"{exporter.url}/") as answer:
            assert answer.status == 200
            return await answer.text()

    page = asyncio.run(scenario(lambda: saturday))
    assert 'id="wedding-day"' in page and "wedding-day mode" in page
    tuesday = saturday - timedelta(days=4)
    assert 'id="wedding-day"' not in asyncio.run(scenario(lambda: tuesday))


def test_without_prometheus_the_page_says_history_is_not_kept() -> None:
    api = FlakyApi()

    async def scenario() -> str:
        async with running(api) as (exporter, http), http.get(f"{exporter.url}/") as answer:
            return await answer.text()

    page = asyncio.run(scenario())
    assert 'data-history="not configured"' in page


def test_the_api_is_public_and_cacheable_and_off_with_the_page() -> None:
    api = FlakyApi()

    async def scenario(enabled: bool) -> tuple[int, dict[str, str]]:
        async with running(api, status_page={"enabled": enabled}) as (exporter, http), \
                http.get(f"{exporter.url}/api/v2/summary.json") as answer:
            return answer.status, dict(answer.headers)

    status, headers = asyncio.run(scenario(True))
    assert status == 200 and "max-age" in headers["Cache-Control"]
    assert json.dumps(headers).count("Set-Cookie") == 0
    assert asyncio.run(scenario(False))[0] == 404
