"""API and SLOs: traffic, errors and latency from the API's own request timings (ingestion),
the burn rates that page, and what is left of each error budget."""

from __future__ import annotations

from grafanalib import core

from alerts.components import UPTIME_30D
from alerts.slo import PERIOD, RAW_WINDOWS, RECORDED_WINDOWS, SLOS
from dashboards import links, promql, thresholds, variables
from dashboards.board import make
from dashboards.layout import Grid
from dashboards.panels import BAD, GOOD, WARN, Override, Query, falling, rising, stat, timeseries
from dashboards.settings import API, LOAD_TESTS, OVERVIEW

REQUESTS = "wedsync_http_request_duration_seconds"
ROUTES = 'route=~"$route"'
BURN_UNIT = "suffix:×"


def traffic(grid: Grid) -> None:
    """Requests, errors and latency."""
    count = f"{REQUESTS}_count"
    grid.row("Traffic, errors and latency")
    grid.line(
        (timeseries("Request rate by status class",
                    "API requests per second, by status class (ingested request timings, "
                    "routes as selected).", "reqps",
                    [Query(promql.sum_rate(count, ROUTES, ("status_class",)),
                           "{{status_class}}")], stacked=True,
                    links=[links.to_board(LOAD_TESTS, "The same minutes from k6's side")]), 8),
        (timeseries("Error rate (5xx share)",
                    "Share of API requests answered 5xx. The line is the availability SLO's "
                    "error budget (0.1%): above it the budget burns faster than it refills.",
                    "percentunit",
                    [Query(promql.ratio(promql.sum_rate(count, f'{ROUTES}, status_class="5xx"'),
                                        promql.sum_rate(count, ROUTES)), "5xx share")],
                    steps=rising((thresholds.API_ERROR_BUDGET, BAD)),
                    links=[links.runbook("WedSyncSLOBurnRate1h")]), 8),
        (timeseries("Latency percentiles",
                    "p50, p95 and p99 of API request time over the selected routes. Lines: "
                    "200 ms (95% objective), 500 ms (wedding-day operations, 95%), 1 s (99% "
                    "objective).", "s",
                    [Query(promql.quantile(q, REQUESTS, ROUTES), f"p{round(q * 100)}")
                     for q in (0.5, 0.95, 0.99)],
                    steps=rising((thresholds.API_P95, WARN),
                                 (thresholds.WEDDING_DAY_OPS_P95, "dark-orange"),
                                 (thresholds.API_P99, BAD)),
                    links=[links.runbook("WedSyncSLOBurnRate6h")]), 8),
        height=8)
    grid.line(
        (timeseries("p95 latency by route (top $topn)",
                    "The slowest routes by p95 request time (the top N at each moment). Line: "
                    "the 200 ms objective.", "s",
                    [Query(f"topk($topn,\n"
                           f"{promql.quantile(0.95, REQUESTS, ROUTES, ('route',))}\n)",
                           "{{route}}")],
                    steps=rising((thresholds.API_P95, BAD)), legend="table"), 12),
        (timeseries("Requests by route (top $topn)",
                    "The busiest routes, requests per second.", "reqps",
                    [Query(f"topk($topn,\n{promql.sum_rate(count, ROUTES, ('route',))}\n)",
                           "{{route}}")], legend="table"), 12),
        height=9)


def _slo_overrides(kind: str) -> list[Override]:
    """Per-SLO threshold lines: each SLO's own objective (good share) or budget."""
    out = []
    for spec in SLOS:
        value = spec.objective if kind == "objective" else spec.budget
        steps = ([{"color": BAD, "value": None}, {"color": GOOD, "value": value}]
                 if kind == "objective" else
                 [{"color": GOOD, "value": None}, {"color": BAD, "value": value}])
        out.append(Override((spec.name,), {
            "thresholds": {"mode": "absolute", "steps": steps},
            "custom.thresholdsStyle": {"mode": "dashed"}}))
    return out


def budgets(grid: Grid) -> None:
    """SLIs against objectives, burn rates, budgets."""
    grid.row("SLOs, burn rates and error budgets")
    burn_steps = rising(*((f, WARN if f < 6 else BAD) for f in thresholds.BURN_FACTORS))
    windows = (*RAW_WINDOWS, *RECORDED_WINDOWS)
    grid.line(
        (timeseries("Good events (30 days) against objective",
                    "Share of good events over the 30-day window, per SLO; each SLO's "
                    "dashed line is its objective (99.9% available, 95% under 200 ms, 99% "
                    "under 1 s, 99% of Realtime round trips under 100 ms).", "percentunit",
                    [Query(f"1 - slo:sli_error:ratio_rate{PERIOD}", "{{slo}}")],
                    overrides=_slo_overrides("objective"),
                    links=[links.to_board(OVERVIEW, "Back to the overview")]), 8),
        (timeseries("Burn rate now (5 minutes)",
                    "How many times faster than sustainable each SLO's budget burns over 5 "
                    "minutes (1× spends the 30-day budget in exactly 30 days). Lines: the "
                    "alert tiers' factors (1×, 3×, 6×, 14.4×).", BURN_UNIT,
                    [Query("slo:current_burn_rate:ratio", "{{slo}}")], steps=burn_steps,
                    links=[links.runbook("WedSyncSLOBurnRate1h"),
                           links.runbook("WedSyncSLOBurnRate6h")]), 8),
        (stat("Error budget left (30 days)",
              "Share of each SLO's 30-day error budget still unspent; negative: overspent.",
              "percentunit", [Query("slo:period_error_budget_remaining:ratio", "{{slo}}")],
              steps=falling((0, WARN), (0.25, GOOD)), decimals=1,
              links=[links.runbook("WedSyncSLOBurnRate3d")]), 8),
        height=8)
    grid.line(
        (timeseries("Burn rate over each alert window ($slo)",
                    "The error ratio of one SLO over every window the burn-rate alerts use, "
                    "as a multiple of its budget. An alert fires when both its long and its "
                    "short window are above its factor (1h/5m at 14.4×, 6h/30m at 6×, 1d/2h "
                    "at 3×, 3d/6h at 1×; on wedding days 30m/5m at 1×).", BURN_UNIT,
                    [Query(f'slo:sli_error:ratio_rate{w}{{slo="$slo"}}\n/ on (slo)\n'
                           f'slo:error_budget:ratio{{slo="$slo"}}', w) for w in windows],
                    steps=burn_steps, links=[links.runbook("WedSyncSLOBurnWeddingDay")]), 24),
        height=9)
    grid.line(
        (stat("Component uptime (30 days)",
              "Share of successful probes per component over 30 days (SLA tracking; the "
              "status page's uptime bars show the same per day). Several targets are "
              "averaged. Planned maintenance counts here, unlike on the status page.",
              "percentunit", [Query(UPTIME_30D, "{{component}}")],
              steps=falling((0.99, WARN), (0.999, GOOD)), decimals=2, graph=False), 24),
        height=5)


def dashboard() -> core.Dashboard:
    """The API and SLOs dashboard."""
    grid = Grid()
    traffic(grid)
    budgets(grid)
    return make(API, "API traffic, errors and latency from the API's request timings, the "
                "SLOs with their burn rates and error budgets.", grid, [
                    variables.label("route", "Route", f"{REQUESTS}_count"),
                    variables.custom("topn", "Top", ("5", "10", "20"), "5"),
                    variables.single("slo", "SLO", "slo:objective:ratio"),
                ])
