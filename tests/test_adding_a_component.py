"""docs/architecture.md, "Adding a component", followed by a test: a component declared once
(here a fake Storage health check, HTTP-based, registered by this test and by nothing
else) shows up in the configuration schema and loader, the probes and /metrics, the health
document, the status page, validation, the component alerts, the dashboards' overall status and
the generated reference docs, without any other file of the repository changing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from aiohttp import ClientSession, web

from alerts.components import groups
from dashboards import promql
from docsgen import configuration, metrics
from exporter.components import REGISTRY, Component, DownAlert
from exporter.config import ConfigError, parse_config
from exporter.config.schema import config_schema
from harness.ports import free_port
from tests.support import exporter_config, in_process_exporter, read_status_page, value

ADMIN = "admin-token-for-the-storage-component"
# Step 1 of "Adding a component": the declaration (this one uses the http prober and the http
# target settings that the API and external services share, so steps 2 and 3 are not needed).
# A made-up name, so a real component added later cannot clash with it.
STORAGE = Component(
    "fake_storage", "File storage (fake)", True, settings="http", prober="http",
    spoken="Fake storage", description="Fake Storage health URLs.",
    down=DownAlert("FakeStorage", "A fake Storage target", "critical", "1m", "5m"))


@pytest.fixture
def storage() -> Iterator[Component]:
    with REGISTRY.registered(STORAGE) as component:
        yield component
    assert "fake_storage" not in REGISTRY


def test_its_configuration_section_is_in_the_schema_loader_and_reference(storage) -> None:
    section = config_schema()["properties"]["fake_storage"]
    assert section["description"] == "Fake Storage health URLs."
    assert {"name", "url", "expected_status", "json_field"} <= set(
        section["items"]["properties"])
    assert storage.name in config_schema()["properties"]["components"]["properties"][
        "essential"]["items"]["enum"]
    config = parse_config(yaml.safe_dump({"fake_storage": [
        {"name": "files", "url": "https://ref.supabase.co/storage/v1/health"},
        {"name": "off", "url": ""}]}), {})
    (target,) = config.targets("fake_storage")
    assert (target.name, target.url) == ("files", "https://ref.supabase.co/storage/v1/health")
    assert "fake_storage" in config.essential
    with pytest.raises(ConfigError, match=r"fake_storage\[0\]"):
        parse_config(yaml.safe_dump({"fake_storage": [{"name": "files", "bucket": "x"}]}), {})
    assert "| `fake_storage[].url` |" in configuration.render()
    assert f"`component` ({', '.join(REGISTRY.names())})" in metrics.render()
    assert REGISTRY.names()[-1] == "fake_storage"


def test_its_down_alert_and_overall_status_selector_are_generated(storage) -> None:
    alerts = {a.name: a for g in groups() for a in g.alerts}
    down = alerts["WedSyncFakeStorageDown"]
    assert down.expr == 'min without (instance) (wedsync_up{component="fake_storage"}) == 0'
    assert down.severity == "critical" and down.summary == "A fake Storage target fails its probe."
    essential = "|".join(REGISTRY.essential())
    assert essential.endswith("|fake_storage")
    assert f'component=~"{essential}"' in promql.overall_status()


async def storage_service(port: int, status: int) -> web.AppRunner:
    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"}, status=status)

    app = web.Application()
    app.router.add_get("/storage/v1/health", health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


def test_it_is_probed_and_shown_in_metrics_health_document_status_page_and_validation(
        storage) -> None:
    port = free_port()
    config = exporter_config(
        fake_storage=[{"name": "files", "url": f"http://127.0.0.1:{port}/storage/v1/health"}],
        tokens={"admin": "${ADMIN}"}, rate_limits={"health": "1000/minute",
                                                    "validation": "1000/minute"})
    auth = {"Authorization": f"Bearer {ADMIN}"}

    async def scenario() -> dict[str, Any]:
        service = await storage_service(port, 200)
        try:
            async with in_process_exporter(config, {"ADMIN": ADMIN}) as running, \
                    ClientSession() as http:
                for _ in range(100):
                    async with http.get(f"{running.url}/metrics") as answer:
                        text = await answer.text()
                    if value(text, "wedsync_up", component="fake_storage", target="files") == 1:
                        break
                    await asyncio.sleep(0.1)
                async with http.get(f"{running.url}/api/system/health", headers=auth) as a:
                    document = await a.json()
                async with http.get(f"{running.url}/api/system/health?component=fake_storage",
                                    headers=auth) as a:
                    narrowed = await a.json()
                async with http.get(f"{running.url}/") as a:
                    page = await a.text()
                async with http.post(f"{running.url}/api/architecture/validate", headers=auth,
                                     json={"component": "fake_storage",
                                           "validation_type": "performance"}) as a:
                    validation = await a.json()
                return {"metrics": text, "document": document, "narrowed": narrowed,
                        "page": page, "validation": validation}
        finally:
            await service.cleanup()

    seen = asyncio.run(scenario())
    text = seen["metrics"]
    assert value(text, "wedsync_up", component="fake_storage", target="files") == 1
    assert value(text, "wedsync_component_status", component="fake_storage", target="files",
                 status="healthy") == 1
    assert value(text, "wedsync_probe_http_status_code", component="fake_storage",
                 target="files") == 200
    assert value(text, "wedsync_probe_failures_total", component="fake_storage", target="files",
                 reason="timeout") == 0
    entry = seen["document"]["components"]["fake_storage"]
    assert entry["status"] == "healthy" and entry["essential"] is True
    assert set(entry["targets"]) == {"files"}
    assert seen["document"]["overall_status"] == "healthy"
    assert list(seen["narrowed"]["components"]) == ["fake_storage"]
    row = read_status_page(seen["page"])["rows"]["fake_storage"]
    assert row == {"status": "healthy", "label": "File storage (fake)"}
    assert seen["validation"]["valid"] is True
    assert seen["validation"]["issues"] == []


def test_a_failing_storage_target_is_down_with_a_reason_and_makes_overall_critical(
        storage) -> None:
    port = free_port()
    config = exporter_config(
        fake_storage=[{"name": "files", "url": f"http://127.0.0.1:{port}/storage/v1/health"}],
        tokens={"admin": "${ADMIN}"}, rate_limits={"health": "1000/minute"})

    async def scenario() -> tuple[str, dict[str, Any]]:
        service = await storage_service(port, 503)
        try:
            async with in_process_exporter(config, {"ADMIN": ADMIN}) as running, \
                    ClientSession() as http:
                for _ in range(100):
                    async with http.get(f"{running.url}/metrics") as answer:
                        text = await answer.text()
                    if value(text, "wedsync_up", component="fake_storage", target="files") == 0:
                        break
                    await asyncio.sleep(0.1)
                async with http.get(f"{running.url}/api/system/health",
                                    headers={"Authorization": f"Bearer {ADMIN}"}) as a:
                    return text, await a.json()
        finally:
            await service.cleanup()

    text, document = asyncio.run(scenario())
    assert value(text, "wedsync_up", component="fake_storage", target="files") == 0
    assert value(text, "wedsync_probe_failures_total", component="fake_storage", target="files",
                 reason="error") == 1
    assert document["components"]["fake_storage"]["status"] == "critical"
    assert document["components"]["fake_storage"]["last_error"] == \
        "error: Fake storage answered HTTP 503 (expected 200)"
    assert document["overall_status"] == "critical"
