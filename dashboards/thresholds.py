"""The values panels draw as threshold lines: the SLOs of DESIGN.md and the alert thresholds.

Where the rules already hold a number it is read from them (``alerts.slo`` for objectives and
latency buckets, an alert's ``Timing`` for thresholds that differ on wedding days, the k6 model
for load-test thresholds), so a dashboard cannot draw a line the pager does not use. The few
numbers that live only inside an alert's expression are written here; a test checks each one
against that expression.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from alerts.build import all_alerts
from alerts.slo import SLO, SLOS, TIERS
from loadtests.model import load_model


def slo(name: str) -> SLO:
    """The SLO called ``name`` in alerts/slo.py."""
    for spec in SLOS:
        if spec.name == name:
            return spec
    raise KeyError(f"no SLO named {name!r} in alerts/slo.py")


def latency_bound(name: str) -> float:
    """The latency (seconds) a latency SLO counts as good: its ``le`` bucket."""
    found = re.search(r'le="([0-9.]+)"', slo(name).errors)
    if not found:
        raise ValueError(f"SLO {name!r} has no latency bucket")
    return float(found[1])


@dataclass(frozen=True)
class AlertLine:
    """An alert's threshold on wedding days and on other days."""

    wedding_day: float
    other_days: float


@cache
def alert_line(name: str) -> AlertLine:
    """The thresholds of alert ``name`` (both days; the same when it has one)."""
    for alert in all_alerts():
        if alert.name == name and alert.other_days.threshold is not None:
            wedding = alert.wedding_days or alert.other_days
            threshold = wedding.threshold if wedding.threshold is not None \
                else alert.other_days.threshold
            return AlertLine(threshold, alert.other_days.threshold)
    raise KeyError(f"alert {name!r} has no threshold in alerts/")


def k6_bound(metric: str, statistic: str) -> float:
    """A threshold of the k6 model, e.g. ``("http_req_duration", "p(95)")`` -> 0.2 (seconds
    for trends, which k6 states in milliseconds; a share for rates)."""
    for rule in load_model().thresholds.get(metric, []):
        found = re.fullmatch(rf"{re.escape(statistic)}\s*[<>]=?\s*([0-9.]+)", str(rule))
        if found:
            value = float(found[1])
            return value / 1000 if statistic.startswith(("p(", "avg", "med", "max")) else value
    raise KeyError(f"the k6 model has no {statistic} threshold on {metric}")


# --- the SLOs (DESIGN.md "Service levels") -----------------------------------------------------
API_ERROR_BUDGET = slo("api-availability").budget          # error rate < 0.1%
API_P95 = latency_bound("api-latency-200ms")                # 95% under 200 ms
API_P99 = latency_bound("api-latency-1s")                   # 99% under 1 s
REALTIME_P99 = latency_bound("realtime-propagation")        # 99% under 100 ms
WEDDING_DAY_OPS_P95 = k6_bound("http_req_duration{scenario:wedding_day_ops}", "p(95)")
# Only inside alert expressions (checked against them by a test):
DATABASE_P95 = 0.05                 # WedSyncDatabaseSlow: probe round trip p95 < 50 ms
DATABASE_CACHE_HIT = 0.99          # validation.thresholds.cache_hit_ratio's default
CACHE_HIT_TARGET = 0.95             # DESIGN.md: > 95% target ...
CACHE_HIT_ALERT = 0.85              # ... WedSyncCacheHitRatioLow below 85%
LONG_TRANSACTION = 300.0            # WedSyncDatabaseLongTransaction: 5 minutes
# Burn-rate factors of the paging and ticket tiers.
BURN_FACTORS: tuple[float, ...] = tuple(sorted({tier.factor for tier in TIERS}))
