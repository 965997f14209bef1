"""The run summary: k6's end-of-test data (``handleSummary``) turned into one small JSON document
per run — per scenario requests, failure rate, p95 and p99, every threshold with its observed
value, and the verdict. Its shape (``FORMAT``) is documented in docs/loadtests.md; the verdict
text, the baseline comparison and the history row are all made from it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtests.model import load_model

FORMAT = "wedsync-loadtest-summary/1"
ALL = "all"  # the row of the whole run and the owner of its run-wide thresholds

# k6's exit codes worth naming in a verdict (go.k6.io/k6/errext/exitcodes).
K6_EXIT_CODES = {
    0: "success", 99: "thresholds crossed", 100: "setup timed out",
    101: "teardown timed out", 103: "engine error", 104: "invalid configuration",
    105: "stopped from outside", 107: "script error", 108: "script aborted the test",
}
THRESHOLD_CODE = 99

# The order of a scenario row's keys in summary.json (what a person reads first).
ROW_KEYS = ("kind", "weight", "iterations", "iteration_share", "requests", "failure_rate",
            "avg_ms", "p95_ms", "p99_ms", "checks_rate", "passed")

_METRIC_KEY = re.compile(r"^(?P<name>[\w.]+)(\{(?P<tags>[^}]*)\})?$")
_EXPRESSION = re.compile(r"^\s*(?P<aggregation>[a-z]+(\(\d+(\.\d+)?\))?)\s*"
                         r"(?P<operator><=|>=|===|==|!=|<|>)\s*(?P<bound>-?\d+(\.\d+)?)\s*$")


class SummaryError(ValueError):
    """A file that is neither a run summary nor k6's end-of-test data."""


@dataclass(frozen=True)
class RunFacts:
    """What the runner knows about a run that k6's data does not say."""

    testid: str | None = None
    profile: str | None = None
    base_url: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    k6_exit_code: int | None = None


def metric_tags(key: str) -> tuple[str, dict[str, str]]:
    """``http_req_failed{scenario:payments}`` -> ("http_req_failed", {"scenario": "payments"})."""
    match = _METRIC_KEY.match(key)
    if match is None:
        return key, {}
    tags: dict[str, str] = {}
    for pair in (match.group("tags") or "").split(","):
        name, _, value = pair.partition(":")
        if name.strip():
            tags[name.strip()] = value.strip()
    return match.group("name"), tags


def owner_of(metric: str, tags: dict[str, str]) -> str:
    """The scenario a threshold belongs to (``ALL`` for the whole HTTP mix)."""
    realtime = load_model().realtime_scenario
    if "scenario" in tags:
        return tags["scenario"]
    return realtime if metric.startswith(f"{realtime}_") else ALL


def observed(values: dict[str, float], expression: str) -> float | None:
    """The value a threshold expression tests (``p(95)<200`` -> values["p(95)"])."""
    match = _EXPRESSION.match(expression)
    if match is None:
        return None
    value = values.get(match.group("aggregation"))
    return None if value is None else float(value)


