"""Comparing a run's summary with a saved baseline: a regression is a p95 more than 10% worse
(per scenario and for the whole run) or a threshold that fails now but did not before."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loadtests.summary import ALL, format_value

DEFAULT_TOLERANCE = 0.10


class BaselineError(ValueError):
    """Two summaries that cannot be compared (different profiles)."""


@dataclass
class Comparison:
    """What changed between the baseline and the run."""

    regressions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)

    def render(self) -> str:
        """The comparison as text (ends with a newline)."""
        lines = ["REGRESSION" if self.regressed else "no regression against the baseline"]
        lines += [f"  - {line}" for line in self.regressions]
        lines += [f"  note: {line}" for line in self.notes]
        return "\n".join(lines) + "\n"


def _rows(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {**summary.get("scenarios", {}), ALL: summary.get("overall", {})}


def _threshold_key(threshold: dict[str, Any]) -> tuple[str, str]:
    return threshold["metric"], threshold["expression"]


def compare(current: dict[str, Any], baseline: dict[str, Any],
            tolerance: float = DEFAULT_TOLERANCE) -> Comparison:
    """Regressions of ``current`` against ``baseline`` (BaselineError if they are runs of
    different profiles, whose latencies say nothing about each other)."""
    if current.get("profile") and baseline.get("profile") and \
            current["profile"] != baseline["profile"]:
        raise BaselineError(f"the baseline is a {baseline['profile']} run and this is a "
                            f"{current['profile']} run; compare runs of the same profile")
    result = Comparison()
    before_rows = _rows(baseline)
    for name, row in _rows(current).items():
        now, then = row.get("p95_ms"), before_rows.get(name, {}).get("p95_ms")
        if then is None or now is None:
            missing = "this run" if now is None else "the baseline"
            result.notes.append(f"{name}: no p95 in {missing}; not compared")
            continue
        if then > 0 and now > then * (1 + tolerance):
            result.regressions.append(
                f"{name}: p95 {then:.1f} ms -> {now:.1f} ms (+{(now / then - 1) * 100:.0f}%, "
                f"more than {tolerance * 100:.0f}% worse)")
        elif then == 0 and now > 0:
            result.notes.append(f"{name}: p95 was 0 ms in the baseline; not compared")
    before_thresholds = {_threshold_key(t): t for t in baseline.get("thresholds", [])}
    for threshold in current.get("thresholds", []):
        if threshold["ok"]:
            continue
        previous = before_thresholds.get(_threshold_key(threshold))
        observed = format_value(threshold["value"], threshold["unit"])
        if previous is not None and not previous["ok"]:
            result.notes.append(f"{threshold['metric']} {threshold['expression']} failed in the "
                                f"baseline too (now {observed})")
        else:
            result.regressions.append(
                f"{threshold['scenario']}: {threshold['metric']} {threshold['expression']} "
                f"newly failing (observed {observed})")
    return result
