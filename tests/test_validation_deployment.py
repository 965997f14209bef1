"""The ``deployment`` validation component against real servers: an in-process exporter with
an injected clock, a real Alertmanager and a real Prometheus (the repository's rules, or a
deliberately broken rule file)."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from exporter.validation.findings import VALIDATION_TYPES, Finding
from exporter.validation.runner import Validator
from harness.alertmanager import AlertmanagerServer
from harness.ports import free_port
from harness.prometheus import PrometheusServer
from tests import test_deploy_gate
from tests.test_deploy_gate import (
    AM_CONFIG,
    SATURDAY_WHILE_UTC_SAYS_FRIDAY,
    TOKENS,
    WEDNESDAY_NOON,
    gate_config,
    gate_exporter,
)

# Fresh databases with the reference schema (dropped at the end).
make_database = test_deploy_gate.make_database
REPO = Path(__file__).resolve().parent.parent
PROMETHEUS_CONFIG = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"}}
# Two series that the rule's own label makes identical: every evaluation fails.
BROKEN_RULES = {"groups": [{"name": "broken", "rules": [{
    "record": "dup", "labels": {"a": "same"},
    "expr": 'label_replace(vector(1), "a", "1", "", "") or '
            'label_replace(vector(2), "a", "2", "", "")'}]}]}


@pytest.fixture(scope="module")
def alertmanager() -> Iterator[AlertmanagerServer]:
    server = AlertmanagerServer(AM_CONFIG)
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="module")
def prometheus() -> Iterator[PrometheusServer]:
    """A Prometheus with the repository's rules, as the stack runs it."""
    server = PrometheusServer(PROMETHEUS_CONFIG,
                              rule_files=sorted((REPO / "prometheus" / "rules").glob("*.yml")))
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def broken_prometheus(tmp_path: Path) -> Iterator[PrometheusServer]:
    """Only a rule that fails at every evaluation, then a reload of a file that does not
    load (it keeps the old rules)."""
    rules = tmp_path / "broken.yml"
    rules.write_text(yaml.safe_dump(BROKEN_RULES))
    server = PrometheusServer(PROMETHEUS_CONFIG, rule_files=[rules])
    server.start()
    try:
        deadline = time.monotonic() + 20
        while not any(r.get("health") == "err" for g in server.api("rules")["groups"]
                      for r in g["rules"]):
            assert time.monotonic() < deadline, "the broken rule was never evaluated"
            time.sleep(0.2)
        (server.dir / "broken.yml").write_text("groups: [{name: x, rules: [{record: 1}]}]")
        with pytest.raises(urllib.error.HTTPError):  # 500: the reload failed
            urllib.request.urlopen(urllib.request.Request(f"{server.url}/-/reload",
                                                          method="POST"), timeout=10)
        yield server
    finally:
        server.cleanup()


async def findings(exporter: Any, kinds: tuple[str, ...] = VALIDATION_TYPES) -> list[Finding]:
    service = exporter.service
    validator = Validator(service.runtime, service.config.validation, service.deploy_gate)
    found: list[Finding] = []
    for kind in kinds:
        found += await validator.validate("deployment", kind)
    return found


def checks(found: list[Finding]) -> list[str]:
    return sorted(f.check for f in found if f.check)


def config_with(database: Any, alertmanager: AlertmanagerServer, prometheus_url: str,
                **gate: Any) -> tuple[dict[str, Any], dict[str, str]]:
    config, env = gate_config(database, alertmanager_url=alertmanager.url, **gate)
    config["prometheus"] = {"url": prometheus_url, "timeout": "5s"}
    config["validation"] = {"enabled": False}
    return config, env


def test_a_quiet_wednesday_passes_every_deployment_check(make_database, alertmanager,
                                                         prometheus) -> None:
    config, env = config_with(make_database(), alertmanager, prometheus.url)

    async def scenario() -> list[Finding]:
        async with gate_exporter(config, env, lambda: WEDNESDAY_NOON) as exporter:
            found = await findings(exporter)
            # The HTTP answer has the shape of every other component's.
            async with aiohttp.ClientSession() as session, session.post(
                    f"{exporter.url}/api/architecture/validate",
                    json={"component": "deployment", "validation_type": "permissions"},
                    headers={"Authorization": f"Bearer {TOKENS['admin']}"}) as answer:
                assert answer.status == 200
                assert await answer.json() == {"valid": True, "issues": [],
                                               "recommendations": [], "severity": "info"}
            return found

    found = asyncio.run(scenario())
    assert found == [], [f.message for f in found]


