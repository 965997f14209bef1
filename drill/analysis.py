"""From what the drill observed to findings: alerts with fire and resolve times, pages, the
fault's time to dashboard, detect, page and resolve, the SLOs over the run, the load test, and
the exporter's health. Each finding is a plain dataclass the verdict rules read and the report
writes.

Definitions (docs/drill.md repeats them):

- A **page** is a firing notification to the pager receiver that opens an incident: the first
  for its Alertmanager group (``groupKey``), or the first after that group was resolved.
  PagerDuty deduplicates on the group, so later notifications for an open group update the same
  incident instead of paging again.
- A page is **for the fault** when it opened after the injection and one of its alerts is one
  the fault detects or sets off (``drill.faults``); any other page during the drill is
  **unexpected**. More than one page for the fault is **duplicated**; none, when the fault's
  alert fired and was expected to page, is **missed**.
- **Time to dashboard**: injection → the first poll at which the fault's symptom query had a
  result. **Time to detect**: injection → the first poll at which one of the fault's detecting
  alerts was firing in Prometheus. **Time to page**: injection → the first page for the fault
  reaching the webhook. **Time to resolve**: recovery → that alert no longer firing;
  **time to all-clear**: recovery → the pager's resolved notification.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from alerts import durations
from alerts.monitoring import WATCHDOG
from alerts.slo import SLOS, TIERS
from drill.apis import APIError, Prometheus
from drill.faults import Fault
from drill.timing import Promise
from drill.watch import AlertTimeline, Observations
from exporter.human_time import duration_text
from harness.webhook import Notification


@dataclass(frozen=True)
class DrillTimes:
    """Wall-clock moments of one drill (unix seconds)."""

    started_at: float
    load_started_at: float
    load_ended_at: float
    finished_at: float
    injected_at: float | None = None
    recovered_at: float | None = None

    def offset(self, moment: float | None) -> float | None:
        """Seconds since the drill started."""
        return None if moment is None else round(moment - self.started_at, 1)


@dataclass
class Page:
    """One incident opened at the pager."""

    group_key: str
    alerts: list[dict[str, str]]
    opened_at: float
    resolved_at: float | None = None
    notifications: int = 1
    for_fault: bool = False

    def alertnames(self) -> list[str]:
        return sorted({a.get("alertname", "") for a in self.alerts})

    def to_json(self) -> dict[str, Any]:
        return {"description": self.describe(), "group_key": self.group_key,
                "alerts": self.alerts, "opened_at": round(self.opened_at, 3),
                "resolved_at": None if self.resolved_at is None else round(self.resolved_at, 3),
                "notifications": self.notifications, "for_fault": self.for_fault}

    def describe(self) -> str:
        """``Alertname{key labels}`` of its alerts, for a person."""
        shown = []
        for labels in self.alerts:
            keep = {k: v for k, v in labels.items()
                    if k in ("slo", "component", "target", "query")}
            inner = ",".join(f"{k}={v}" for k, v in sorted(keep.items()))
            shown.append(f"{labels.get('alertname')}{{{inner}}}" if inner
                         else labels.get("alertname", ""))
        return ", ".join(sorted(set(shown)))


@dataclass
class Pages:
    """The pager's side of the drill."""

    receiver: str
    during_drill: list[Page] = field(default_factory=list)
    for_fault: list[Page] = field(default_factory=list)
    unexpected: list[Page] = field(default_factory=list)
    expected_to_page: bool = False
    missed: bool = False
    tickets: list[str] = field(default_factory=list)
    watchdog_notifications: int = 0

    @property
    def duplicated(self) -> list[Page]:
        return self.for_fault[1:]


@dataclass
class Detection:
    """How fast the fault was seen, paged and cleared."""

    alert: str | None = None
    dashboard_seconds: float | None = None
    detect_seconds: float | None = None
    page_seconds: float | None = None
    resolve_seconds: float | None = None
    all_clear_seconds: float | None = None
    # Alerts the fault explains that still fired when the drill ended although they were due
    # to have resolved (a reason), and those not yet due (a note: the drill ended first).
    still_firing: list[str] = field(default_factory=list)
    not_yet_due: list[str] = field(default_factory=list)
    promise: Promise | None = None


@dataclass
class SloResult:
    """One SLO over the drill's load."""

    slo: str
    objective: float
    budget: float
    error_ratio: float | None
    events: float | None
    max_ratio_5m: float | None
    broken_by_fault: bool

    @property
    def held(self) -> bool:
        return self.error_ratio is not None and self.error_ratio <= self.budget


