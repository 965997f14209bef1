"""The wedding-day drill end to end, on one stack of the drill's own (real exporter, Prometheus,
Alertmanager, webhook receiver, sandbox reporting its API timings, throwaway PostgreSQL and
Redis; fast intervals): a quiet Saturday through the command line against the running stack is
READY with no page; stopping the pooler pages once as the pooler down; an API failing 2% of
requests is NOT READY for the availability SLO.

Stopping Redis (the report's JSON, PNG charts and HTML in headless Chromium included) is checked
on docs/drill.md's shortest drill, which the docs test runs as written (tests/drill_reports.py).

The drills share the stack and run in file order: the one with API errors goes last, because
its errors stay in the burn-rate windows (5 minutes to 3 days) after it ends.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from drill.faults import API_ERROR_PATHS, fault_named
from drill.injection import SandboxFault
from drill.own_stack import OwnStack
from drill.run import Outcome, Plan, run_drill
from drill.target import Target
from drill.timing import FAST

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parent.parent
DRILL_BUDGET = 45.0  # seconds a drill may take with the fast intervals (the budget)
# Inject 4 s into an 18 s load, mend 6 s later: enough for detection, page and resolution.
SCHEDULE = {"at": 4.0, "fault_duration": 6.0, "load_duration": 18.0, "resolve_timeout": 30.0}


@pytest.fixture(scope="module")
def own_stack() -> Iterator[OwnStack]:
    stack = OwnStack(FAST)
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def target(own_stack: OwnStack) -> Target:
    assert own_stack.target is not None
    return own_stack.target


def drill(target: Target, out: Path, fault: str) -> Outcome:
    started = time.monotonic()
    outcome = run_drill(target, Plan(fault=fault_named(fault), out=out, **SCHEDULE),
                        say=lambda _: None)
    took = time.monotonic() - started
    assert took <= DRILL_BUDGET, f"the drill took {took:.0f} s"
    return outcome


def test_a_quiet_saturday_drilled_through_the_command_line_is_ready_with_no_page(
        own_stack: OwnStack, tmp_path: Path) -> None:
    target = own_stack.target
    assert target is not None
    assert own_stack.stack is not None and own_stack.stack.webhook is not None
    command = [
        sys.executable, "-m", "drill", "run", "--prometheus-url", target.prometheus_url,
        "--alertmanager-url", str(target.alertmanager_url),
        "--exporter-url", str(target.exporter_url), "--base-url", target.base_url,
        "--sandbox-url", str(target.sandbox_url),
        "--notifications-url", f"{own_stack.stack.webhook.url}/notifications",
        "--duration", "15s", "--probe-interval", "1s", "--scrape-interval", "1s",
        "--evaluation-interval", "1s", "--group-wait", "1s", "--report-interval", "1s",
        "--out", str(tmp_path), "--drill-id", "quiet-saturday"]
    started = time.monotonic()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **target.k6_environment})
    took = time.monotonic() - started
    report = json.loads((tmp_path / "quiet-saturday" / "report.json").read_text())
    assert done.returncode == 0, done.stdout + done.stderr
    assert took <= DRILL_BUDGET
    assert report["verdict"] == "READY" and report["reasons"] == []
    assert report["headline"].startswith("READY: no page")
    assert report["pages"]["during_drill"] == []
    assert report["target"]["mode"] == "attached"
    assert report["load"]["verdict"] == "PASS"
    assert all(slo["held"] for slo in report["slos"])
    # The SLO rules saw the load: the sandbox's own timings of every k6 request (and of the
    # exporter's probes) reached the exporter, none lost.
    availability = next(s for s in report["slos"] if s["slo"] == "api-availability")
    assert availability["events"] > 0
    timings = report["sandbox_timings"]
    assert timings["accepted"] >= report["load"]["overall"]["requests"] > 0
    assert timings["dropped"] == 0 and timings["rejected"] == 0
    # The secrets k6 used are nowhere in the report.
    text = json.dumps(report)
    assert all(secret not in text for secret in target.k6_environment.values())


def test_a_stopped_pooler_pages_once_as_the_pooler_down_and_resolves(
        target: Target, tmp_path: Path) -> None:
    report = drill(target, tmp_path, "pooler-stop").report
    assert report["fault"]["errors"] == []
    assert report["detection"]["alert"] == "WedSyncPoolerDown"
    [pooler] = [a for a in report["alerts"] if a["alertname"] == "WedSyncPoolerDown"]
    assert pooler["explained_by_fault"] and pooler["receivers"] == ["pager"]
    assert pooler["resolved_offset_seconds"] > report["fault"]["recovered_offset_seconds"]
    [page] = report["pages"]["during_drill"]
    assert page["description"] == "WedSyncPoolerDown{component=pooler,target=pgbouncer}"
    assert report["pages"]["duplicated"] == [] and report["pages"]["unexpected"] == []


def test_an_api_failing_two_percent_of_requests_is_not_ready_for_the_availability_slo(
        target: Target, tmp_path: Path) -> None:
    assert target.sandbox_url is not None
    failing = SandboxFault(target.sandbox_url, "api",
                           {"error_rate": 0.02, "error_paths": list(API_ERROR_PATHS)})
    failing.inject()
    try:
        report = drill(target, tmp_path, "none").report
    finally:
        failing.recover()
    assert report["verdict"] == "NOT READY"
    assert "api-availability" in report["headline"]
    # The drill runs with fault "none", so every SLO is judged. The injected 500s are answered
    # at once and touch neither the latency SLOs nor Realtime, yet on a busy machine one slow
    # probe echo is enough to add a reason of its own (realtime-propagation has ~18 events over
    # the load and a 1% budget): pick out the one reason that is api-availability's.
    [held] = [r for r in report["reasons"] if r["rule"] == "slo-not-held"
              and r["text"].startswith("SLO api-availability not held")]
    assert "failed over the load" in held["text"]
    availability = next(s for s in report["slos"] if s["slo"] == "api-availability")
    assert 0.01 < availability["error_ratio"] < 0.03
    assert not availability["held"]
