"""Burn-rate alerts against the SRE workbook: each tier fires when it should after a step change
in the error rate, and nothing fires at 0.9 times the budget.

The cases are generated here (one promtool test group per SLO and tier) from the workbook's
table written out below — not from the alerts package — and run by promtool against the
committed rules.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "prometheus" / "rules"

# (alert, long window, short window, burn factor, severity, minutes per window) — the Google SRE
# workbook's multi-window, multi-burn-rate table, plus our wedding-day tier (no budget at all).
TIERS = {
    "WedSyncSLOBurnRate1h": ("1h", "5m", 14.4, "critical", 60),
    "WedSyncSLOBurnRate6h": ("6h", "30m", 6, "critical", 360),
    "WedSyncSLOBurnRate1d": ("1d", "2h", 3, "warning", 1440),
    "WedSyncSLOBurnRate3d": ("3d", "6h", 1, "warning", 4320),
    "WedSyncSLOBurnWeddingDay": ("30m", "5m", 1, "critical", 30),
}
OBJECTIVES = {"api-availability": 0.999, "api-latency-200ms": 0.95, "api-latency-1s": 0.99,
              "realtime-propagation": 0.99}
PER_SECOND = 10.0
# The step puts errors at 1.25x the tier's threshold: the long window reaches the threshold
# after 80% of its length, so at 70% the tier must be quiet and at 90% it must fire.
OVER = 1.25

EXPORTER = 'job="wedsync-exporter",instance="exporter:9847"'
API = f'{EXPORTER},route="/api/clients/:id",method="GET",status_class="2xx"'


def counter(per_step_before: float, per_step_after: float, step_at: int, steps: int) -> str:
    """A promtool value string: a counter growing by one amount per step, then another."""
    values, total = [], 0.0
    for index in range(steps + 1):
        values.append(f"{total:g}")
        total += per_step_after if index >= step_at else per_step_before
    return " ".join(values)


def series(slo: str, error_ratio: float, step_at: int, steps: int, step_seconds: int
           ) -> list[dict[str, str]]:
    """Input series where ``slo`` has no errors before ``step_at`` and ``error_ratio`` after."""
    events = PER_SECOND * step_seconds
    good = counter(events, events * (1 - error_ratio), step_at, steps)
    bad = counter(0, events * error_ratio, step_at, steps)
    every = counter(events, events, step_at, steps)
    if slo == "api-availability":
        return [{"series": f"wedsync_http_request_duration_seconds_count{{{API}}}", "values": good},
                {"series": "wedsync_http_request_duration_seconds_count{"
                           + API.replace("2xx", "5xx") + "}", "values": bad}]
    if slo == "realtime-propagation":
        name, fast = "wedsync_realtime_broadcast_roundtrip_seconds", "0.1"
        labels = f'{EXPORTER},target="supabase"'
        return [{"series": f"{name}_count{{{labels}}}", "values": every},
                {"series": f'{name}_bucket{{{labels},le="{fast}"}}', "values": good}]
    name = "wedsync_http_request_duration_seconds"
    within_1s = good if slo == "api-latency-1s" else every
    return [{"series": f"{name}_count{{{API}}}", "values": every},
            {"series": f'{name}_bucket{{{API},le="0.2"}}', "values": good},
            {"series": f'{name}_bucket{{{API},le="1.0"}}', "values": within_1s}]


def firing(alert: str, slo: str, wedding_day: bool) -> str:
    return (f'ALERTS{{alertname="{alert}",alertstate="firing",category="slo",'
            f'severity="{TIERS[alert][3]}",slo="{slo}",source="exporter",'
            f'wedding_day="{"true" if wedding_day else "false"}"}}')


def step_case(slo: str, alert: str, step_seconds: int) -> dict[str, Any]:
    _, _, factor, _, minutes = TIERS[alert]
    budget = 1 - OBJECTIVES[slo]
    wedding_only = alert == "WedSyncSLOBurnWeddingDay"
    # A whole clean window before the step, so that every window is full of history.
    step_at = minutes * 60 // step_seconds
    quiet, loud = (round(step_at + minutes * 60 * share / step_seconds) for share in (0.7, 0.9))
    inputs = series(slo, OVER * factor * budget, step_at, loud + 1, step_seconds)
    if not wedding_only:
        inputs.append({"series": f"wedsync_wedding_day{{{EXPORTER}}}",
                       "values": f"0x{loud + 1}"})
    query = f'ALERTS{{alertname="{alert}",slo="{slo}"}}'
    return {
        "name": f"{alert} for {slo} after a step to {OVER}x its threshold",
        "interval": f"{step_seconds}s",
        "input_series": inputs,
        "promql_expr_test": [
            {"expr": query, "eval_time": f"{quiet * step_seconds}s", "exp_samples": []},
            {"expr": query, "eval_time": f"{loud * step_seconds}s",
             "exp_samples": [{"labels": firing(alert, slo, wedding_only), "value": 1}]},
        ],
    }


def rules_of(slos: list[str], tmp_path: Path) -> Path:
    """The committed SLO rules with only the recordings of ``slos`` (the alerts are shared by
    every SLO): evaluating four SLOs over days of samples would cost minutes of CPU."""
    document = yaml.safe_load((RULES / "slo.yml").read_text())
    for group in document["groups"]:
        group["rules"] = [r for r in group["rules"]
                          if "alert" in r or r["labels"]["slo"] in slos]
    path = tmp_path / "slo.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def run_promtool(tmp_path: Path, name: str, interval: str, cases: list[dict[str, Any]],
                 slos: list[str]) -> None:
    document = {
        "rule_files": [str(RULES / "wedding-day.yml"), str(rules_of(slos, tmp_path))],
        "evaluation_interval": interval,
        "group_eval_order": ["wedsync-wedding-day", "wedsync-slo-sli", "wedsync-slo-budget",
                             "wedsync-slo-alerts"],
        "tests": cases,
    }
    path = tmp_path / f"{name}.test.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    done = subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True,
                          text=True, timeout=280)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr


@pytest.mark.parametrize("slo", sorted(OBJECTIVES))
def test_page_tiers_fire_when_the_workbook_says_after_a_step_change(tmp_path: Path,
                                                                    slo: str) -> None:
    cases = [step_case(slo, alert, 60) for alert in
             ("WedSyncSLOBurnRate1h", "WedSyncSLOBurnWeddingDay", "WedSyncSLOBurnRate6h")]
    run_promtool(tmp_path, "pages", "1m", cases, [slo])


def test_ticket_tiers_fire_when_the_workbook_says_after_a_step_change(tmp_path: Path) -> None:
    # One SLO is enough here: the tier rules are shared by every SLO, and each SLO's own SLI
    # expressions are exercised by the page tiers above and by prometheus/tests/slo.test.yml.
    slo = "api-availability"
    cases = [step_case(slo, alert, 300) for alert in
             ("WedSyncSLOBurnRate1d", "WedSyncSLOBurnRate3d")]
    run_promtool(tmp_path, "tickets", "5m", cases, [slo])


def test_nothing_fires_at_nine_tenths_of_the_budget_even_on_a_wedding_day(tmp_path: Path
                                                                          ) -> None:
    # Every SLO at 0.9 times its budget at once, for a little over a day of 5-minute steps
    # (the ratio of a window is the same whether it is full or not for a constant rate).
    steps, events = 26 * 12, PER_SECOND * 300
    counts = {
        "status_class=\"5xx\"": 0.9 * 0.001,
        "status_class=\"2xx\"": 1 - 0.9 * 0.001,
    }
    slow_200ms, slow_1s = 0.9 * 0.05, 0.9 * 0.01
    api = f'{EXPORTER},route="/api/clients/:id",method="GET"'
    name = "wedsync_http_request_duration_seconds"
    inputs = [{"series": f"{name}_count{{{api},{labels}}}",
               "values": counter(events * share, events * share, 0, steps)}
              for labels, share in counts.items()]
    # The 5xx answers are fast; the slow requests are all 2xx.
    for le, slow in (("0.2", slow_200ms), ("1.0", slow_1s)):
        inputs.append({"series": f'{name}_bucket{{{api},status_class="5xx",le="{le}"}}',
                       "values": counter(events * 0.9 * 0.001, events * 0.9 * 0.001, 0, steps)})
        within = events * (1 - slow - 0.9 * 0.001)
        inputs.append({"series": f'{name}_bucket{{{api},status_class="2xx",le="{le}"}}',
                       "values": counter(within, within, 0, steps)})
    inputs += series("realtime-propagation", 0.9 * 0.01, 0, steps, 300)
    tests: list[dict[str, Any]] = []
    for slo in sorted(OBJECTIVES):
        tests += [{"expr": f'ALERTS{{alertname=~"WedSyncSLO.+",slo="{slo}"}}',
                   "eval_time": at, "exp_samples": []} for at in ("10m", "1h", "6h", "26h")]
        # The ratios are really there, at 0.9 of the budget, not missing.
        tests.append({"expr": f'round(slo:sli_error:ratio_rate1d{{slo="{slo}"}} / '
                              f'slo:error_budget:ratio{{slo="{slo}"}}, 0.01)',
                      "eval_time": "26h",
                      "exp_samples": [{"labels": f'{{slo="{slo}"}}', "value": 0.9}]})
    case = {"name": "every SLO at 0.9x its budget", "interval": "5m", "input_series": inputs,
            "promql_expr_test": tests}
    run_promtool(tmp_path, "budget", "5m", [case], sorted(OBJECTIVES))