@dataclass
class ExporterHealth:
    """Did the exporter keep serving while the platform was under load and broken?"""

    scrapes: int | None
    failed_scrapes: int | None
    max_scrape_seconds: float | None
    max_loop_lag_seconds: float | None
    liveness_polls: int
    liveness_failures: int
    ingest_accepted: float | None
    ingest_rejected: float | None

    @property
    def healthy(self) -> bool:
        return (self.scrapes is not None and self.scrapes > 0 and self.failed_scrapes == 0
                and self.liveness_failures == 0 and not (self.ingest_rejected or 0) >= 1)


@dataclass
class LoadResult:
    """The k6 run: its summary and the thresholds the fault was meant to cross."""

    verdict: str
    exit_code: int | None
    reasons: list[str]
    excused: list[str]
    scenarios: dict[str, Any]
    overall: dict[str, Any]
    summary_path: str | None
    requests: int

    @property
    def unexcused(self) -> list[str]:
        return [r for r in self.reasons if r not in self.excused]


# --- pages ------------------------------------------------------------------------------------
def incidents(notifications: Iterable[Notification], receiver: str) -> list[Page]:
    """Incidents opened at ``receiver``, in order, from every notification it got."""
    open_pages: dict[str, Page] = {}
    pages: list[Page] = []
    for note in sorted(notifications, key=lambda n: n.received_at):
        if note.receiver != receiver:
            continue
        labels = [dict(a.get("labels", {})) for a in note.alerts
                  if a.get("status", note.status) == "firing"]
        current = open_pages.get(note.group_key)
        if note.status == "firing":
            if current is None:
                current = Page(note.group_key, labels, note.received_at)
                open_pages[note.group_key] = current
                pages.append(current)
            else:
                current.notifications += 1
                known = {tuple(sorted(a.items())) for a in current.alerts}
                current.alerts += [a for a in labels if tuple(sorted(a.items())) not in known]
        elif note.status == "resolved" and current is not None:
            current.resolved_at = note.received_at
            current.notifications += 1
            del open_pages[note.group_key]
    return pages


def pages_of(notifications: list[Notification], receiver: str, fault: Fault, times: DrillTimes,
             expected_to_page: bool) -> Pages:
    """The drill's pages, sorted into for the fault and unexpected."""
    result = Pages(receiver=receiver, expected_to_page=expected_to_page)
    for page in incidents(notifications, receiver):
        if page.opened_at < times.started_at:
            continue  # opened before the drill (an earlier drill's, or a real one)
        result.during_drill.append(page)
        page.for_fault = (times.injected_at is not None and page.opened_at >= times.injected_at
                          and any(fault.explains(a) for a in page.alerts))
        (result.for_fault if page.for_fault else result.unexpected).append(page)
    result.missed = expected_to_page and not result.for_fault
    during = [n for n in notifications if n.received_at >= times.started_at]
    result.watchdog_notifications = sum(1 for n in during if WATCHDOG in n.alertnames())
    result.tickets = sorted({", ".join(sorted(n.alertnames())) for n in during
                             if n.receiver not in (receiver, "watchdog")
                             and n.status == "firing"})
    return result


def longest_watchdog_gap(notifications: list[Notification], times: DrillTimes) -> float | None:
    """The longest silence of the Watchdog at its receiver from the drill's start to its end
    (its first notification counted from the start, the end from its last); None if none."""
    arrivals = sorted(n.received_at for n in notifications
                      if WATCHDOG in n.alertnames() and n.status == "firing"
                      and times.started_at <= n.received_at <= times.finished_at)
    if not arrivals:
        return None
    edges = [times.started_at, *arrivals, times.finished_at]
    return max(b - a for a, b in itertools.pairwise(edges))


# --- alerts and detection ---------------------------------------------------------------------
def alert_rows(observations: Observations, fault: Fault, times: DrillTimes
               ) -> list[dict[str, Any]]:
    """Every alert that fired during the watch, with its fire and resolve times."""
    rows = []
    for timeline in observations.alerts.values():
        for episode in timeline.episodes:
            labels = {k: v for k, v in timeline.labels.items() if k != "alertname"}
            rows.append({
                "alertname": timeline.labels.get("alertname", ""),
                "labels": labels, "severity": timeline.severity, "summary": timeline.summary,
                "fired_at": round(episode.fired_at, 3),
                "fired_offset_seconds": times.offset(episode.fired_at),
                "firing_before_drill": episode.before_watch,
                "resolved_at": None if episode.resolved_at is None
                else round(episode.resolved_at, 3),
                "resolved_offset_seconds": times.offset(episode.resolved_at),
                "explained_by_fault": fault.explains(timeline.labels),
                "receivers": sorted(timeline.receivers),
                "inhibited": timeline.inhibited_by_seen,
            })
    return sorted(rows, key=lambda r: (r["fired_at"], r["alertname"]))


