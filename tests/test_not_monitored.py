"""Nobody can mistake "not monitored" for "healthy": with essential components that have no
target, the health document, the status page's headline, the metrics (for the home dashboard)
and the start-up log each name them, while ``overall_status`` stays the worst status of the
components that are monitored. (The deploy gate's answer and command: tests/test_deploy_gate.py.)
"""

from __future__ import annotations

import json
import re
import urllib.request

from tests.support import (
    CANARY_ANON_KEY,
    SHARED_PG_DSN,
    SHARED_REDIS_URL,
    exporter_config,
    value,
)

ADMIN = "admin-token-for-not-monitored"
ENV = {"PG": SHARED_PG_DSN, "REDIS": SHARED_REDIS_URL, "ADMIN": ADMIN, "KEY": CANARY_ANON_KEY}


def config(**sections):
    return exporter_config(database=[{"name": "primary", "dsn": "${PG}"}],
                           redis=[{"name": "cache", "url": "${REDIS}"}],
                           tokens={"admin": "${ADMIN}"}, **sections)


def health(exporter) -> dict:
    request = urllib.request.Request(f"{exporter.url}/api/system/health",
                                     headers={"Authorization": f"Bearer {ADMIN}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return dict(json.load(answer))


def headline(exporter) -> str:
    page = exporter.get("/").decode()
    return re.search(r'<div class="overall[^>]*>(.*?)</div>\s*<ul', page, re.S)[1]


def test_healthy_but_three_essential_components_unmonitored_says_so_everywhere(
        make_exporter) -> None:
    exporter = make_exporter(config(), env=ENV)
    exporter.wait_ready()
    document = health(exporter)
    # overall_status keeps its meaning: the worst of the essential components that are probed.
    assert document["overall_status"] == "healthy"
    assert document["not_monitored"] == ["auth", "realtime", "api"]
    assert {key: document["components"][key]["status"] for key in document["not_monitored"]} == {
        "auth": "unknown", "realtime": "unknown", "api": "unknown"}

    shown = headline(exporter)
    assert shown.startswith("All Systems Operational")
    assert ("Not monitored: Sign-in (Auth), Live updates (Realtime), API. The overall status "
            "does not cover them.") in shown

    metrics = exporter.metrics()
    for component, essential, monitored in [
            ("database", "true", 1), ("redis", "true", 1), ("auth", "true", 0),
            ("realtime", "true", 0), ("api", "true", 0), ("external", "false", 0)]:
        assert value(metrics, "wedsync_component_monitored", component=component,
                     essential=essential) == monitored, component

    [warning] = [line for line in exporter.logs().splitlines()
                 if "essential components are not monitored" in line]
    assert "components=auth,realtime,api" in warning


def test_every_essential_component_monitored_adds_no_note(make_exporter, sandbox) -> None:
    exporter = make_exporter(config(
        auth=[{"name": "supabase", "url": sandbox.auth_url, "anon_key": "${KEY}"}],
        realtime=[{"name": "supabase", "url": sandbox.realtime_url, "anon_key": "${KEY}"}],
        api=[{"name": "health", "url": sandbox.api_url}]), env=ENV)
    exporter.wait_ready()
    assert health(exporter)["not_monitored"] == []
    assert "Not monitored" not in headline(exporter)
    assert "not monitored" not in exporter.logs()
    assert value(exporter.metrics(), "wedsync_component_monitored", component="api",
                 essential="true") == 1


def test_an_unmonitored_component_that_is_not_essential_is_not_named(make_exporter) -> None:
    exporter = make_exporter(config(components={"essential": ["database", "redis"]}), env=ENV)
    exporter.wait_ready()
    assert health(exporter)["not_monitored"] == []
    assert "Not monitored" not in headline(exporter)
    assert value(exporter.metrics(), "wedsync_component_monitored", component="auth",
                 essential="false") == 0
