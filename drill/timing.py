"""How fast the stack runs, and the time within which a fault is promised to page.

Two interval profiles for the stack the drill starts itself: ``production`` (the shipped
settings: probes, scrapes and rule evaluations every 15 s, the committed ``for:`` and
``group_wait``) and ``fast`` (everything about a second, ``for:`` x0.03, the probe timeout
below the probe interval as in production, so that a drill takes well under a minute).

The promise for an alert on a probed component (``alerts.notification_time``): the next probe,
scrape and evaluation (worst case one interval each), the alert's ``for:``, the route's
``group_wait`` — plus the probe timeout when the fault makes a probe hang.

The promise for a burn-rate alert: its two windows must both hold an error ratio above
``factor x budget``. With a share ``e`` of the SLI's events failing from the fault on, and ``h``
seconds of good events already in a window of ``W`` seconds, the ratio after ``t`` seconds is
``e*t / min(W, h + t)``; it crosses ``k*b`` at ``t = k*b*h / (e - k*b)`` while the window is
still filling, else at ``t = k*b*W / e``, and never when ``e <= k*b``. In steady production the
windows are full (``h >= W``). The events then travel: a report interval (the API's batched
timings) or probe interval, a scrape, and two evaluations (the SLI recording group, then the
alert group), then ``group_wait``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from alerts import durations
from alerts.notification_time import (
    Settings,
    alert_named,
    evaluation_seconds,
    for_seconds,
    notification_time,
)
from alerts.routing import deliveries
from alerts.slo import SLOS, TIERS, Tier
from drill.faults import Fault


@dataclass(frozen=True)
class Timing:
    """The intervals a stack runs with (seconds, except the Prometheus duration strings)."""

    name: str
    probe_interval: float
    probe_timeout: float
    scrape_interval: float
    evaluation_interval: float
    for_scale: float
    # None: the committed alertmanager.yml's own (15 s for the pager route).
    group_wait: float | None
    group_interval: float | None
    repeat_interval: float | None
    report_interval: float
    # The exporter's named queries (None: as configured, 60 s by default). Fast drills run
    # them as often as the probes, so that a query failure ends with the fault as it would in
    # production, where the queries' minute is short next to a for: of minutes.
    query_interval: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def settings(self, group_wait: float) -> Settings:
        """alerts.notification_time's view of these intervals."""
        return Settings(probe_interval=self.probe_interval, scrape_interval=self.scrape_interval,
                        evaluation_interval=self.evaluation_interval, group_wait=group_wait,
                        for_scale=self.for_scale)


PRODUCTION = Timing("production", probe_interval=15, probe_timeout=5, scrape_interval=15,
                    evaluation_interval=15, for_scale=1.0, group_wait=None,
                    group_interval=None, repeat_interval=None, report_interval=5)
# The probe timeout stays below the probe interval, as in production (5 s of 15 s): a hung
# probe then times out instead of overrunning into the next run.
FAST = Timing("fast", probe_interval=1, probe_timeout=0.9, scrape_interval=1,
              evaluation_interval=1, for_scale=0.03, group_wait=1, group_interval=1,
              repeat_interval=3600, report_interval=1, query_interval=1)
TIMINGS = {t.name: t for t in (FAST, PRODUCTION)}
# SLIs fed by the exporter's own probes; the others come from the API's posted timings.
PROBED_SLOS = frozenset({"realtime-propagation"})


@dataclass(frozen=True)
class Promise:
    """Best and worst seconds from fault to page, and what they are made of."""

    alert: str
    best: float
    worst: float
    parts: dict[str, float]

    @property
    def detect_best(self) -> float:
        """Fault to the alert firing in Prometheus, best case (the page less group_wait)."""
        return self.best - self.parts["group_wait"]

    @property
    def detect_worst(self) -> float:
        return self.worst - self.parts["group_wait"]

    def to_json(self) -> dict[str, Any]:
        return {"alert": self.alert, "best_seconds": round(self.best, 1),
                "worst_seconds": round(self.worst, 1),
                "detect_best_seconds": round(self.detect_best, 1),
                "detect_worst_seconds": round(self.detect_worst, 1),
                "parts": {k: round(v, 1) for k, v in self.parts.items()}}


def group_wait_of(timing: Timing, labels: dict[str, str]) -> float:
    """The timing's group_wait, else that of the committed route an alert with ``labels``
    takes to the pager (5 s for critical alerts, 15 s for burn-rate pages)."""
    if timing.group_wait is not None:
        return timing.group_wait
    return durations.seconds(deliveries(labels)[0].group_wait)