def _detecting(observations: Observations, fault: Fault) -> list[AlertTimeline]:
    return [t for t in observations.alerts.values()
            if any(match.matches(t.labels) for match in fault.detecting)]


def detection_of(observations: Observations, fault: Fault, times: DrillTimes,
                 pages: Pages, allowances: dict[str, float] | None = None) -> Detection:
    """Time to dashboard, detect, page, resolve and all-clear for the fault. ``allowances``:
    seconds after recovery by which each alert is due to have resolved (``resolve_allowance``);
    an alert still firing before its time is not held against the drill."""
    detection = Detection()
    injected, recovered = times.injected_at, times.recovered_at
    if injected is None:
        return detection
    seen = [t for t in observations.symptom_seen if t >= injected]
    if seen:
        detection.dashboard_seconds = round(seen[0] - injected, 1)
    # Only an alert that started firing after the injection detected it.
    fired = sorted(((episode.fired_at, timeline, episode)
                    for timeline in _detecting(observations, fault)
                    for episode in timeline.episodes if episode.fired_at >= injected),
                   key=lambda item: item[0])
    if fired:
        moment, timeline, episode = fired[0]
        detection.alert = timeline.labels.get("alertname")
        detection.detect_seconds = round(moment - injected, 1)
        if recovered is not None and episode.resolved_at is not None:
            detection.resolve_seconds = round(episode.resolved_at - recovered, 1)
    allowances = allowances or {}
    for name in sorted({t.labels.get("alertname", "") for t in observations.alerts.values()
                        if t.firing and fault.explains(t.labels)}):
        due = None if recovered is None else recovered + allowances.get(name, 0.0)
        if due is not None and times.finished_at < due:
            detection.not_yet_due.append(
                f"{name} (due within {duration_text(due - recovered)} of recovery; the drill "
                f"ended after {duration_text(times.finished_at - recovered)})")
        else:
            detection.still_firing.append(name)
    if pages.for_fault:
        first = pages.for_fault[0]
        detection.page_seconds = round(first.opened_at - injected, 1)
        if recovered is not None and first.resolved_at is not None:
            detection.all_clear_seconds = round(first.resolved_at - recovered, 1)
    return detection


# How long after recovery an alert may keep firing: the burn-rate tiers until the errors leave
# their short window; other alerts the longest range their expression reads (an
# increase(…[15m]) stays up for 15 minutes); then keep_firing_for; then the way to the pager.
RANGE = re.compile(r"\[(\d+(?:\.\d+)?(?:ms|[smhdwy]))(?::[^\]]*)?\]")
SHORT_WINDOWS = {tier.alert: durations.seconds(tier.short) for tier in TIERS}


def resolve_allowance(rule: dict[str, Any], travel: float) -> float:
    """Seconds after recovery by which an alerting rule (Prometheus' rules API) is due to
    have resolved and the resolved notification to have arrived."""
    decay = SHORT_WINDOWS.get(rule["name"])
    if decay is None:
        decay = max((durations.seconds(m) for m in RANGE.findall(rule.get("query", ""))),
                    default=0.0)
    return float(rule.get("keepFiringFor", 0)) + decay + travel


def resolve_allowances(rules: list[dict[str, Any]], travel: float) -> dict[str, float]:
    """``resolve_allowance`` per alert name (the longest of its rules)."""
    out: dict[str, float] = {}
    for rule in rules:
        if rule.get("type") == "alerting":
            out[rule["name"]] = max(out.get(rule["name"], 0.0), resolve_allowance(rule, travel))
    return out


# --- SLOs, exporter, load ---------------------------------------------------------------------
# rate(SELECTOR[$window]) -> what the counters gained over the window, a series born inside
# it counted from zero. (increase() never counts a new series' first value: a route's first
# 5xx would vanish, and a short drill with errors spread over many routes would look clean.)
RATE_OF = re.compile(r"rate\((?P<selector>[^\[()]+)\[\$window\]\)")


