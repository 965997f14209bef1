"""The verdict: READY when no rule below finds a reason, else NOT READY with every reason.

The rules, in the order their reasons are listed (docs/drill.md explains each):

1. ``drill-failed``     the drill itself did not do what it says: the fault could not be
                        injected or mended, or the load test sent no request.
2. ``not-detected``     none of the fault's detecting alerts fired after the injection.
3. ``missed-page``      the fault was expected to page (its alert routes to the pager on this
                        day, and for an SLO fault, a paging burn-rate tier would fire at the
                        fault's share of failures) but no page for it arrived.
4. ``late-page``        the first page for the fault came later than promised (the computed
                        worst case for the stack's intervals, ``drill.timing``) plus the
                        tolerance.
5. ``duplicated-pages`` more than one page for the one fault: the same group paged again, or
                        another alert the fault sets off opened an incident of its own.
6. ``not-resolved``     after recovery, an alert the fault explains was still firing when the
                        drill ended although it was due to have resolved (its
                        ``keep_firing_for``, the window its expression reads — a burn-rate
                        tier's short window —, and the way to the pager), or the pager never
                        got the resolved notification. Alerts not yet due are a note.
7. ``unexpected-page``  a page during the drill that the fault does not explain (with no fault:
                        any page) — a false alarm, or a second problem.
8. ``slo-not-held``     an SLO the fault does not break by design failed more than its error
                        budget of events over the load (on a wedding day there is no budget to
                        spend, so any SLO past it fails the drill); ``slo-blind``: an SLO saw no
                        events at all during the load, so nobody would notice it failing.
9. ``load-test-failed`` a k6 threshold failed that the fault does not cross by design (or k6
                        itself failed).
10. ``exporter-unhealthy`` a scrape of the exporter failed, its liveness check failed, or it
                        rejected request timings during the drill.
11. ``watchdog-interrupted`` (``--ha``) the Watchdog went silent at its receiver for longer
                        than it is repeated (plus the tolerance) while one Prometheus, one
                        Alertmanager and one exporter were killed.

A fault's intended effect is not held against the platform: API errors break api-availability
and k6's failure thresholds, slow Realtime breaks realtime-propagation and k6's propagation
threshold. Such a drill judges whether that breach was detected and paged once, and whether
everything else held.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drill.analysis import Detection, ExporterHealth, LoadResult, Pages, SloResult
from drill.faults import Fault
from exporter.human_time import duration_text, elapsed_text

READY = "READY"
NOT_READY = "NOT READY"


@dataclass(frozen=True)
class Reason:
    """One reason for NOT READY: the rule that found it, one sentence for a person, and a few
    words for the headline (the sentence itself when it is short)."""

    rule: str
    text: str
    short: str = ""

    def to_json(self) -> dict[str, str]:
        return {"rule": self.rule, "text": self.text, "short": self.short or self.text}


@dataclass(frozen=True)
class Evidence:
    """What the rules read."""

    fault: Fault
    injected: bool
    drill_errors: list[str]
    detection: Detection
    pages: Pages
    slos: list[SloResult]
    load: LoadResult
    exporter: ExporterHealth
    tolerance_seconds: float
    # The HA drill: how often the Watchdog must arrive, and its longest silence (None: none).
    watchdog_every: float | None = None
    watchdog_gap: float | None = None


def _percent(ratio: float) -> str:
    return f"{ratio * 100:.2f}%" if ratio < 0.1 else f"{ratio * 100:.1f}%"


def reasons(evidence: Evidence) -> list[Reason]:
    """Every reason the drill is NOT READY (empty: READY)."""
    found = [Reason("drill-failed", error) for error in evidence.drill_errors]
    if evidence.load.requests == 0:
        found.append(Reason("drill-failed", "the load test sent no request, so nothing was "
                                            "rehearsed under load"))
    found += _pager_reasons(evidence)
    found += _slo_reasons(evidence.slos)
    unexcused = evidence.load.unexcused
    if unexcused:
        found.append(Reason("load-test-failed", "load test FAIL: " + "; ".join(unexcused),
                            f"load test FAIL ({len(unexcused)} of its checks)"))
    found += _exporter_reasons(evidence.exporter)
    found += _watchdog_reasons(evidence)
    return found


def _watchdog_reasons(evidence: Evidence) -> list[Reason]:
    every = evidence.watchdog_every
    if every is None:
        return []
    gap = evidence.watchdog_gap
    if gap is None:
        return [Reason("watchdog-interrupted", "the Watchdog never reached its receiver during "
                                               "the drill")]
    if gap > every + evidence.tolerance_seconds:
        return [Reason("watchdog-interrupted",
                       f"the Watchdog was silent for {elapsed_text(gap)}; it is repeated every "
                       f"{duration_text(every)} (+{duration_text(evidence.tolerance_seconds)} "
                       f"tolerance)", f"Watchdog silent {elapsed_text(gap)}")]
    return []


def _pager_reasons(evidence: Evidence) -> list[Reason]:
    fault, detection, pages = evidence.fault, evidence.detection, evidence.pages
    found: list[Reason] = []
    if evidence.injected and fault.detecting and detection.alert is None:
        names = " or ".join(sorted({m.name for m in fault.detecting}))
        found.append(Reason("not-detected", f"{fault.title}, but {names} never fired"))
    if pages.missed and (detection.alert is not None or not fault.detecting):
        found.append(Reason("missed-page", f"{detection.alert or fault.title} fired but no "
                                           f"page reached {pages.receiver}"))
    promise = detection.promise
    if (detection.page_seconds is not None and promise is not None
            and detection.page_seconds > promise.worst + evidence.tolerance_seconds):
        found.append(Reason("late-page", f"paged after {elapsed_text(detection.page_seconds)}; "
                                         f"promised within {duration_text(promise.worst)} (+"
                                         f"{duration_text(evidence.tolerance_seconds)} "
                                         f"tolerance)"))
    if len(pages.for_fault) > 1:
        listed = "; ".join(p.describe() for p in pages.for_fault)
        found.append(Reason("duplicated-pages", f"{len(pages.for_fault)} pages for one fault "
                                                f"({listed})",
                            f"{len(pages.for_fault)} pages for one fault"))
    if detection.still_firing:
        found.append(Reason("not-resolved", f"still firing after recovery: "
                                            f"{', '.join(detection.still_firing)}"))
    elif not detection.not_yet_due and any(p.resolved_at is None for p in pages.for_fault):
        found.append(Reason("not-resolved", "the pager was never told the fault resolved"))
    found += [Reason("unexpected-page", f"unexpected page: {page.describe()}")
              for page in pages.unexpected]
    return found


def _slo_reasons(slos: list[SloResult]) -> list[Reason]:
    found = []
    for slo in slos:
        if slo.broken_by_fault:
            continue
        if not slo.events:
            found.append(Reason("slo-blind", f"SLO {slo.slo} saw no events during the load: "
                                             f"its SLI is blind"))
        elif slo.error_ratio is not None and not slo.held:
            found.append(Reason("slo-not-held", f"SLO {slo.slo} not held: "
                                                f"{_percent(slo.error_ratio)} of events failed "
                                                f"over the load (objective "
                                                f"{slo.objective * 100:g}%, budget "
                                                f"{_percent(slo.budget)})",
                                f"SLO {slo.slo} not held ({_percent(slo.error_ratio)} "
                                f"failed, budget {_percent(slo.budget)})"))
    return found


def _exporter_reasons(health: ExporterHealth) -> list[Reason]:
    if health.healthy:
        return []
    problems = []
    if not health.scrapes:
        problems.append("Prometheus has no scrape of it")
    elif health.failed_scrapes:
        problems.append(f"{health.failed_scrapes} of {health.scrapes} scrapes failed")
    if health.liveness_failures:
        problems.append(f"/-/healthy failed {health.liveness_failures} of "
                        f"{health.liveness_polls} checks")
    if (health.ingest_rejected or 0) >= 1:
        problems.append(f"it rejected {health.ingest_rejected:.0f} request timings")
    return [Reason("exporter-unhealthy", f"exporter unhealthy: {'; '.join(problems)}")]


def headline(verdict: str, found: list[Reason], evidence: Evidence) -> str:
    """The one line at the top of the report."""
    if found:
        return f"{NOT_READY}: " + "; ".join(reason.short or reason.text for reason in found)
    parts = []
    detection, fault = evidence.detection, evidence.fault
    if evidence.injected and fault.detecting:
        parts.append(f"{fault.title}: {detection.alert} fired after "
                     f"{elapsed_text(detection.detect_seconds)}"
                     + (f", paged once after {elapsed_text(detection.page_seconds)}"
                        if detection.page_seconds is not None else ", no page expected")
                     + (", resolved" if not detection.not_yet_due
                        else ", not yet due to resolve when the drill ended"))
    else:
        parts.append("no page")
    held = [slo.slo for slo in evidence.slos if not slo.broken_by_fault]
    parts.append(f"SLOs held ({', '.join(held)})")
    parts.append(f"load test {evidence.load.verdict}"
                 + (" apart from what the fault breaks" if evidence.load.excused else ""))
    parts.append("exporter healthy")
    return f"{verdict}: " + "; ".join(parts)


def judge(evidence: Evidence) -> dict[str, Any]:
    """The verdict, its reasons and its one-line headline."""
    found = reasons(evidence)
    verdict = NOT_READY if found else READY
    return {"verdict": verdict, "headline": headline(verdict, found, evidence),
            "reasons": [reason.to_json() for reason in found]}
