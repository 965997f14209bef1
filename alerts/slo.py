"""SLOs from one spec (in the manner of Sloth): SLI recording rules, error budget, burn-rate alerts.

Each ``SLO`` names its bad and total events as PromQL rates over ``$window``. From that come:

- ``slo:sli_error:rate5m`` and ``slo:sli_total:rate5m`` (events per second, 5-minute rate);
- ``slo:sli_error:ratio_rate<W>`` for every window W the alerts and dashboards need. Windows up
  to 2h are computed from the raw counters; 6h and longer from the recorded 5-minute rates
  (request-weighted: summed bad events over summed events), so a long window costs one series
  instead of every route's;
- ``slo:objective:ratio``, ``slo:error_budget:ratio``, ``slo:current_burn_rate:ratio`` (5m),
  ``slo:period_burn_rate:ratio`` and ``slo:period_error_budget_remaining:ratio`` (30 days).

Every series carries the label ``slo``. With no traffic a ratio is 0/0 = NaN, and no
comparison with NaN is true, so nothing fires; the ingestion-silence alert covers that case.

Burn-rate alerts follow the multi-window, multi-burn-rate table of the Google SRE workbook; one
rule per tier serves every SLO (the ``slo`` label tells them apart). On wedding days there is no
error budget: an extra tier pages when both the 30-minute and the 5-minute error ratio exceed
the budget itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from string import Template

from alerts.model import Alert, Group, Recording, Severity, Timing

RAW_WINDOWS: tuple[str, ...] = ("5m", "30m", "1h", "2h")
RECORDED_WINDOWS: tuple[str, ...] = ("6h", "1d", "3d", "30d")
PERIOD = "30d"


@dataclass(frozen=True)
class SLO:
    """One service level objective: ``errors`` and ``total`` are PromQL rates over $window."""

    name: str
    objective: float
    description: str
    errors: str
    total: str

    @property
    def budget(self) -> float:
        """The error budget as a ratio (1 - objective)."""
        return round(1 - self.objective, 10)

    def ratio(self, window: str) -> str:
        """The error ratio over ``window`` from the raw counters."""
        errors = Template(self.errors).substitute(window=window)
        total = Template(self.total).substitute(window=window)
        return f"(\n  {errors}\n)\n/\n(\n  {total}\n)"


REQUESTS = "sum(rate(wedsync_http_request_duration_seconds_count[$window]))"


def _slower_than(histogram: str, le: str) -> str:
    """Bad events of a latency SLI: all observations minus those within the ``le`` bucket."""
    return (f"sum(rate({histogram}_count[$window]))\n  - "
            f'sum(rate({histogram}_bucket{{le="{le}"}}[$window]))')


POSTGRES_CHANGE = "wedsync_realtime_postgres_change_seconds"
BROADCAST = "wedsync_realtime_broadcast_roundtrip_seconds"


def _preferring(preferred: str, fallback: str, le: str, *, errors: bool) -> str:
    """Bad (``errors``) or all events of a latency SLI measured by ``preferred`` on the targets
    where it has observations in the window, and by ``fallback`` on the others (an explicit
    ``or`` per target)."""
    def total(histogram: str) -> str:
        return f"sum by (target) (rate({histogram}_count[$window]))"

    def bad(histogram: str) -> str:
        return (f"{total(histogram)}\n    - sum by (target) "
                f'(rate({histogram}_bucket{{le="{le}"}}[$window]))')

    has_data = f"{total(preferred)} > 0"
    if errors:
        return (f"sum(\n  (\n    {bad(preferred)}\n    and on (target)\n    {has_data}\n  )\n"
                f"  or\n  (\n    {bad(fallback)}\n  )\n)")
    return f"sum(\n  ({has_data})\n  or\n  {total(fallback)}\n)"


# Bucket bounds are written exactly as prometheus-client exposes them ("1.0", not "1").
SLOS: tuple[SLO, ...] = (
    SLO("api-availability", 0.999,
        "API requests that are not answered with a 5xx status (99.9% over 30 days).",
        'sum(rate(wedsync_http_request_duration_seconds_count{status_class="5xx"}[$window]))',
        REQUESTS),
    SLO("api-latency-200ms", 0.95,
        "API requests answered within 200 ms (95%).",
        _slower_than("wedsync_http_request_duration_seconds", "0.2"), REQUESTS),
    SLO("api-latency-1s", 0.99,
        "API requests answered within 1 s (99%).",
        _slower_than("wedsync_http_request_duration_seconds", "1.0"), REQUESTS),
    SLO("realtime-propagation", 0.99,
        "Core Fields changes that reach a Realtime subscriber within 100 ms (99%): the "
        "postgres_changes round trip of targets that have the Core Fields probe, the "
        "broadcast echo of the others.",
        _preferring(POSTGRES_CHANGE, BROADCAST, "0.1", errors=True),
        _preferring(POSTGRES_CHANGE, BROADCAST, "0.1", errors=False)),
)


@dataclass(frozen=True)
class Tier:
    """One burn-rate alert: both windows burn faster than ``factor`` times the budget."""

    alert: str
    long: str
    short: str
    factor: float
    severity: Severity
    wedding_day_only: bool = False


# Fastest first: each tier is inhibited while a faster one fires for the same SLO
# (prometheus/alertmanager.yml).
TIERS: tuple[Tier, ...] = (
    Tier("WedSyncSLOBurnRate1h", "1h", "5m", 14.4, "critical"),
    Tier("WedSyncSLOBurnWeddingDay", "30m", "5m", 1, "critical", wedding_day_only=True),
    Tier("WedSyncSLOBurnRate6h", "6h", "30m", 6, "critical"),
    Tier("WedSyncSLOBurnRate1d", "1d", "2h", 3, "warning"),
    Tier("WedSyncSLOBurnRate3d", "3d", "6h", 1, "warning"),
)


def _labelled(slo: SLO) -> dict[str, str]:
    return {"slo": slo.name}


def sli_recordings(slo: SLO) -> list[Recording]:
    """The SLI recording rules of one SLO, in evaluation order."""
    labels = _labelled(slo)
    out = [
        Recording("slo:sli_error:rate5m", Template(slo.errors).substitute(window="5m"), labels,
                  help="Bad events per second (5-minute rate)."),
        Recording("slo:sli_total:rate5m", Template(slo.total).substitute(window="5m"), labels,
                  help="All events per second (5-minute rate)."),
    ]
    out += [Recording(f"slo:sli_error:ratio_rate{w}", slo.ratio(w), labels,
                      help=f"Share of bad events over {w} (from the raw counters).")
            for w in RAW_WINDOWS]
    selector = f'{{slo="{slo.name}"}}'
    for window in RECORDED_WINDOWS:
        out.append(Recording(
            f"slo:sli_error:ratio_rate{window}",
            f"sum_over_time(slo:sli_error:rate5m{selector}[{window}])\n/\n"
            f"sum_over_time(slo:sli_total:rate5m{selector}[{window}])",
            labels, help=f"Share of bad events over {window} (from the recorded 5m rates)."))
    return out


def budget_recordings(slo: SLO) -> list[Recording]:
    """Objective, budget, burn rates and the remaining budget of one SLO."""
    labels = _labelled(slo)
    selector = f'{{slo="{slo.name}"}}'
    return [
        Recording("slo:objective:ratio", f"vector({slo.objective:g})", labels,
                  help="The objective, e.g. 0.999."),
        Recording("slo:error_budget:ratio", f"vector({slo.budget:g})", labels,
                  help="The error budget, 1 - objective."),
        Recording("slo:current_burn_rate:ratio",
                  f"slo:sli_error:ratio_rate5m{selector} / {slo.budget:g}", labels,
                  help="How many times faster than sustainable the budget burns now (5m)."),
        Recording("slo:period_burn_rate:ratio",
                  f"slo:sli_error:ratio_rate{PERIOD}{selector} / {slo.budget:g}", labels,
                  help="The same over the 30-day period."),
        Recording("slo:period_error_budget_remaining:ratio",
                  f"1 - slo:period_burn_rate:ratio{selector}", labels,
                  help="Share of the 30-day error budget left (negative: overspent)."),
    ]


def tier_alert(tier: Tier) -> Alert:
    """The burn-rate alert of one tier, for every SLO at once."""
    factor = format(tier.factor, "g")
    burning = ("(\n  slo:sli_error:ratio_rate{window}\n"
               "  > on (slo) {factor} * slo:error_budget:ratio\n)")
    expr = (burning.format(window=tier.long, factor=factor) + "\nand on (slo)\n"
            + burning.format(window=tier.short, factor=factor))
    if tier.wedding_day_only:
        summary = "An SLO is failing on a wedding day, when there is no error budget."
        description = (
            "{{ $labels.slo }}: {{ $value | humanizePercentage }} of events failed in the "
            f"last {tier.long} (and over {tier.short}), more than the whole error budget "
            "allows; on a wedding day any sustained loss pages.")
    else:
        summary = f"An SLO's error budget burns at {factor}x the sustainable rate."
        description = (
            "{{ $labels.slo }}: {{ $value | humanizePercentage }} of events failed in the "
            f"last {tier.long} (and over {tier.short}), {factor}x the rate that would use up "
            "the 30-day error budget exactly.")
    return Alert(
        name=tier.alert, expr=expr, severity=tier.severity, category="slo",
        summary=summary, description=description, other_days=Timing("0s"),
        wedding_day_only=tier.wedding_day_only)


def groups() -> tuple[Group, ...]:
    """The SLO rule groups: SLIs, budgets, burn-rate alerts."""
    return (
        Group("wedsync-slo-sli", recordings=tuple(r for slo in SLOS for r in sli_recordings(slo))),
        Group("wedsync-slo-budget",
              recordings=tuple(r for slo in SLOS for r in budget_recordings(slo))),
        Group("wedsync-slo-alerts", alerts=tuple(tier_alert(t) for t in TIERS)),
    )
