"""The drill's rules without a stack: how pages are counted from Alertmanager's notifications,
each verdict rule, the promised time to page at the shipped settings, the command line's
refusals, and the Alertmanager configuration for drilling compose or staging (checked by
amtool)."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from drill.analysis import (
    Detection,
    ExporterHealth,
    LoadResult,
    Page,
    Pages,
    SloResult,
    incidents,
    resolve_allowance,
)
from drill.faults import FAULTS, AlertMatch, fault_named, parse_params
from drill.timing import FAST, PRODUCTION, Promise, burn_promise, component_promise
from drill.verdict import NOT_READY, READY, Evidence, judge
from harness.webhook import Notification

REPO = Path(__file__).resolve().parent.parent
REDIS = {"alertname": "WedSyncRedisDown", "component": "redis", "target": "cache"}
BURN = {"alertname": "WedSyncSLOBurnRate1h", "slo": "api-availability"}


def note(at: float, status: str, group: str, *alerts: dict[str, str],
         receiver: str = "pager") -> Notification:
    return Notification(at, f"/{receiver}", {
        "receiver": receiver, "status": status, "groupKey": group,
        "alerts": [{"status": status, "labels": labels} for labels in alerts]})


# --- pages ------------------------------------------------------------------------------------
def test_one_group_notified_again_is_one_page_and_a_group_that_fires_after_resolving_is_two():
    notes = [note(10, "firing", "g1", REDIS), note(15, "firing", "g1", REDIS),
             note(30, "resolved", "g1", REDIS), note(40, "firing", "g1", REDIS),
             note(12, "firing", "t1", REDIS, receiver="ticket")]
    pages = incidents(notes, "pager")
    assert [(p.opened_at, p.resolved_at, p.notifications) for p in pages] == [
        (10, 30, 3), (40, None, 1)]


def test_alerts_joining_an_open_group_do_not_page_again():
    other = {**REDIS, "target": "queue"}
    pages = incidents([note(1, "firing", "g", REDIS), note(6, "firing", "g", REDIS, other)],
                      "pager")
    assert len(pages) == 1 and pages[0].alerts == [REDIS, other]


# --- verdict rules ----------------------------------------------------------------------------
def healthy_exporter() -> ExporterHealth:
    return ExporterHealth(scrapes=30, failed_scrapes=0, max_scrape_seconds=0.01,
                          max_loop_lag_seconds=0.001, liveness_polls=40, liveness_failures=0,
                          ingest_accepted=300, ingest_rejected=0)


def passed_load(reasons: list[str] | None = None, excused: list[str] | None = None
                ) -> LoadResult:
    return LoadResult("FAIL" if reasons else "PASS", 99 if reasons else 0, reasons or [],
                      excused or [], {}, {"requests": 250}, None, 250)


def slo(name: str, ratio: float, broken: bool = False, events: float = 250) -> SloResult:
    return SloResult(name, 0.999, 0.001, ratio, events, ratio, broken)


def evidence(fault: str = "redis-stop", *, pages: Pages | None = None,
             detection: Detection | None = None, slos: list[SloResult] | None = None,
             load: LoadResult | None = None, exporter: ExporterHealth | None = None,
             errors: list[str] | None = None) -> Evidence:
    spec = fault_named(fault)
    page = Page("g", [REDIS], 104.0, 120.0, 2, True)
    default_pages = Pages("pager", [page], [page], [], expected_to_page=True)
    return Evidence(
        fault=spec, injected=fault != "none", drill_errors=errors or [],
        detection=detection or Detection(alert="WedSyncRedisDown", detect_seconds=3.0,
                                         page_seconds=4.0,
                                         promise=Promise("WedSyncRedisDown", 3, 6, {})),
        pages=pages if pages is not None else (
            default_pages if fault != "none" else Pages("pager")),
        slos=slos or [slo("api-availability", 0.0)], load=load or passed_load(),
        exporter=exporter or healthy_exporter(), tolerance_seconds=10)


def rules_of(found: dict) -> list[str]:
    return [reason["rule"] for reason in found["reasons"]]


def test_a_fault_detected_paged_once_and_resolved_with_everything_else_holding_is_ready():
    judged = judge(evidence())
    assert judged["verdict"] == READY and judged["reasons"] == []
    assert judged["headline"].startswith("READY: Redis stops: WedSyncRedisDown fired after")


def test_each_way_of_failing_has_its_own_reason():
    missed = Pages("pager", expected_to_page=True, missed=True)
    second = Page("g2", [{"alertname": "WedSyncCacheHitRatioLow"}], 110.0, 130.0, 2, True)
    first = Page("g", [REDIS], 104.0, 120.0, 2, True)
    stray = Page("g3", [BURN], 50.0, None, 1, False)
    cases = {
        "drill-failed": evidence(errors=["the fault could not be injected: boom"]),
        "not-detected": evidence(detection=Detection(), pages=missed),
        "missed-page": evidence(pages=missed),
        "late-page": evidence(detection=Detection(
            alert="WedSyncRedisDown", detect_seconds=3, page_seconds=30,
            promise=Promise("WedSyncRedisDown", 3, 6, {}))),
        "duplicated-pages": evidence(pages=Pages("pager", [first, second], [first, second])),
        "not-resolved": evidence(detection=Detection(
            alert="WedSyncRedisDown", detect_seconds=3, page_seconds=4,
            still_firing=["WedSyncRedisDown"])),
        "unexpected-page": evidence(pages=Pages("pager", [first, stray], [first], [stray])),
        "slo-not-held": evidence(slos=[slo("api-availability", 0.02)]),
        "slo-blind": evidence(slos=[slo("api-availability", 0.0, events=0)]),
        "load-test-failed": evidence(load=passed_load(["all: http_req_failed rate<0.001"])),
        "exporter-unhealthy": evidence(exporter=ExporterHealth(
            scrapes=30, failed_scrapes=2, max_scrape_seconds=1.0, max_loop_lag_seconds=0.5,
            liveness_polls=40, liveness_failures=0, ingest_accepted=0, ingest_rejected=0)),
    }
    for rule, case in cases.items():
        judged = judge(case)
        assert judged["verdict"] == NOT_READY, rule
        assert rule in rules_of(judged), (rule, judged["reasons"])
        assert judged["headline"].startswith("NOT READY: ")


def test_what_a_fault_breaks_by_design_is_not_held_against_the_platform():
    reason = "all: http_req_failed rate<0.001 (observed 5.00%)"
    judged = judge(evidence(
        "api-errors",
        pages=Pages("pager", [Page("g", [BURN], 104.0, 120.0, 2, True)],
                    [Page("g", [BURN], 104.0, 120.0, 2, True)], expected_to_page=True),
        detection=Detection(alert="WedSyncSLOBurnRate1h", detect_seconds=3, page_seconds=4,
                            not_yet_due=["WedSyncSLOBurnRate1h (due within 5 min 2 s)"]),
        slos=[slo("api-availability", 0.05, broken=True), slo("api-latency-1s", 0.0)],
        load=passed_load([reason], excused=[reason])))
    assert judged["verdict"] == READY, judged["reasons"]
    assert "not yet due to resolve" in judged["headline"]


def test_an_slo_the_fault_does_not_break_still_fails_the_drill():
    judged = judge(evidence(slos=[slo("api-availability", 0.05, broken=False)]))
    assert rules_of(judged) == ["slo-not-held"]
    assert "SLO api-availability not held (5.00% failed, budget 0.10%)" in judged["headline"]


# --- timing -----------------------------------------------------------------------------------
def test_the_promise_for_a_down_component_matches_the_shipped_settings():
    wedding = component_promise("WedSyncRedisDown", True, PRODUCTION, hangs=False)
    other = component_promise("WedSyncRedisDown", False, PRODUCTION, hangs=False)
    hung = component_promise("WedSyncDatabaseDown", True, PRODUCTION, hangs=True)
    # for: 15s (5m on other days) + the critical route's group_wait 5 s, plus up to 15 s each
    # to probe and scrape and 5 s to evaluate (the down group's own interval); a hanging probe
    # adds its 5 s timeout. The wedding-day page is due within a minute even then.
    assert (wedding.best, wedding.worst) == (20, 55)
    assert (other.best, other.worst) == (305, 340)
    assert (hung.best, hung.worst) == (25, 60)
    assert wedding.parts["evaluation_interval"] == 5 and wedding.parts["group_wait"] == 5


def test_burn_rate_promises_wait_the_slo_routes_group_wait():
    realtime = burn_promise("realtime-propagation", 1.0, True, PRODUCTION)
    assert realtime is not None and realtime.parts["group_wait"] == 15


def test_burn_rate_promises_follow_the_windows_when_they_are_full():
    realtime = burn_promise("realtime-propagation", 1.0, True, PRODUCTION)
    assert realtime is not None and realtime.alert == "WedSyncSLOBurnWeddingDay"
    assert math.isclose(realtime.parts["crossing"], 18.0)  # 1% of the 30-minute window
    weekday = burn_promise("realtime-propagation", 1.0, False, PRODUCTION)
    assert weekday is not None and weekday.alert == "WedSyncSLOBurnRate1h"
    assert math.isclose(weekday.parts["crossing"], 518.4)  # 14.4% of an hour
    errors = burn_promise("api-availability", 0.05, True, PRODUCTION)
    assert errors is not None and math.isclose(errors.parts["crossing"], 36.0)
    # 1% errors never reach the 1h tier's 1.44%: the 6h tier (0.6%) pages after 3.6 hours;
    # 0.5% reaches no paging tier on an ordinary day (the 1d and 3d tiers make tickets).
    slow = burn_promise("api-availability", 0.01, False, PRODUCTION)
    assert slow is not None and slow.alert == "WedSyncSLOBurnRate6h"
    assert math.isclose(slow.parts["crossing"], 3.6 * 3600)
    assert burn_promise("api-availability", 0.005, False, PRODUCTION) is None


def test_a_young_stack_crosses_sooner_than_a_full_window():
    full = burn_promise("api-availability", 0.05, False, FAST)
    young = burn_promise("api-availability", 0.05, False, FAST, history=60.0)
    assert full is not None and young is not None and young.worst < full.worst


def test_an_alert_is_due_to_resolve_after_keep_firing_for_its_window_and_the_way_out():
    down = {"name": "WedSyncRedisDown", "query": 'wedsync_up{component="redis"} == 0',
            "keepFiringFor": 360}
    overrun = {"name": "WedSyncProbesOverrunning",
               "query": "increase(wedsync_probe_overruns_total[15m]) > 2", "keepFiringFor": 0}
    burn = {"name": "WedSyncSLOBurnRate1h", "query": "slo:sli_error:ratio_rate1h > 1",
            "keepFiringFor": 60}
    assert resolve_allowance(down, 5) == 365
    assert resolve_allowance(overrun, 5) == 905
    assert resolve_allowance(burn, 5) == 365  # its short window, 5 minutes


# --- faults and the command line --------------------------------------------------------------
def test_fault_parameters_and_alert_names_are_checked():
    assert parse_params(FAULTS["api-errors"], ["rate=0.02"]) == {"rate": 0.02}
    for bad in (["rate=2"], ["speed=1"], ["rate=lots"]):
        with pytest.raises(ValueError):
            parse_params(FAULTS["api-errors"], bad)
    match = AlertMatch.parse('WedSyncSLOBurnRate1h{slo="api-availability"}')
    assert match.matches(BURN) and not match.matches({**BURN, "slo": "x"})
    assert AlertMatch.parse(match.describe()) == match
    assert FAULTS["api-errors"].sandbox_settings({"rate": 0.02})["error_rate"] == 0.02


def drill_command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "drill", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "ANON_KEY": "a", "API_TOKEN": "t"})


@pytest.mark.parametrize(("args", "message"), [
    (["--prometheus-url", "http://127.0.0.1:9", "--fault", "redis-stop"],
     "the drill stops or pauses only servers it started itself"),
    (["--prometheus-url", "http://127.0.0.1:9", "--fault", "postgres-pause"],
     "the drill stops or pauses only servers it started itself"),
    (["--prometheus-url", "http://127.0.0.1:9", "--base-url", "http://127.0.0.1:9"],
     "give --notifications-url (a wedsync-stack) or --webhook-listen"),
    (["--fault", "redis-stop", "--at", "50s", "--duration", "30s"],
     "must end within the load"),
    (["--fault", "api-errors", "--param", "speed=3"], "has no parameter 'speed'"),
    (["--fault", "none", "--inject-command", "true"], "go with --fault command"),
    (["--at", "soon"], "'soon' is not a duration"),
])
def test_the_drill_refuses_what_it_must_not_or_cannot_do(args, message) -> None:
    done = drill_command("run", *args)
    assert done.returncode == 2
    assert message in done.stderr


@pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool is not installed")
def test_the_staging_alertmanager_config_copies_every_receiver_to_the_drill(tmp_path) -> None:
    done = drill_command("alertmanager-config", "--webhook-url", "http://drill-host:9099/")
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(done.stdout)
    committed = yaml.safe_load((REPO / "prometheus" / "alertmanager.yml").read_text())
    assert config["route"] == committed["route"]
    assert config["inhibit_rules"] == committed["inhibit_rules"]
    for mine, theirs in zip(config["receivers"], committed["receivers"], strict=True):
        added = mine["webhook_configs"][-1]
        assert added["url"] == f"http://drill-host:9099/{theirs['name']}"
        # The real integration stays: the drill only listens in.
        assert {k: v for k, v in mine.items() if k != "webhook_configs"} == {
            k: v for k, v in theirs.items() if k != "webhook_configs"}
    watchdog = next(r for r in config["receivers"] if r["name"] == "watchdog")
    assert watchdog["webhook_configs"][-1]["send_resolved"] is False
    path = tmp_path / "alertmanager.yml"
    path.write_text(done.stdout)
    checked = subprocess.run(["amtool", "check-config", str(path)], capture_output=True,
                             text=True, timeout=30)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_drill_docs_list_every_fault_with_its_detecting_alerts() -> None:
    text = (REPO / "docs" / "drill.md").read_text()
    rows = {line.split("|")[1].strip().strip("`"): line for line in text.splitlines()
            if line.startswith("| `")}
    for fault in FAULTS.values():
        assert fault.name in rows, f"docs/drill.md has no row for fault {fault.name}"
        for match in fault.detecting[:2]:
            assert match.name in rows[fault.name], (fault.name, match.name)
        for match in fault.related:
            assert match.name in rows[fault.name], (fault.name, match.name)


def test_a_late_page_at_production_settings_reads_in_minutes_not_seconds():
    judged = judge(evidence(detection=Detection(
        alert="WedSyncRedisDown", detect_seconds=95.2, page_seconds=362.4,
        promise=Promise("WedSyncRedisDown", 90, 330, {}))))
    [late] = [r for r in judged["reasons"] if r["rule"] == "late-page"]
    assert "paged after 6 min 3 s; promised within 5 min 30 s" in late["text"]


def test_the_ha_drill_requires_the_watchdog_uninterrupted():
    from dataclasses import replace

    steady = replace(evidence(), watchdog_every=5.0, watchdog_gap=6.0)
    assert judge(steady)["verdict"] == READY
    silent = replace(evidence(), watchdog_every=5.0, watchdog_gap=40.0)
    judged = judge(silent)
    assert judged["verdict"] == NOT_READY
    assert rules_of(judged) == ["watchdog-interrupted"]
    never = replace(evidence(), watchdog_every=5.0, watchdog_gap=None)
    assert rules_of(judge(never)) == ["watchdog-interrupted"]
    # Without --ha the Watchdog is not judged.
    assert judge(replace(evidence(), watchdog_gap=None))["verdict"] == READY
