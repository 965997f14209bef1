"""The k6 wedding-day load tests against the sandbox: a smoke run that passes with the mix's
shares and its series in a real Prometheus, a run with 5% of payments failing that k6 and the
verdict both call out, every profile's scenarios in `k6 inspect`, and the baseline comparison.

Each k6 run is short (about ten seconds at a few iterations a second) and bounded by timeouts.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.prometheus import PrometheusServer
from loadtests import SCRIPT
from loadtests.baseline import compare
from loadtests.history import record
from loadtests.metrics import CONDITIONAL, LABELS, REMOTE_WRITE_METRICS
from loadtests.model import load_model
from loadtests.runner import find_k6
from tests.support import CANARY_ANON_KEY, eventually

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
MODEL = load_model()
RUN_TIMEOUT = 120


@dataclass
class Run:
    """One `python -m loadtests run` and what it left."""

    testid: str
    completed: subprocess.CompletedProcess[str]
    run_dir: Path
    token: str

    @property
    def summary(self) -> dict[str, Any]:
        return json.loads((self.run_dir / "summary.json").read_text())


def loadtest(*args: str, env: dict[str, str] | None = None,
             timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "loadtests", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def run_profile(sandbox_server, results: Path, *extra: str, env: dict[str, str] | None = None
                ) -> Run:
    token = sandbox_server.access_token()
    testid = f"pytest-{uuid.uuid4().hex[:8]}"
    environment = {**os.environ, "ANON_KEY": sandbox_server.anon_key, "API_TOKEN": token,
                   **(env or {})}
    completed = loadtest("run", "--profile", "smoke", "--base-url", sandbox_server.url,
                         "--results", str(results), "--testid", testid, "--timeout", "60",
                         *extra, env=environment)
    return Run(testid, completed, results / testid, token)


@pytest.fixture(scope="module")
def prometheus() -> Iterator[PrometheusServer]:
    with PrometheusServer({"global": {"scrape_interval": "15s"}}) as server:
        yield server


# A path of the real API that differs from the default (here: a fixed query string).
CLIENTS_PATH = "/api/clients?page=1&per_page=20"


@pytest.fixture(scope="module")
def smoke(sandbox_server, prometheus, tmp_path_factory) -> Run:
    """The smoke profile for ten seconds, remote-writing to Prometheus, with one path changed."""
    sandbox_server.clear_faults()
    results = tmp_path_factory.mktemp("results")
    paths = results / "paths.json"
    paths.write_text(json.dumps({"clients": CLIENTS_PATH}))
    return run_profile(sandbox_server, results, "--duration", "10s",
                       "--prometheus-url", prometheus.url, "--paths", str(paths))


@pytest.fixture(scope="module")
def failing_payments(sandbox_server, smoke, pg_server, tmp_path_factory) -> Iterator[Run]:
    """Six seconds with the sandbox failing 5% of payments, compared with the smoke run as
    baseline and recorded in load_test_results."""
    sandbox_server.set_faults("api", error_rate=0.05, error_paths=["/api/payments"])
    try:
        yield run_profile(sandbox_server, tmp_path_factory.mktemp("results"), "--duration", "6s",
                          "--baseline", str(smoke.run_dir / "summary.json"),
                          "--record-history",
                          env={"LOADTEST_DATABASE_URL": pg_server.dsn(dbname="wedsync")})
    finally:
        sandbox_server.clear_faults()


def explain(run: Run) -> str:
    log = (run.run_dir / "k6.log").read_text() if (run.run_dir / "k6.log").exists() else ""
    return f"stdout:\n{run.completed.stdout}\nstderr:\n{run.completed.stderr}\nk6.log:\n{log}"


# --- the smoke run ------------------------------------------------------------------------

def test_smoke_profile_passes_against_the_sandbox(smoke) -> None:
    assert smoke.completed.returncode == 0, explain(smoke)
    summary = smoke.summary
    assert (summary["verdict"], summary["k6_exit_code"], summary["profile"]) == (
        "PASS", 0, "smoke"), explain(smoke)
    assert "VERDICT: PASS" in smoke.completed.stdout
    assert set(summary["scenarios"]) == set(MODEL.scenarios)
    for name, row in summary["scenarios"].items():
        assert row["iterations"] > 0 and row["requests"] > 0 and row["passed"], name
        assert row["failure_rate"] == 0 and row["p95_ms"] is not None, name
    assert summary["overall"]["dropped_iterations"] == 0
    # Propagation to the other clients: every change reached every supplier.
    realtime = summary["scenarios"][MODEL.realtime_scenario]
    profile = MODEL.profiles["smoke"]["realtime"]
    assert realtime["requests"] == realtime["iterations"] * profile["changes"] * (
        profile["clients"] - 1)


def test_each_scenario_gets_its_share_of_the_iterations(smoke) -> None:
    rows = smoke.summary["scenarios"]
    total = sum(rows[name]["iterations"] for name in MODEL.mix)
    assert total >= 40, "too few iterations to judge the mix"
    for name, weight in MODEL.mix.items():
        share = rows[name]["iterations"] / total
        assert abs(share - weight / 100) <= 0.05, (name, share)


def test_k6_series_arrive_in_prometheus_with_the_testid_label(smoke, prometheus) -> None:
    selector = f'testid="{smoke.testid}",profile="smoke"'

    def requests_by_scenario() -> dict[str, float]:
        result = prometheus.query(f"sum by (scenario) (last_over_time("
                                  f"k6_http_reqs_total{{{selector}}}[10m]))")
        return {r["metric"]["scenario"]: float(r["value"][1]) for r in result}

    by_scenario = eventually(requests_by_scenario, timeout=20,
                             message="k6_http_reqs_total with the testid in Prometheus")
    assert set(by_scenario) == set(MODEL.mix)
    for name, count in by_scenario.items():
        assert count == smoke.summary["scenarios"][name]["requests"], name
    # The changed path is the one requested.
    assert prometheus.query(f'last_over_time(k6_http_reqs_total{{{selector},endpoint="clients",'
                            f'name="{CLIENTS_PATH}"}}[10m])')
    for series in ("k6_http_req_duration_p95", "k6_http_req_duration_p99",
                   "k6_realtime_core_fields_roundtrip_p99", "k6_http_req_failed_rate",
                   "k6_checks_rate", "k6_vus"):
        assert prometheus.query(f"last_over_time({series}{{{selector}}}[10m])"), series


def test_remote_write_produces_the_documented_names_and_labels(smoke, prometheus) -> None:
    series = prometheus.api("series", **{"match[]": f'{{testid="{smoke.testid}"}}'})
    names = {s["__name__"] for s in series}
    labels = {label for s in series for label in s} - {"__name__"}
    assert names <= REMOTE_WRITE_METRICS, names - REMOTE_WRITE_METRICS
    assert names >= REMOTE_WRITE_METRICS - CONDITIONAL, REMOTE_WRITE_METRICS - names
    assert labels <= set(LABELS), labels - set(LABELS)
    assert {s["scenario"] for s in series if "scenario" in s} == set(MODEL.scenarios)


def test_no_secret_reaches_prometheus_or_the_run_files(smoke, prometheus) -> None:
    series = json.dumps(prometheus.api("series", **{"match[]": f'{{testid="{smoke.testid}"}}'}))
    files = [path.read_text() for path in smoke.run_dir.iterdir()]
    for secret in (CANARY_ANON_KEY, smoke.token):
        assert secret not in series
        assert all(secret not in text for text in files)
        assert secret not in smoke.completed.stdout + smoke.completed.stderr


def test_verdict_command_judges_a_saved_summary_and_k6s_own_data(smoke) -> None:
    for name in ("summary.json", "k6-summary.json"):
        judged = loadtest("verdict", str(smoke.run_dir / name), timeout=30)
        assert judged.returncode == 0 and "VERDICT: PASS" in judged.stdout, judged.stderr
        for scenario in MODEL.scenarios:
            assert scenario in judged.stdout


# --- 5% of payments failing ---------------------------------------------------------------

def test_failing_payments_exit_with_the_threshold_code_and_the_verdict_names_payments(
        failing_payments) -> None:
    run = failing_payments
    assert run.completed.returncode == 99, explain(run)
    summary = run.summary
    assert (summary["verdict"], summary["k6_exit_code"]) == ("FAIL", 99)
    rows = summary["scenarios"]
    assert not rows["payments"]["passed"] and rows["payments"]["failure_rate"] > 0.001
    for name in ("vendor_dashboard", "couple_forms", "wedding_day_ops"):
        assert rows[name]["passed"] and rows[name]["failure_rate"] == 0, name
    # The verdict's reasons: the lines after "VERDICT: FAIL" (the baseline comparison follows).
    verdict = (run.run_dir / "verdict.txt").read_text()
    assert verdict in run.completed.stdout
    failing = verdict.split("VERDICT: FAIL\n")[1].splitlines()
    assert any(line.startswith("  - payments: http_req_failed{scenario:payments}")
               for line in failing), run.completed.stdout
    assert not any(name in line for line in failing
                   for name in ("vendor_dashboard", "couple_forms", "wedding_day_ops"))


def test_a_run_compared_with_its_baseline_reports_the_newly_failing_threshold(
        failing_payments) -> None:
    stdout = failing_payments.completed.stdout
    assert "REGRESSION" in stdout
    assert "payments: http_req_failed{scenario:payments} rate<0.001 newly failing" in stdout


def test_each_run_can_be_recorded_in_load_test_results(failing_payments, pg_server) -> None:
    rows = pg_server.execute(
        "SELECT test_type, total_requests, failed_requests, successful_requests, "
        "error_rate_percent, p95_response_time_ms, duration_seconds, started_at < completed_at "
        f"FROM load_test_results WHERE test_name = '{failing_payments.testid}'",
        dbname="wedsync")
    pg_server.execute(f"DELETE FROM load_test_results WHERE test_name = "
                      f"'{failing_payments.testid}'", dbname="wedsync")
    overall = failing_payments.summary["overall"]
    assert len(rows) == 1, failing_payments.completed.stderr
    test_type, total, failed, succeeded, error_percent, p95, duration, ordered = rows[0]
    assert (test_type, total, failed) == ("smoke", overall["requests"],
                                          overall["failed_requests"])
    assert failed >= 1 and succeeded == total - failed and ordered
    assert error_percent == pytest.approx(overall["failure_rate"] * 100)
    assert p95 == pytest.approx(overall["p95_ms"]) and duration >= 6


def test_recording_history_names_a_missing_table_without_leaking_the_address(
        smoke, breakable_pg) -> None:
    from loadtests.history import HistoryError

    dsn = breakable_pg.dsn()
    with pytest.raises(HistoryError) as caught:
        record(smoke.summary, dsn)
    assert "load_test_results" in str(caught.value) and "UndefinedTable" in str(caught.value)
    assert str(breakable_pg.port) not in str(caught.value)


def test_slow_realtime_propagation_fails_the_realtime_threshold_only(sandbox, tmp_path) -> None:
    # Deliveries to the other clients 150 ms late (the sender's ack is not delayed).
    sandbox.set_faults("realtime", echo_delay_ms=150)
    run = run_profile(sandbox, tmp_path, "--duration", "3s", "--realtime-rate", "60")
    assert run.completed.returncode == 99, explain(run)
    rows = run.summary["scenarios"]
    realtime = rows[MODEL.realtime_scenario]
    assert not realtime["passed"] and realtime["p95_ms"] >= 150
    assert realtime["failure_rate"] == 0  # late, not lost
    assert all(rows[name]["passed"] for name in MODEL.mix) and run.summary["overall"]["passed"]
    assert [t["metric"] for t in run.summary["thresholds"] if not t["ok"]] == [
        "realtime_core_fields_roundtrip"]


def test_run_with_its_default_results_folder_from_another_directory_passes(sandbox,
                                                                             tmp_path) -> None:
    """As a user types it: the installed command, no --results, started somewhere else than
    the checkout. The default folder is relative (loadtests/results) while k6 runs inside the
    run's own folder, so it must be resolved against where the command was started."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    environment = {**os.environ, "ANON_KEY": sandbox.anon_key,
                   "API_TOKEN": sandbox.access_token()}
    script = Path(sys.executable).parent / "wedsync-loadtest"
    done = subprocess.run([str(script), "run", "--base-url", sandbox.url, "--duration", "3s",
                           "--timeout", "60"], cwd=elsewhere, env=environment,
                          capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "VERDICT: PASS" in done.stdout and "no end-of-test data" not in done.stdout
    [run_dir] = (elsewhere / "loadtests" / "results").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["verdict"] == "PASS" and summary["overall"]["requests"] > 0
    assert f"summary: {run_dir / 'summary.json'}" in done.stdout


# --- the baseline comparison --------------------------------------------------------------

def test_an_equal_run_passes_the_baseline_comparison(smoke) -> None:
    path = str(smoke.run_dir / "summary.json")
    compared = loadtest("compare", path, path, timeout=30)
    assert compared.returncode == 0 and "no regression" in compared.stdout
    assert not compare(smoke.summary, copy.deepcopy(smoke.summary)).regressed


def test_a_planted_p95_regression_is_caught(smoke, tmp_path) -> None:
    baseline = smoke.summary
    slower = copy.deepcopy(baseline)
    slower["scenarios"]["payments"]["p95_ms"] = baseline["scenarios"]["payments"]["p95_ms"] * 1.2
    within = copy.deepcopy(baseline)
    within["scenarios"]["payments"]["p95_ms"] = baseline["scenarios"]["payments"]["p95_ms"] * 1.09
    (tmp_path / "slower.json").write_text(json.dumps(slower))
    compared = loadtest("compare", str(tmp_path / "slower.json"),
                        str(smoke.run_dir / "summary.json"), timeout=30)
    assert compared.returncode == 1 and "REGRESSION" in compared.stdout
    assert "payments: p95" in compared.stdout and "+20%" in compared.stdout
    assert not compare(within, baseline).regressed
    assert compare(within, baseline, tolerance=0.05).regressed


def test_a_threshold_failing_in_the_baseline_too_is_not_a_new_regression(smoke) -> None:
    failing = copy.deepcopy(smoke.summary)
    for threshold in failing["thresholds"]:
        if threshold["metric"] == "checks":
            threshold["ok"] = False
    assert compare(failing, smoke.summary).regressed
    comparison = compare(failing, failing)
    assert not comparison.regressed and any("baseline too" in n for n in comparison.notes)


def test_runs_of_different_profiles_are_not_compared(smoke, tmp_path) -> None:
    other = copy.deepcopy(smoke.summary)
    other["profile"] = "load"
    (tmp_path / "load.json").write_text(json.dumps(other))
    compared = loadtest("compare", str(smoke.run_dir / "summary.json"),
                        str(tmp_path / "load.json"), timeout=30)
    assert compared.returncode == 2 and "same profile" in compared.stderr


# --- k6 inspect and the command's refusals ------------------------------------------------

def inspect(profile: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(find_k6()), "inspect", "--include-system-env-vars", str(SCRIPT)],
                          env={**os.environ, "PROFILE": profile, **env}, capture_output=True,
                          text=True, timeout=60)