def thresholds_of(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every threshold k6 evaluated, with its owner, observed value and outcome."""
    out: list[dict[str, Any]] = []
    for key, metric in sorted(data.get("metrics", {}).items()):
        name, tags = metric_tags(key)
        for expression, result in (metric.get("thresholds") or {}).items():
            out.append({"metric": key, "scenario": owner_of(name, tags),
                        "expression": expression,
                        "value": observed(metric.get("values", {}), expression),
                        "unit": "ms" if metric.get("contains") == "time" else metric.get("type"),
                        "ok": bool(result.get("ok"))})
    order = (ALL, *load_model().scenarios)
    return sorted(out, key=lambda t: order.index(t["scenario"]) if t["scenario"] in order
                  else len(order))


def _values(data: dict[str, Any], key: str) -> dict[str, float]:
    return dict(data.get("metrics", {}).get(key, {}).get("values", {}))


def _row(data: dict[str, Any], tag: str, requests: str, failures: str,
         latency: str) -> dict[str, Any]:
    """Requests, failure rate, latency percentiles, iterations and checks of one row."""
    trend = _values(data, f"{latency}{tag}")
    return {
        "requests": int(_values(data, f"{requests}{tag}").get("count", 0)),
        "failure_rate": _values(data, f"{failures}{tag}").get("rate"),
        "avg_ms": trend.get("avg"), "p95_ms": trend.get("p(95)"), "p99_ms": trend.get("p(99)"),
        "iterations": int(_values(data, f"iterations{tag}").get("count", 0)),
        "checks_rate": _values(data, f"checks{tag}").get("rate"),
    }


def scenario_rows(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """One row per scenario that ran. Realtime's requests are the Core Field deliveries
    measured and its failure rate the share that never arrived."""
    model = load_model()
    rows: dict[str, dict[str, Any]] = {}
    mix_iterations = sum(int(_values(data, f"iterations{{scenario:{name}}}").get("count", 0))
                         for name in model.mix)
    for name in model.scenarios:
        tag = f"{{scenario:{name}}}"
        if f"iterations{tag}" not in data.get("metrics", {}):
            continue  # not part of this profile (e.g. REALTIME_RATE=0)
        if name == model.realtime_scenario:
            row = _row(data, "", f"{name}_roundtrip", f"{name}_lost", f"{name}_roundtrip")
            row["iterations"] = int(_values(data, f"iterations{tag}").get("count", 0))
            row["checks_rate"] = _values(data, f"checks{tag}").get("rate")
            row.update(kind="realtime", weight=None, iteration_share=None)
        else:
            row = _row(data, tag, "http_reqs", "http_req_failed", "http_req_duration")
            row.update(kind="http", weight=model.weight(name),
                       iteration_share=row["iterations"] / mix_iterations
                       if mix_iterations else None)
        rows[name] = row
    return rows


def overall_row(data: dict[str, Any]) -> dict[str, Any]:
    """The whole HTTP mix, plus the run-wide figures."""
    row = _row(data, "", "http_reqs", "http_req_failed", "http_req_duration")
    failed = _values(data, "http_req_failed").get("passes", 0)  # a "pass" is a failed request
    row.update(
        failed_requests=int(failed),
        throughput_rps=_values(data, "http_reqs").get("rate"),
        dropped_iterations=int(_values(data, "dropped_iterations").get("count", 0)),
        vus_max=int(_values(data, "vus_max").get("max", 0)),
    )
    return row


def reasons_to_fail(thresholds: list[dict[str, Any]], exit_code: int | None) -> list[str]:
    """Why a run fails, one line each (empty: it passes)."""
    reasons = [f"{t['scenario']}: {t['metric']} {t['expression']} "
               f"(observed {format_value(t['value'], t['unit'])})"
               for t in thresholds if not t["ok"]]
    if exit_code not in (None, 0, THRESHOLD_CODE):
        reasons.append(f"k6 exited with code {exit_code} "
                       f"({K6_EXIT_CODES.get(exit_code, 'see k6.log')})")
    elif exit_code == THRESHOLD_CODE and not reasons:
        reasons.append("k6 exited with code 99 (thresholds crossed)")
    return reasons


def format_value(value: float | None, unit: str | None) -> str:
    """A threshold's observed value as a person reads it."""
    if value is None:
        return "no data"
    if unit == "rate":
        return f"{value * 100:.2f}%"
    if unit == "ms":
        return f"{value:.1f} ms"
    return f"{value:g}"


def summarise(data: dict[str, Any], facts: RunFacts) -> dict[str, Any]:
    """The run summary of k6's end-of-test ``data``."""
    if not isinstance(data.get("metrics"), dict):
        raise SummaryError("this is not k6's end-of-test data (no 'metrics' object)")
    model = load_model()
    thresholds = thresholds_of(data)
    reasons = reasons_to_fail(thresholds, facts.k6_exit_code)
    scenarios = scenario_rows(data)
    for name, row in scenarios.items():
        row["passed"] = all(t["ok"] for t in thresholds if t["scenario"] == name)
        scenarios[name] = {key: row[key] for key in ROW_KEYS}
    overall = overall_row(data)
    overall["passed"] = all(t["ok"] for t in thresholds if t["scenario"] == ALL)
    state = data.get("state", {})
    duration_ms = state.get("testRunDurationMs")
    return {
        "format": FORMAT,
        "testid": facts.testid,
        "profile": facts.profile,
        "test_type": model.test_type(facts.profile) if facts.profile in model.profiles
        else None,
        "base_url": facts.base_url,
        "started_at": facts.started_at,
        "finished_at": facts.finished_at,
        "duration_seconds": None if duration_ms is None else round(duration_ms / 1000, 3),
        "k6_exit_code": facts.k6_exit_code,
        "verdict": "FAIL" if reasons else "PASS",
        "reasons": reasons,
        "overall": overall,
        "scenarios": scenarios,
        "thresholds": thresholds,
    }


def load_summary(path: Path) -> dict[str, Any]:
    """A run summary from ``path``: one this package wrote, or k6's raw end-of-test data
    (summarised without the runner's facts)."""
    try:
        document = json.loads(Path(path).read_text())
    except OSError as exc:
        raise SummaryError(f"cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise SummaryError(f"{path} is not JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(document, dict):
        raise SummaryError(f"{path} is not a run summary (not a JSON object)")
    if document.get("format") == FORMAT:
        return document
    if "metrics" in document and "root_group" in document:
        return summarise(document, RunFacts())
    raise SummaryError(f"{path} is neither a run summary ({FORMAT}) nor k6's end-of-test data")
