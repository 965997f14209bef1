"""prometheus/alertmanager.yml: routing (amtool), inhibitions and the midnight flip (a real
Alertmanager with the repo's routes and a recording webhook)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.alertmanager import AlertmanagerServer
from harness.stack import StackOptions, alertmanager_config
from harness.webhook import WebhookReceiver

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "prometheus" / "alertmanager.yml"
RULES = REPO / "prometheus" / "rules"


def route(*labels: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["amtool", "config", "routes", "test", f"--config.file={CONFIG}",
                           *labels], capture_output=True, text=True)


def verify(receivers: str, *labels: str) -> None:
    done = subprocess.run(["amtool", "config", "routes", "test", f"--config.file={CONFIG}",
                           f"--verify.receivers={receivers}", *labels],
                          capture_output=True, text=True)
    assert done.returncode == 0, f"{labels} went to {done.stdout.strip()}, not {receivers}"


def test_amtool_accepts_the_config() -> None:
    done = subprocess.run(["amtool", "check-config", str(CONFIG)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(("labels", "receivers"), [
    (("severity=critical", "wedding_day=false"), "pager"),
    (("severity=critical", "wedding_day=true"), "pager"),
    (("severity=critical",), "pager"),
    (("severity=warning", "wedding_day=true"), "pager"),
    (("severity=warning", "wedding_day=false"), "ticket"),
    (("severity=warning",), "ticket"),
    (("severity=info", "wedding_day=true"), "default"),
    (("severity=info",), "default"),
    (("alertname=Unlabelled",), "default"),
    (("alertname=WedSyncWatchdog", "severity=info"), "watchdog"),
    (("alertname=WedSyncScaleDownPossible", "severity=info", "category=capacity"), "ticket"),
    (("alertname=WedSyncAlertmanagerNotificationsFailing", "severity=critical",
      "wedding_day=false"), "pager,ticket"),
])
def test_routing_cases(labels: tuple[str, ...], receivers: str) -> None:
    verify(receivers, *labels)


def expected_receiver(rule: dict[str, Any]) -> str:
    """The routing policy, stated independently of the config."""
    labels = rule["labels"]
    if rule["alert"] == "WedSyncWatchdog":
        return "watchdog"
    if rule["alert"] == "WedSyncAlertmanagerNotificationsFailing":
        return "pager,ticket"
    if rule["alert"] == "WedSyncScaleDownPossible":
        return "ticket"
    if labels["severity"] == "critical":
        return "pager"
    if labels["severity"] == "warning":
        return "pager" if labels.get("wedding_day") == "true" else "ticket"
    return "default"


def generated_alert_labels() -> list[tuple[str, list[str], str]]:
    """(alert, labels, receiver) for every generated rule, on both days where it is joined."""
    out = []
    for path in sorted(RULES.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" not in rule:
                    continue
                base = {"alertname": rule["alert"], **rule["labels"]}
                days = [None]
                if "group_left (wedding_day)" in rule["expr"]:
                    days = ["true", "false"]
                for day in days:
                    labels = dict(base) if day is None else {**base, "wedding_day": day}
                    full = {**rule, "labels": labels}
                    out.append((rule["alert"], [f"{k}={v}" for k, v in labels.items()],
                                expected_receiver(full)))
    return out


def test_every_generated_alert_reaches_the_receiver_its_severity_and_day_call_for() -> None:
    cases = generated_alert_labels()
    assert len(cases) > 60
    for _, labels, receivers in cases:
        verify(receivers, *labels)


def test_groups_never_split_on_the_day_or_the_severity() -> None:
    config = yaml.safe_load(CONFIG.read_text())

    def routes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield node
        for child in node.get("routes", []):
            yield from routes(child)

    for node in routes(config["route"]):
        assert not {"wedding_day", "severity"} & set(node.get("group_by", [])), node
        matchers = " ".join(node.get("matchers", []))
        # Critical alerts take one route whatever the day, so a flip keeps their group.
        if 'severity="critical"' in matchers:
            assert "wedding_day" not in matchers


def test_secrets_come_from_files_only() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    for receiver in config["receivers"]:
        for pagerduty in receiver.get("pagerduty_configs", []):
            assert "routing_key_file" in pagerduty and "routing_key" not in pagerduty
            assert "service_key" not in pagerduty
        for slack in receiver.get("slack_configs", []):
            assert "api_url_file" in slack and "api_url" not in slack
        for hook in receiver.get("webhook_configs", []):
            authorization = hook.get("http_config", {}).get("authorization", {})
            assert "credentials" not in authorization
            assert "@" not in hook["url"] and "?" not in hook["url"]


def test_the_committed_config_loads_in_a_real_alertmanager() -> None:
    with AlertmanagerServer(CONFIG) as server:
        status = server.alerts()
        assert status == []


# --- a real Alertmanager with the repo's routes and inhibitions, receivers recorded -------------
@pytest.fixture
def recorded() -> Iterator[tuple[AlertmanagerServer, WebhookReceiver]]:
    with WebhookReceiver() as webhook:
        options = StackOptions(group_wait="1s", group_interval="1s", repeat_interval="1h")
        with AlertmanagerServer(alertmanager_config(options, webhook.url)) as server:
            yield server, webhook


def now(offset: float = 0.0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset)).isoformat()


def alert(alertname: str, ends: str | None = None, started: float = 0.0,
          **labels: str) -> dict[str, Any]:
    """An alert as Prometheus posts it: startsAt is when it began firing (its FiredAt), so
    group_wait applies to a new group."""
    return {"labels": {"alertname": alertname, **labels},
            "annotations": {"summary": f"{alertname}."}, "startsAt": now(started),
            "endsAt": ends or now(300)}


def state(server: AlertmanagerServer, name: str, **labels: str) -> dict[str, Any]:
    [found] = server.alerts(alertname=name, **labels)
    return dict(found["status"])


def test_a_component_down_silences_its_own_latency_alerts_and_the_slo_alerts(recorded) -> None:
    server, webhook = recorded
    redis = {"component": "redis", "target": "cache"}
    server.post_alerts([
        alert("WedSyncRedisDown", severity="critical", category="down", wedding_day="true",
              source="exporter", **redis),
        alert("WedSyncCacheHitRatioLow", severity="warning", category="latency",
              wedding_day="true", source="exporter", **redis),
        alert("WedSyncCacheHitRatioLow", severity="warning", category="latency",
              wedding_day="true", source="exporter", component="redis", target="sessions"),
        alert("WedSyncSLOBurnRate1h", severity="critical", category="slo", wedding_day="true",
              source="exporter", slo="api-availability"),
    ])
    webhook.wait_for(15, alertname="WedSyncRedisDown")
    webhook.wait_for(15, alertname="WedSyncCacheHitRatioLow")
    time.sleep(2.5)
    assert state(server, "WedSyncCacheHitRatioLow", target="cache")["state"] == "suppressed"
    assert state(server, "WedSyncCacheHitRatioLow", target="sessions")["state"] == "active"
    assert state(server, "WedSyncSLOBurnRate1h")["state"] == "suppressed"
    notified = [(n.receiver, a["labels"]["alertname"], a["labels"].get("target"))
                for n in webhook.notifications() for a in n.alerts]
    assert sorted(notified) == [("pager", "WedSyncCacheHitRatioLow", "sessions"),
                                ("pager", "WedSyncRedisDown", "cache")]


def test_the_exporter_missing_silences_everything_it_feeds(recorded) -> None:
    server, webhook = recorded
    server.post_alerts([
        alert("WedSyncExporterMissing", severity="critical", category="monitoring",
              wedding_day="true"),
        alert("WedSyncIngestionSilent", severity="warning", category="data", component="api",
              wedding_day="true", source="exporter"),
        alert("WedSyncPrometheusRuleFailures", severity="critical", category="monitoring",
              wedding_day="true", rule_group="x"),
    ])
    webhook.wait_for(15, alertname="WedSyncPrometheusRuleFailures")
    time.sleep(2.5)
    assert state(server, "WedSyncIngestionSilent")["state"] == "suppressed"
    names = {a["labels"]["alertname"] for n in webhook.notifications() for a in n.alerts}
    assert names == {"WedSyncExporterMissing", "WedSyncPrometheusRuleFailures"}


def test_a_faster_burn_tier_silences_the_slower_ones_of_the_same_slo_only(recorded) -> None:
    server, webhook = recorded
    common = {"category": "slo", "wedding_day": "false", "source": "exporter"}
    server.post_alerts([
        alert("WedSyncSLOBurnRate1h", severity="critical", slo="api-availability", **common),
        alert("WedSyncSLOBurnRate6h", severity="critical", slo="api-availability", **common),
        alert("WedSyncSLOBurnRate3d", severity="warning", slo="api-availability", **common),
        alert("WedSyncSLOBurnRate6h", severity="critical", slo="api-latency-200ms", **common),
    ])
    webhook.wait_for(15, alertname="WedSyncSLOBurnRate1h")
    webhook.wait_for(15, alertname="WedSyncSLOBurnRate6h")
    time.sleep(2.5)
    assert state(server, "WedSyncSLOBurnRate6h", slo="api-availability")["state"] == "suppressed"
    assert state(server, "WedSyncSLOBurnRate3d", slo="api-availability")["state"] == "suppressed"
    assert state(server, "WedSyncSLOBurnRate6h", slo="api-latency-200ms")["state"] == "active"
    paged = sorted((a["labels"]["alertname"], a["labels"]["slo"])
                   for n in webhook.notifications() for a in n.alerts)
    assert paged == [("WedSyncSLOBurnRate1h", "api-availability"),
                     ("WedSyncSLOBurnRate6h", "api-latency-200ms")]


def test_a_faster_tier_joining_the_wedding_day_tier_updates_the_same_page(recorded) -> None:
    server, webhook = recorded
    common = {"category": "slo", "wedding_day": "true", "source": "exporter",
              "slo": "api-availability", "severity": "critical"}
    server.post_alerts([alert("WedSyncSLOBurnWeddingDay", started=-120, **common)])
    first = webhook.wait_for(15, receiver="pager", status="firing")
    # Errors go on: about 17 minutes later the 1h tier fires too (and silences the first).
    server.post_alerts([alert("WedSyncSLOBurnWeddingDay", started=-120, **common),
                        alert("WedSyncSLOBurnRate1h", **common)])
    webhook.wait_for(15, alertname="WedSyncSLOBurnRate1h")
    time.sleep(2.5)
    pages = webhook.notifications(receiver="pager")
    assert {n.group_key for n in pages} == {first.group_key}


def test_slow_realtime_pages_once_on_a_wedding_day(recorded) -> None:
    server, webhook = recorded
    day = {"wedding_day": "true", "source": "exporter"}
    server.post_alerts([
        alert("WedSyncSLOBurnWeddingDay", severity="critical", category="slo",
              slo="realtime-propagation", **day),
        alert("WedSyncRealtimeRoundtripSlow", severity="warning", category="latency",
              component="realtime", target="supabase", **day),
    ])
    webhook.wait_for(15, alertname="WedSyncSLOBurnWeddingDay")
    time.sleep(2.5)
    assert state(server, "WedSyncRealtimeRoundtripSlow")["state"] == "suppressed"
    paged = [a["labels"]["alertname"] for n in webhook.notifications() for a in n.alerts]
    assert paged == ["WedSyncSLOBurnWeddingDay"]


def test_a_database_outage_pages_once_not_again_for_its_failing_queries(recorded) -> None:
    server, webhook = recorded
    day = {"wedding_day": "true", "source": "exporter"}
    server.post_alerts([
        alert("WedSyncDatabaseDown", severity="critical", category="down",
              component="database", target="primary", **day),
        alert("WedSyncCustomQueryFailing", severity="warning", category="data",
              query="weddings", **day),
    ])
    webhook.wait_for(15, alertname="WedSyncDatabaseDown")
    time.sleep(2.5)
    assert state(server, "WedSyncCustomQueryFailing")["state"] == "suppressed"
    paged = [a["labels"]["alertname"] for n in webhook.notifications() for a in n.alerts]
    assert paged == ["WedSyncDatabaseDown"]


def test_a_redis_outage_pages_once_not_again_for_the_queues_it_holds(recorded) -> None:
    server, webhook = recorded
    day = {"wedding_day": "true", "source": "exporter", "category": "down"}
    server.post_alerts([
        alert("WedSyncRedisDown", severity="critical", component="redis", target="cache", **day),
        alert("WedSyncQueuesDown", severity="warning", component="queues", target="cache",
              **day),
        # Queues in another Redis still page.
        alert("WedSyncQueuesDown", severity="warning", component="queues", target="jobs",
              **day),
    ])
    webhook.wait_for(15, alertname="WedSyncRedisDown")
    webhook.wait_for(15, alertname="WedSyncQueuesDown")
    time.sleep(2.5)
    assert state(server, "WedSyncQueuesDown", target="cache")["state"] == "suppressed"
    paged = sorted((a["labels"]["alertname"], a["labels"]["target"])
                   for n in webhook.notifications() for a in n.alerts)
    assert paged == [("WedSyncQueuesDown", "jobs"), ("WedSyncRedisDown", "cache")]


def test_a_critical_alert_across_midnight_stays_one_page(recorded) -> None:
    server, webhook = recorded
    redis = {"alertname": "WedSyncRedisDown", "severity": "critical", "category": "down",
             "component": "redis", "target": "cache", "source": "exporter"}
    friday = {**redis, "wedding_day": "false"}
    saturday = {**redis, "wedding_day": "true"}
    server.post_alerts([alert(**friday, started=-120)])
    first = webhook.wait_for(15, receiver="pager", status="firing")
    # Midnight, as Prometheus reports it: the wedding-day variant fires while keep_firing_for
    # still holds the other-day one, which then ends.
    server.post_alerts([alert(**friday, started=-120), alert(**saturday)])
    second = webhook.wait_for(15, where=lambda n: len(n.alerts) == 2)
    server.post_alerts([alert(**friday, started=-120, ends=now()), alert(**saturday)])
    third = webhook.wait_for(15, where=lambda n: [a["status"] for a in n.alerts] == [
        "resolved", "firing"] or [a["status"] for a in n.alerts] == ["firing", "resolved"])
    time.sleep(2.5)
    pages = webhook.notifications(receiver="pager")
    assert {n.group_key for n in pages} == {first.group_key}
    assert [n.status for n in pages] == ["firing"] * len(pages)
    assert second.group_key == third.group_key == first.group_key


def test_a_warning_becomes_a_page_when_the_wedding_day_begins_and_a_ticket_after_it(
        recorded) -> None:
    server, webhook = recorded
    memory = {"alertname": "WedSyncRedisMemoryHigh", "severity": "warning",
              "category": "saturation", "component": "redis", "target": "cache",
              "source": "exporter"}
    friday = {**memory, "wedding_day": "false"}
    saturday = {**memory, "wedding_day": "true"}
    server.post_alerts([alert(**friday, started=-120)])
    webhook.wait_for(15, receiver="ticket", status="firing")
    server.post_alerts([alert(**friday, started=-120, ends=now()), alert(**saturday)])
    webhook.wait_for(15, receiver="pager", status="firing")
    webhook.wait_for(15, receiver="ticket", status="resolved")
    time.sleep(2.5)
    assert [n.status for n in webhook.notifications(receiver="pager")] == ["firing"]
