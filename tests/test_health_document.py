"""``GET /api/system/health`` as DESIGN.md pins it, with all six components probed against the
sandbox, the shared PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import pytest

from exporter.components import REGISTRY
from harness.ports import free_port
from tests.support import (
    CANARY_ANON_KEY,
    CANARY_PASSWORD,
    PROBE_EMAIL,
    SHARED_PG_DSN,
    SHARED_REDIS_URL,
    exporter_config,
    in_process_exporter,
)

ADMIN = "admin-token-for-health-tests"
ENV = {"PG": SHARED_PG_DSN, "REDIS": SHARED_REDIS_URL, "KEY": CANARY_ANON_KEY,
       "PW": CANARY_PASSWORD, "ADMIN": ADMIN}
# DESIGN.md's six components; components added later (through the registry) come after them
# and show "unknown" here, where nothing configures them.
KEYS = ("database", "auth", "realtime", "redis", "api", "external_services")
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def six_components(sandbox, **overrides):
    """A config probing all six components every second (realtime with the shipped 100 ms)."""
    sections = {
        "database": [{"name": "primary", "dsn": "${PG}"}],
        "redis": [{"name": "cache", "url": "${REDIS}"}],
        "auth": [{"name": "supabase", "url": sandbox.auth_url, "anon_key": "${KEY}",
                  "sign_in": {"enabled": True, "email": PROBE_EMAIL, "password": "${PW}"},
                  "thresholds": {"degraded": "300ms", "critical": "2s"}}],
        "realtime": [{"name": "supabase", "url": sandbox.realtime_url, "anon_key": "${KEY}",
                      "thresholds": {"degraded": "100ms", "critical": "1s"}}],
        "api": [{"name": "health", "url": sandbox.api_url,
                 "json_field": {"path": "status", "equals": "ok"}}],
        "external": [{"name": "payments", "url": sandbox.api_url}],
        "tokens": {"admin": "${ADMIN}"},
        "rate_limits": {"health": "1000/minute"},
    }
    sections.update(overrides)
    return exporter_config(**sections)


async def get_health(exporter, query: str = ""):
    async with aiohttp.ClientSession() as session, session.get(
            f"{exporter.url}/api/system/health{query}",
            headers={"Authorization": f"Bearer {ADMIN}"}) as answer:
        return answer.status, await answer.json()


async def wait_health(exporter, predicate, timeout: float = 15.0):
    """Poll the document until ``predicate(doc)``; the document."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        _, document = await get_health(exporter)
        if predicate(document):
            return document
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"health document never matched: {document}")
        await asyncio.sleep(0.2)


def statuses(document):
    """The statuses of the six components these tests configure."""
    return {k: v["status"] for k, v in document["components"].items() if k in KEYS}


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_every_component_key_is_present_and_unknown_when_not_configured() -> None:
    async def scenario():
        config = exporter_config(redis=[{"name": "cache", "url": SHARED_REDIS_URL}],
                                 tokens={"admin": "${ADMIN}"})
        async with in_process_exporter(config, {"ADMIN": ADMIN}) as exporter:
            return await wait_health(exporter, lambda d: d["components"]["redis"]["status"]
                                     != "unknown")

    document = run(scenario())
    assert tuple(document["components"]) == tuple(c.document_key for c in REGISTRY)
    assert tuple(document["components"])[:len(KEYS)] == KEYS
    for component in REGISTRY:
        if component.name != "redis":
            assert document["components"][component.document_key] == {
                "status": "unknown", "response_time_ms": None, "checked_at": None,
                "last_error": None,
                # A component essential only where configured (the pooler) is not, here.
                "essential": component.essential and not component.essential_when_configured}
    assert document["components"]["external_services"]["essential"] is False
    assert document["components"]["pooler"]["essential"] is False
    assert document["overall_status"] == document["components"]["redis"]["status"] == "healthy"
    assert ISO.match(document["checked_at"])
    assert document["performance_metrics"] == {
        "avg_response_time": None, "p95_response_time": None, "error_rate": None,
        "active_connections": None}


def test_all_six_components_healthy_against_the_sandbox_postgres_and_redis(sandbox) -> None:
    async def scenario():
        async with in_process_exporter(six_components(sandbox), ENV) as exporter:
            document = await wait_health(exporter, lambda d: set(statuses(d).values()) == {
                "healthy"})
            store = exporter.service.store
            return document, store

    document, store = run(scenario())
    assert document["overall_status"] == "healthy"
    for key in KEYS:
        component = document["components"][key]
        assert component["last_error"] is None, key
        assert 0 < component["response_time_ms"] < 1000, key
        assert ISO.match(component["checked_at"]), key
        (target,) = component["targets"].values()
        assert target["status"] == "healthy"
        label = "external" if key == "external_services" else key
        (name,) = component["targets"]
        assert store.get("wedsync_component_status", {
            "component": label, "target": name, "status": "healthy"}) == 1
    assert document["performance_metrics"]["active_connections"] >= 1