def test_each_deployment_check_fires_on_its_broken_state(make_database,
                                                         broken_prometheus) -> None:
    database = make_database()
    alertmanager = AlertmanagerServer(AM_CONFIG)  # its own: the alert stays firing
    alertmanager.start()
    config, env = config_with(database, alertmanager, broken_prometheus.url, fail_open=True)
    alertmanager.post_alerts([{"labels": {"alertname": "WedSyncDatabaseDown",
                                          "severity": "critical"}}])
    saturday = SATURDAY_WHILE_UTC_SAYS_FRIDAY

    async def scenario() -> dict[str, list[Finding]]:
        async with gate_exporter(config, env, lambda: saturday) as exporter:
            service = exporter.service
            applied, _ = await service.reload()  # the config came from no file: refused
            assert not applied
            state = next(iter(service.runtime.states.values()))
            state.checked_at = saturday - timedelta(hours=1)
            return {kind: await findings(exporter, (kind,)) for kind in VALIDATION_TYPES}

    try:
        found = asyncio.run(scenario())
    finally:
        alertmanager.cleanup()
    assert checks(found["permissions"]) == ["deploy_blocked"] * 2
    reasons = " ".join(f.message for f in found["permissions"])
    assert "It is Saturday in Europe/London (2026-06-06)" in reasons
    assert "WedSyncDatabaseDown" in reasons
    assert checks(found["performance"]) == ["deploy_critical_alerts_firing",
                                            "deploy_probes_stale"]
    assert checks(found["schema"]) == [
        "exporter_config_reload_failed", "prometheus_config_reload_failed",
        "prometheus_rules_failing", "prometheus_rules_missing"]
    assert "broken/dup" in next(f.message for f in found["schema"]
                                if f.check == "prometheus_rules_failing")
    assert checks(found["security"]) == ["deploy_gate_fails_open"]


def test_weddings_within_a_day_are_a_warning(make_database, alertmanager, prometheus) -> None:
    database = make_database()
    thursday = (WEDNESDAY_NOON + timedelta(days=1)).date()
    database.add_weddings(thursday, 2)
    config, env = config_with(database, alertmanager, prometheus.url)
    friday_noon = WEDNESDAY_NOON + timedelta(days=2)

    async def scenario(now: datetime) -> list[Finding]:
        async with gate_exporter(config, env, lambda: now) as exporter:
            return await findings(exporter, ("permissions",))

    wednesday = asyncio.run(scenario(WEDNESDAY_NOON))
    assert [(f.check, f.severity) for f in wednesday] == [
        ("deploy_weddings_next_24h", "warning")]
    assert "2 weddings tomorrow" in wednesday[0].message
    friday = asyncio.run(scenario(friday_noon))
    assert checks(friday) == ["deploy_weddings_next_24h"]
    assert "is a Saturday" in friday[0].message


def test_an_open_override_and_a_gate_blind_to_alerts_are_security_findings(
        make_database) -> None:
    config, env = gate_config(make_database())
    config["validation"] = {"enabled": False}

    async def scenario() -> list[Finding]:
        async with gate_exporter(config, env, lambda: WEDNESDAY_NOON) as exporter:
            async with aiohttp.ClientSession() as session, session.post(
                    f"{exporter.url}/api/system/deploy-gate/override",
                    json={"reason": "hotfix for the RSVP form", "by": "sam"},
                    headers={"Authorization": f"Bearer {TOKENS['admin']}"}) as answer:
                assert answer.status == 201
            # Today is no wedding day, but the gate cannot see alerts: nothing blocks.
            return await findings(exporter, ("security", "permissions"))

    found = asyncio.run(scenario())
    assert checks(found) == ["deploy_gate_blind_to_alerts", "deploy_gate_override_open"]
    assert "by sam" in next(f.message for f in found if f.check == "deploy_gate_override_open")


def test_an_alertmanager_and_a_prometheus_that_do_not_answer_are_warnings(
        make_database) -> None:
    config, env = gate_config(make_database(),
                              alertmanager_url=f"http://127.0.0.1:{free_port()}")
    config["prometheus"] = {"url": f"http://127.0.0.1:{free_port()}", "timeout": "1s"}
    config["validation"] = {"enabled": False}

    async def scenario() -> list[Finding]:
        async with gate_exporter(config, env, lambda: WEDNESDAY_NOON) as exporter:
            return await findings(exporter, ("performance", "schema"))

    found = asyncio.run(scenario())
    assert [(f.check, f.severity) for f in found] == [
        ("deploy_alertmanager_unreachable", "warning"), ("prometheus_unreachable", "warning")]
    assert "127.0.0.1" not in " ".join(f.message for f in found)


def test_on_a_saturday_an_override_is_named_in_the_gates_reasons(make_database) -> None:
    config, env = gate_config(make_database())
    config["validation"] = {"enabled": False}

    async def scenario() -> list[Finding]:
        async with gate_exporter(config, env, lambda: SATURDAY_WHILE_UTC_SAYS_FRIDAY) as exporter:
            before = await findings(exporter, ("permissions",))
            assert [f.message.split(":")[0] for f in before] == [
                "a deploy now would be refused"]
            async with aiohttp.ClientSession() as session, session.post(
                    f"{exporter.url}/api/system/deploy-gate/override",
                    json={"reason": "fix the seating planner", "by": "sam"},
                    headers={"Authorization": f"Bearer {TOKENS['admin']}"}) as answer:
                assert answer.status == 201
            return await findings(exporter, ("permissions",))

    found = asyncio.run(scenario())
    assert checks(found) == ["deploy_blocked"]
    assert found[0].message.startswith(
        "a deploy now goes through only because an emergency override is open: It is Saturday")
