"""Load tests: one k6 run (``$testid``) as it remote-writes into Prometheus — VUs, requests,
latency and failures per scenario, checks, and the Realtime Core Fields propagation.

k6 trends arrive as one gauge per statistic (``k6_http_req_duration_p95``), computed over the
run so far for one label set: they cannot be summed or averaged, so panels take the worst
(``max``). Thresholds are the k6 model's own (``loadtests/k6/profiles.json``).
"""

from __future__ import annotations

from grafanalib import core

from dashboards import links, promql, thresholds, variables
from dashboards.board import make
from dashboards.layout import Grid
from dashboards.panels import BAD, GOOD, WARN, Query, falling, rising, stat, timeseries
from dashboards.settings import API, LOAD_TESTS, REALTIME_AUTH

RUN = 'testid="$testid"'
SCENARIOS = f'{RUN}, scenario=~"$scenario"'
P95 = thresholds.k6_bound("http_req_duration", "p(95)")
P99 = thresholds.k6_bound("http_req_duration", "p(99)")
FAILED = thresholds.k6_bound("http_req_failed", "rate")
CHECKS = thresholds.k6_bound("checks", "rate")
REALTIME_P99 = thresholds.k6_bound("realtime_core_fields_roundtrip", "p(99)")
LOST = thresholds.k6_bound("realtime_core_fields_lost", "rate")
REQUESTS = "k6_http_reqs_total"


def overview(grid: Grid) -> None:
    """The run at a glance, and its load."""
    grid.row("The run")
    grid.line(
        (stat("Virtual users", "k6 virtual users busy now (of the run's allocated maximum).",
              "short", [Query(f"sum(k6_vus{{{RUN}}})", "busy"),
                        Query(f"sum(k6_vus_max{{{RUN}}})", "allocated")]), 6),
        (stat("Requests in the time range", "HTTP requests the run made in the time range.",
              "short", [Query(promql.sum_rate(REQUESTS, RUN, window=promql.RANGE,
                                              function="increase"))],
              graph=False, decimals=0), 6),
        (stat("Checks passing", "Share of k6 checks that passed, for the worst check of the "
              f"run. The k6 threshold: over {CHECKS:.0%}.", "percentunit",
              [Query(f"min(k6_checks_rate{{{RUN}}})")],
              steps=falling((CHECKS, GOOD)), decimals=2), 6),
        (stat("Dropped iterations", "Iterations k6 could not start because it ran out of VUs: "
              "the load asked for was not all offered (0 is good).", "short",
              [Query(promql.sum_rate("k6_dropped_iterations_total", RUN, window=promql.RANGE,
                                     function="increase"))],
              steps=rising((1, WARN)), no_value="0", graph=False, decimals=0), 6),
        height=5)
    grid.line(
        (timeseries("Virtual users over time", "Busy and allocated virtual users.", "short",
                    [Query(f"sum(k6_vus{{{RUN}}})", "busy"),
                     Query(f"sum(k6_vus_max{{{RUN}}})", "allocated")]), 8),
        (timeseries("Request rate per scenario", "HTTP requests per second, by scenario.",
                    "reqps", [Query(promql.sum_rate(REQUESTS, SCENARIOS, ("scenario",)),
                                    "{{scenario}}")], stacked=True,
                    links=[links.to_board(API, "The server side of the same minutes")]), 8),
        (timeseries("Failure rate per scenario",
                    "Share of HTTP requests that failed (k6's expected_response false: a "
                    f"4xx/5xx or a network error), by scenario. Line: the k6 threshold "
                    f"({FAILED:.1%}).", "percentunit",
                    [Query(promql.ratio(
                        promql.sum_rate(REQUESTS, f'{SCENARIOS}, expected_response="false"',
                                        ("scenario",)),
                        promql.sum_rate(REQUESTS, SCENARIOS, ("scenario",))), "{{scenario}}")],
                    steps=rising((FAILED, BAD))), 8),
        height=8)


def latency(grid: Grid) -> None:
    """Latency per scenario, and Realtime."""
    grid.row("Latency and Realtime propagation")
    grid.line(
        (timeseries("p95 per scenario",
                    "Worst endpoint's p95 request time per scenario, over the run so far. "
                    "Lines: 200 ms (the run's p95 threshold) and 500 ms (wedding-day "
                    "operations).", "s",
                    [Query(f"max by (scenario) (k6_http_req_duration_p95{{{SCENARIOS}}})",
                           "{{scenario}}")],
                    steps=rising((P95, WARN), (thresholds.WEDDING_DAY_OPS_P95, BAD))), 8),
        (timeseries("p99 per scenario",
                    "Worst endpoint's p99 request time per scenario. Line: the 1 s threshold.",
                    "s", [Query(f"max by (scenario) (k6_http_req_duration_p99{{{SCENARIOS}}})",
                                "{{scenario}}")],
                    steps=rising((P99, BAD))), 8),
        (timeseries("Checks per scenario",
                    "Share of each scenario's checks that passed so far. Line: the threshold.",
                    "percentunit",
                    [Query(f"min by (scenario) (k6_checks_rate{{{SCENARIOS}}})",
                           "{{scenario}}")],
                    steps=falling((CHECKS, GOOD))), 8),
        height=8)
    grid.line(
        (timeseries("Realtime propagation",
                    "Time for a Core Fields change to reach the couple's other clients (p95, "
                    "p99 over the run so far). Line: the 100 ms p99 threshold.", "s",
                    [Query(f"max(k6_realtime_core_fields_roundtrip_{stat_name}{{{RUN}}})",
                           stat_name) for stat_name in ("p95", "p99")],
                    steps=rising((REALTIME_P99, BAD)),
                    links=[links.to_board(REALTIME_AUTH, "The probe's view of Realtime")]), 12),
        (timeseries("Realtime changes lost",
                    "Share of Core Fields changes that never reached a client within a second "
                    f"of the last broadcast. Line: the k6 threshold ({LOST:.1%}).",
                    "percentunit",
                    [Query(f"max(k6_realtime_core_fields_lost_rate{{{RUN}}})", "lost")],
                    steps=rising((LOST, BAD))), 12),
        height=8)


def dashboard() -> core.Dashboard:
    """The Load tests dashboard."""
    grid = Grid()
    overview(grid)
    latency(grid)
    return make(LOAD_TESTS, "One k6 wedding-day run (pick its testid, which wedsync-loadtest "
                "printed when it started): load, latency, failures and checks per scenario, "
                "and Realtime propagation.", grid, [
                    variables.single("testid", "Run (testid)", REQUESTS, descending=True),
                    variables.label("scenario", "Scenario", f"k6_iterations_total{{{RUN}}}"),
                ])