def stage_targets(scenario: dict[str, Any]) -> list[int]:
    if scenario["executor"] == "constant-arrival-rate":
        return [scenario["rate"]]
    return [scenario["startRate"], *(stage["target"] for stage in scenario["stages"])]


@pytest.mark.parametrize("profile", sorted(MODEL.profiles))
def test_k6_inspect_shows_the_scenarios_of_every_profile(profile) -> None:
    inspected = inspect(profile)
    assert inspected.returncode == 0, inspected.stderr
    options = json.loads(inspected.stdout)
    scenarios = options["scenarios"]
    assert set(scenarios) == set(MODEL.scenarios)
    for name, scenario in scenarios.items():
        assert scenario["exec"] == name
        assert scenario["executor"] in ("constant-arrival-rate", "ramping-arrival-rate")
        assert scenario["timeUnit"] == "1m0s" and scenario["maxVUs"] >= scenario[
            "preAllocatedVUs"]
    # The mix stays exact at every stage (rates are per minute, so rounding is at most 1).
    total = [sum(values) for values in zip(*(stage_targets(scenarios[n]) for n in MODEL.mix),
                                           strict=True)]
    for name, weight in MODEL.mix.items():
        for target, whole in zip(stage_targets(scenarios[name]), total, strict=True):
            assert abs(target - whole * weight / 100) <= 1, (name, target, whole)
    thresholds = options["thresholds"]
    for metric, expressions in MODEL.thresholds.items():
        assert set(expressions) <= {t for t in thresholds[metric] if isinstance(t, str)}
    for name in MODEL.mix:
        assert "rate<0.001" in thresholds[f"http_req_failed{{scenario:{name}}}"]
    aborting = [t for t in thresholds["http_req_failed"] if isinstance(t, dict)]
    if profile in ("stress", "spike"):
        assert aborting == [{"threshold": "rate<0.05", "abortOnFail": True,
                             "delayAbortEval": "30s"}]
    else:
        assert aborting == []