def test_a_150_ms_realtime_echo_makes_realtime_and_overall_degraded(sandbox) -> None:
    sandbox.set_faults("realtime", echo_delay_ms=150)

    async def scenario():
        async with in_process_exporter(six_components(sandbox), ENV) as exporter:
            document = await wait_health(
                exporter, lambda d: d["components"]["realtime"]["status"] == "degraded")
            return document, exporter.service.store

    document, store = run(scenario())
    realtime = document["components"]["realtime"]
    assert 150 <= realtime["response_time_ms"] < 400
    assert realtime["last_error"] is None
    assert document["overall_status"] == "degraded"
    assert store.get("wedsync_component_status", {"component": "realtime", "target": "supabase",
                                                  "status": "degraded"}) == 1


def test_external_down_degrades_overall_but_api_down_makes_it_critical(sandbox) -> None:
    dead = f"http://127.0.0.1:{free_port()}/health"

    async def scenario(**override):
        async with in_process_exporter(six_components(sandbox, **override), ENV) as exporter:
            return await wait_health(exporter, lambda d: "critical" in statuses(d).values()
                                     and "unknown" not in statuses(d).values())

    document = run(scenario(external=[{"name": "payments", "url": dead}]))
    assert document["components"]["external_services"]["status"] == "critical"
    assert document["overall_status"] == "degraded"
    error = document["components"]["external_services"]["last_error"]
    assert error == "connect: the service refused the connection"
    document = run(scenario(api=[{"name": "health", "url": sandbox.api_url},
                                 {"name": "replica", "url": dead}]))
    api = document["components"]["api"]
    assert api["status"] == "critical" and document["overall_status"] == "critical"
    assert api["targets"]["health"]["status"] == "healthy"
    assert api["targets"]["replica"]["status"] == "critical"
    assert api["last_error"] == "replica: connect: the API refused the connection"
    assert "127.0.0.1" not in str(document)


def test_component_query_narrows_the_document_and_refuses_unknown_keys(sandbox) -> None:
    async def scenario():
        async with in_process_exporter(six_components(sandbox), ENV) as exporter:
            await wait_health(exporter, lambda d: "unknown" not in statuses(d).values())
            narrowed = await get_health(exporter, "?component=external_services")
            refused = await get_health(exporter, "?component=payments")
            return narrowed, refused

    (status, narrowed), (bad_status, refused) = run(scenario())
    assert status == 200 and list(narrowed["components"]) == ["external_services"]
    assert narrowed["overall_status"] == "healthy"
    assert bad_status == 400
    assert refused["error"].startswith("unknown component 'payments'; known: database, auth, "
                                       "realtime, redis, api, external_services")
    assert refused["error"].endswith(", ".join(c.document_key for c in REGISTRY))


class Ingestion:
    """Stands in for the service's ingestion: what the health document asks of it."""

    def __init__(self, summary):
        self.summary = summary

    def performance_summary(self):
        if isinstance(self.summary, Exception):
            raise self.summary
        return self.summary

    async def close(self):
        return None


@pytest.mark.parametrize(("summary", "expected"), [
    ({"avg_response_time": 120.5, "p95_response_time": 310, "error_rate": 0.002},
     {"avg_response_time": 120.5, "p95_response_time": 310, "error_rate": 0.002}),
    (None, {"avg_response_time": None, "p95_response_time": None, "error_rate": None}),
    (RuntimeError("broken"),
     {"avg_response_time": None, "p95_response_time": None, "error_rate": None}),
])
def test_performance_metrics_come_from_ingestion_when_it_has_data(summary, expected) -> None:
    async def scenario():
        config = exporter_config(database=[{"name": "primary", "dsn": "${PG}"}],
                                 tokens={"admin": "${ADMIN}"})
        async with in_process_exporter(config, ENV) as exporter:
            exporter.service.ingestion = Ingestion(summary)
            return await wait_health(exporter, lambda d: d["performance_metrics"][
                "active_connections"] is not None)

    metrics = run(scenario())["performance_metrics"]
    assert {k: metrics[k] for k in expected} == expected
    assert metrics["active_connections"] >= 1