def gained(expr: str, window: str) -> str:
    """An SLO spec's rate expression as the exact gain of its counters over ``window``."""
    return RATE_OF.sub(lambda m: f"({m['selector']} - ({m['selector']} offset {window} "
                                 f"or {m['selector']} * 0))", expr)


def slo_results(prometheus: Prometheus, fault: Fault, times: DrillTimes) -> list[SloResult]:
    """Each SLO's share of failed events over exactly the load's window, from the SLO spec's
    own expressions (so an earlier drill does not count, and nothing is extrapolated)."""
    window = f"{max(1, round(times.load_ended_at - times.load_started_at))}s"
    results = []
    for slo in SLOS:
        events = _scalar(prometheus, gained(slo.total, window), times.load_ended_at)
        # No series of bad events (no 5xx answer at all, say) is zero bad events.
        errors = max(0.0, _scalar(prometheus, gained(slo.errors, window),
                                  times.load_ended_at) or 0.0)
        ratio = errors / events if events else None
        peak = _scalar(prometheus, f'max_over_time(slo:sli_error:ratio_rate5m{{slo="{slo.name}"}}'
                                   f"[{window}])", times.load_ended_at)
        results.append(SloResult(slo.name, slo.objective, slo.budget, ratio, events, peak,
                                 slo.name in fault.slos))
    return results


def _scalar(prometheus: Prometheus, expr: str, at: float) -> float | None:
    try:
        value = prometheus.scalar(expr, at)
    except APIError:
        return None
    return None if value is None or value != value else value  # NaN: no events


def exporter_health(prometheus: Prometheus, observations: Observations, times: DrillTimes,
                    job: str, matchers: str = "") -> ExporterHealth:
    """Scrapes, liveness, loop lag and ingestion over the whole drill; ``matchers`` (such as
    ``instance="…"``) pick the exporters judged: the HA drill's survivor, not its victim."""
    window = f"{max(1, round(times.finished_at - times.started_at))}s"
    at = times.finished_at
    up = f'up{{job="{job}"' + (f",{matchers}" if matchers else "") + "}"
    scrapes = _scalar(prometheus, f"sum(count_over_time({up}[{window}]))", at)
    good = _scalar(prometheus, f"sum(sum_over_time({up}[{window}]))", at)
    return ExporterHealth(
        scrapes=None if scrapes is None else int(scrapes),
        failed_scrapes=None if scrapes is None else int(scrapes - (good or 0)),
        max_scrape_seconds=_scalar(prometheus, f'max(max_over_time(scrape_duration_seconds'
                                               f'{{job="{job}"}}[{window}]))', at),
        max_loop_lag_seconds=_scalar(prometheus, f"max(max_over_time("
                                                 f"wedsync_event_loop_lag_seconds[{window}]))",
                                     at),
        liveness_polls=observations.health_polls,
        liveness_failures=len(observations.health_failures),
        ingest_accepted=_scalar(prometheus, f'sum(increase(wedsync_ingest_events_total'
                                            f'{{result="accepted"}}[{window}]))', at),
        ingest_rejected=_scalar(prometheus, f"sum(increase(wedsync_ingest_rejected_total"
                                            f"[{window}]))", at))


def load_result(summary: dict[str, Any] | None, summary_path: str | None, fault: Fault
                ) -> LoadResult:
    """The k6 verdict, with the failures the fault causes by design set apart."""
    if summary is None:
        return LoadResult("FAIL", None, ["k6 did not run"], [], {}, {}, None, 0)
    reasons = list(summary.get("reasons", []))
    excused = []
    for threshold in summary.get("thresholds", []):
        metric = str(threshold.get("metric", "")).split("{", 1)[0]
        if not threshold.get("ok") and metric in fault.k6_metrics:
            excused += [r for r in reasons if f" {threshold['metric']} " in f" {r} "
                        and threshold["expression"] in r]
    return LoadResult(summary.get("verdict", "FAIL"), summary.get("k6_exit_code"), reasons,
                      sorted(set(excused)), summary.get("scenarios", {}),
                      summary.get("overall", {}), summary_path,
                      int(summary.get("overall", {}).get("requests") or 0))


def to_json(value: Any) -> Any:
    """A finding as JSON-ready data."""
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if hasattr(value, "to_json"):
        return value.to_json()
    if hasattr(value, "__dataclass_fields__"):
        data = {name: to_json(getattr(value, name)) for name in value.__dataclass_fields__}
        for name in ("held", "healthy", "unexcused", "duplicated"):
            if hasattr(value, name):
                data[name] = to_json(getattr(value, name))
        return data
    return value