def component_promise(alert: str, wedding_day: bool, timing: Timing, hangs: bool) -> Promise:
    """Fault to page for an alert on a probed component."""
    definition = alert_named(alert)
    settings = timing.settings(group_wait_of(timing, {
        "alertname": alert, "severity": definition.severity, "category": definition.category,
        "wedding_day": "true" if wedding_day else "false"}))
    computed = notification_time(alert_named(alert), wedding_day, settings)
    hang = timing.probe_timeout if hangs else 0.0
    parts = {"for": for_seconds(definition, wedding_day, timing.for_scale),
             "group_wait": settings.group_wait, "probe_interval": timing.probe_interval,
             "scrape_interval": timing.scrape_interval,
             "evaluation_interval": evaluation_seconds(definition, settings),
             "probe_timeout": hang}
    return Promise(alert, computed.best + hang, computed.worst + hang, parts)


def crossing_seconds(share: float, threshold: float, window: float, history: float) -> float:
    """Seconds after the fault until the error ratio over ``window`` exceeds ``threshold``,
    with ``history`` seconds of good events before it (math.inf: never)."""
    if share <= threshold:
        return math.inf
    filling = threshold * history / (share - threshold)
    if history + filling < window:
        return filling
    return threshold * window / share


def tier_crossing(tier: Tier, budget: float, share: float, history: float) -> float:
    """Seconds until both windows of a burn-rate tier exceed its threshold."""
    threshold = tier.factor * budget
    return max(crossing_seconds(share, threshold, durations.seconds(window), history)
               for window in (tier.long, tier.short))


def budget_of(slo: str) -> float:
    for spec in SLOS:
        if spec.name == slo:
            return spec.budget
    raise KeyError(f"no SLO is called {slo}")


def burn_promise(slo: str, share: float, wedding_day: bool, timing: Timing,
                 history: float = math.inf) -> Promise | None:
    """Fault to page through the fastest burn-rate tier that pages (None: none would fire)."""
    budget = budget_of(slo)
    best: tuple[float, Tier] | None = None
    for tier in TIERS:
        if tier.wedding_day_only and not wedding_day:
            continue
        # On other days warning tiers go to the ticket receiver, not the pager.
        if tier.severity != "critical" and not wedding_day:
            continue
        crossing = tier_crossing(tier, budget, share, history)
        if math.isfinite(crossing) and (best is None or crossing < best[0]):
            best = (crossing, tier)
    if best is None:
        return None
    crossing, tier = best
    wait = group_wait_of(timing, {"alertname": tier.alert, "category": "slo", "slo": slo,
                                  "severity": tier.severity,
                                  "wedding_day": "true" if wedding_day else "false"})
    if slo in PROBED_SLOS:
        feed = timing.probe_interval
    else:
        # The API's batched timings; and a rate needs a second sample of a new 5xx series.
        feed = timing.report_interval + timing.scrape_interval
    parts = {"crossing": crossing, "group_wait": wait, "feed_interval": feed,
             "scrape_interval": timing.scrape_interval,
             "evaluation_interval": 2 * timing.evaluation_interval}
    return Promise(tier.alert, crossing + wait,
                   crossing + wait + feed + timing.scrape_interval
                   + 2 * timing.evaluation_interval, parts)


def fault_promise(fault: Fault, params: dict[str, float], wedding_day: bool, timing: Timing,
                  history: float = math.inf, share: float | None = None) -> Promise | None:
    """The promise for a fault of the catalogue (None: nothing would page)."""
    if fault.slos:
        bad = share if share is not None else fault.share(params)
        return burn_promise(fault.slos[0], bad or 1.0, wedding_day, timing, history)
    if not fault.detecting:
        return None
    return component_promise(fault.detecting[0].name, wedding_day, timing, fault.hangs)


def dashboard_worst(fault: Fault, timing: Timing) -> float:
    """Worst seconds from the fault until a dashboard shows it: the next probe (its timeout if
    it hangs) and scrape; for the API's SLIs the batched timings, two scrapes (a rate needs two
    samples) and the recording rule's evaluation."""
    if fault.slos and fault.service == "api":
        return timing.report_interval + 2 * timing.scrape_interval + timing.evaluation_interval
    hang = timing.probe_timeout if fault.hangs else 0.0
    return timing.probe_interval + hang + timing.scrape_interval