def test_rates_and_durations_come_from_variables() -> None:
    options = json.loads(inspect("smoke", RATE="600", DURATION="2m",
                                 REALTIME_RATE="0").stdout)
    scenarios = options["scenarios"]
    assert scenarios["vendor_dashboard"]["rate"] == 240
    assert scenarios["payments"]["rate"] == 60 and scenarios["payments"]["duration"] == "2m0s"
    assert MODEL.realtime_scenario not in scenarios
    assert not any(key.startswith("realtime_core_fields") for key in options["thresholds"])


@pytest.mark.parametrize(("env", "named"), [
    ({"PROFILE": "monday"}, "unknown PROFILE"),
    ({"RATE": "lots"}, "RATE"),
    ({"DURATION": "ten"}, "DURATION"),
    ({"API_PATHS": '{"payments": "/v2/pay"}'}, "unknown keys payments"),
])
def test_the_script_refuses_bad_variables_by_name(env, named) -> None:
    inspected = inspect(env.pop("PROFILE", "smoke"), **env)
    assert inspected.returncode != 0 and named in inspected.stderr


def test_run_refuses_to_start_without_its_secrets(tmp_path) -> None:
    environment = {k: v for k, v in os.environ.items() if k not in ("ANON_KEY", "API_TOKEN")}
    refused = loadtest("run", "--results", str(tmp_path), env=environment, timeout=30)
    assert refused.returncode == 2 and "ANON_KEY and API_TOKEN" in refused.stderr
    assert not any(tmp_path.iterdir())


def test_run_refuses_a_paths_file_with_unknown_endpoints(tmp_path) -> None:
    paths = tmp_path / "paths.json"
    paths.write_text('{"dashboard": "/v2/dashboard", "refunds": "/v2/refunds"}')
    environment = {**os.environ, "ANON_KEY": "a", "API_TOKEN": "t"}
    refused = loadtest("run", "--paths", str(paths), "--results", str(tmp_path / "r"),
                       env=environment, timeout=30)
    assert refused.returncode == 2 and "unknown endpoint 'refunds'" in refused.stderr


def test_verdict_refuses_a_file_that_is_not_a_summary(tmp_path) -> None:
    (tmp_path / "x.json").write_text('{"hello": 1}')
    (tmp_path / "y.json").write_text("not json")
    for name in ("x.json", "y.json", "missing.json"):
        judged = loadtest("verdict", str(tmp_path / name), timeout=30)
        assert judged.returncode == 2 and name in judged.stderr
