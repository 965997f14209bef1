"""Wedding day overview (the home dashboard): in ten seconds, are today's weddings safe? Then
which part is not, one click away; and the wedding pack's business numbers below."""

from __future__ import annotations

from grafanalib import core

from alerts.capacity import FORECAST, NEXT_SATURDAY, SATURDAY_FORECAST_TRIGGER
from alerts.components import QUEUE_WAIT
from alerts.hosts import CPU_TRIGGER, HOST_CPU, HOST_FILESYSTEM_AVAILABLE, HOST_MEMORY_AVAILABLE
from dashboards import links, promql, thresholds
from dashboards.board import make
from dashboards.layout import Grid
from dashboards.panels import (
    BAD,
    GOOD,
    INFO,
    WARN,
    Query,
    alert_list,
    falling,
    rising,
    stat,
    state_timeline,
    timeseries,
    value_map,
)
from dashboards.redis_cache import layer_hit_ratio
from dashboards.settings import (
    API,
    CAPACITY,
    DATABASE,
    DATASOURCE_NAME,
    EXPORTER,
    OVERVIEW,
    POOLER,
    REALTIME_AUTH,
    REDIS,
)

STATUS_WORDS = value_map((0, "Healthy", GOOD), (1, "Degraded", WARN), (2, "Critical", BAD))
STATUS_STEPS = rising((1, WARN), (2, BAD))
REQUESTS = "wedsync_http_request_duration_seconds"
ROUNDTRIP = "wedsync_realtime_broadcast_roundtrip_seconds"


# Alerts firing now, split the way prometheus/alertmanager.yml routes them: critical alerts
# page on every day, warnings page when labelled wedding_day="true" and go to the ticket
# receiver otherwise (also when they carry no wedding_day label: planning alerts). The
# Watchdog (severity info) always fires; it is not a problem to look at.
PAGING = ('ALERTS{alertstate="firing", severity="critical"}\n'
          'or\nALERTS{alertstate="firing", severity="warning", wedding_day="true"}')
TICKETING = 'ALERTS{alertstate="firing", severity="warning", wedding_day!="true"}'
UNMONITORED = 'wedsync_component_monitored{essential="true"} == 0'

# The verdict's levels, worst last.
SAFE, WARNINGS, PARTLY_BLIND, NOT_SAFE = 0, 1, 2, 3
VERDICT_WORDS = value_map(
    (SAFE, "Safe", GOOD), (WARNINGS, "Safe — tickets open", WARN),
    (PARTLY_BLIND, "Cannot tell — part is not monitored", WARN),
    (NOT_SAFE, "NOT SAFE — the on-call is paged", BAD))


def count_or_zero(selector: str) -> str:
    """How many series ``selector`` returns, 0 when none."""
    return f"(count(\n{selector}\n) or vector(0))"


def _signal(level: int, name: str, condition: str) -> str:
    # Each signal keeps its own label, so that `or` keeps them all and max() takes the worst.
    return f'label_replace(\n  {level} * ({condition}),\n  "signal", "{name}", "", "")'


def verdict() -> str:
    """One number for "are today's weddings safe?": the worst of the signals below."""
    signals = [
        _signal(NOT_SAFE, "pages", f"{count_or_zero(PAGING)} > bool 0"),
        _signal(NOT_SAFE, "overall-critical", f"({promql.overall_status()}) == bool 2"),
        _signal(PARTLY_BLIND, "not-monitored", f"{count_or_zero(UNMONITORED)} > bool 0"),
        _signal(PARTLY_BLIND, "exporter-missing",
                '(count(up{job="wedsync-exporter"} == 1) or vector(0)) == bool 0'),
        _signal(WARNINGS, "tickets", f"{count_or_zero(TICKETING)} > bool 0"),
        _signal(WARNINGS, "overall-degraded", f"({promql.overall_status()}) == bool 1"),
    ]
    return "max(\n" + "\nor\n".join(signals) + "\n)"


def safety(grid: Grid) -> None:
    """The first screen: statuses, the day, the weddings, what fires, the SLIs."""
    grid.row("Are today's weddings safe?")
    grid.line(
        (stat("Are today's weddings safe?",
              "NOT SAFE while a page is firing (critical alerts on every day, warnings on "
              "wedding days, as Alertmanager routes them) or the overall status is critical. "
              "Cannot tell while an essential component has no monitoring target or the "
              "exporter is not scraped. Safe with tickets open while warnings go to the ticket "
              "receiver or the overall status is degraded. Otherwise Safe.", "none",
              [Query(verdict())], steps=rising((WARNINGS, WARN), (NOT_SAFE, BAD)),
              mappings=VERDICT_WORDS, background=True, graph=False,
              no_value="Cannot tell — no data",
              links=[links.to_board(EXPORTER, "Is the exporter itself well?")]), 16),
        (stat("Essential components monitored",
              "Each essential component: Monitored when the exporter has a target for it, NOT "
              "MONITORED when it has none. The overall status leaves an unmonitored component "
              "out, so Healthy says nothing about it.", "none",
              [Query('wedsync_component_monitored{essential="true"}', "{{component}}")],
              steps=falling((1, GOOD), base=BAD),
              mappings=value_map((0, "NOT MONITORED", BAD), (1, "Monitored", GOOD)),
              background=True, graph=False, no_value="Cannot tell — no data"), 8),
        height=5)
    grid.line(
        (stat("Overall status",
              "The worst status among the essential components (database, Auth, Realtime, "
              "Redis, API); external services make it at most Degraded. Each component shows "
              "its worst target. The same rule as the health document's overall_status.",
              "none", [Query(promql.overall_status())], steps=STATUS_STEPS,
              mappings=STATUS_WORDS, background=True, graph=False, no_value="Unknown",
              links=[links.to_board(EXPORTER, "Is the exporter itself well?")]), 4),
        (stat("Wedding day?",
              "1 on a wedding day (a Saturday, or a day with weddings, in the platform's time "
              "zone). When the exporter cannot tell (the weddings query fails or the exporter "
              "is down) the rules count it as a wedding day, and so does this panel.",
              "none", [Query("wedsync:wedding_day:active")],
              steps=rising((1, "purple"), base=INFO), background=True, graph=False,
              mappings=value_map((0, "Ordinary day", INFO), (1, "Wedding day", "purple")),
              links=[links.runbook("WedSyncSLOBurnWeddingDay")]), 4),
        (stat("Weddings today",
              "Weddings dated today in the platform's time zone (the wedding pack's weddings "
              "query, refreshed every minute).", "short",
              [Query('wedsync_weddings{window="today"}')], graph=False), 4),
        (stat("Weddings tomorrow", "Weddings dated tomorrow in the platform's time zone.",
              "short", [Query('wedsync_weddings{window="tomorrow"}')], graph=False), 4),
        (stat("Pages firing",
              "Alerts firing now that Alertmanager sends to the pager: critical alerts on "
              "every day, warnings on wedding days (wedding_day=\"true\"). Counted from "
              "Prometheus' ALERTS, so a page Alertmanager holds back (inhibited or silenced) "
              "still counts.", "short",
              [Query(count_or_zero(PAGING))], steps=rising((1, BAD)), background=True,
              graph=False), 4),
        (stat("Tickets firing",
              "Warnings firing now that Alertmanager sends to the ticket receiver: on "
              "ordinary days, and planning alerts on every day.",
              "short", [Query(count_or_zero(TICKETING))], steps=rising((1, WARN)),
              background=True, graph=False), 4),
        height=5)
    grid.line(
        (stat("API p95 latency",
              "95th percentile of API request time over all routes (ingested request "
              "timings). Objective: 95% under 200 ms; on wedding-day operations 500 ms.",
              "s", [Query(promql.quantile(0.95, REQUESTS))],
              steps=rising((thresholds.API_P95, WARN), (thresholds.WEDDING_DAY_OPS_P95, BAD)),
              links=[links.to_board(API, "Latency by route")]), 4),
        (stat("API p99 latency",
              "99th percentile of API request time over all routes. Objective: 99% under 1 s.",
              "s", [Query(promql.quantile(0.99, REQUESTS))],
              steps=rising((thresholds.API_P99, BAD)),
              links=[links.to_board(API, "Latency by route")]), 4),
        (stat("API error rate",
              "Share of API requests answered 5xx. Objective: under 0.1% (99.9% available); "
              "0 while requests arrive without errors, no data while none arrive.",
              "percentunit",
              [Query(promql.ratio(
                  promql.sum_rate(f"{REQUESTS}_count", 'status_class="5xx"'),
                  promql.sum_rate(f"{REQUESTS}_count")))],
              steps=rising((thresholds.API_ERROR_BUDGET, BAD)), decimals=3,
              links=[links.to_board(API, "Errors by status class"),
                     links.runbook("WedSyncSLOBurnRate1h")]), 4),
        (stat("Realtime round trip p99",
              "99th percentile of the Realtime broadcast round trip (the probe's own echo): "
              "how long a Core Fields change takes to reach the other side. Objective: 99% "
              "under 100 ms.", "s", [Query(promql.quantile(0.99, ROUNDTRIP))],
              steps=rising((thresholds.REALTIME_P99, BAD)),
              links=[links.to_board(REALTIME_AUTH, "Round-trip distribution"),
                     links.runbook("WedSyncRealtimeRoundtripSlow")]), 4),
        (stat("Error budget left (30 days)",
              "Share of each SLO's 30-day error budget still unspent (negative: overspent). "
              "On wedding days there is no budget to spend: any sustained loss pages.",
              "percentunit",
              [Query("slo:period_error_budget_remaining:ratio", "{{slo}}")],
              steps=falling((0, WARN), (0.25, GOOD)), graph=False, decimals=1,
              links=[links.to_board(API, "Burn rates and budgets")]), 8),
        height=5)
    grid.line(
        (stat("Cache hit ratio by layer",
              "Share of lookups that hit in each cache layer the application reports (its own "
              "memory, Redis, the CDN). Target: 95% for every layer.", "percentunit",
              [Query(layer_hit_ratio(), "{{layer}}")],
              steps=falling((thresholds.CACHE_HIT_ALERT, WARN),
                            (thresholds.CACHE_HIT_TARGET, GOOD)),
              links=[links.to_board(REDIS, "Cache layers")]), 12),
        (stat("Pooler clients waiting",
              "Clients waiting at the connection pooler for a database connection: the first "
              "sign of a Saturday overload, before PostgreSQL looks busy.", "short",
              [Query('sum(wedsync_pooler_clients{state="waiting"})')],
              steps=rising((1, WARN)), background=True,
              links=[links.to_board(POOLER, "Clients and pools"),
                     links.runbook("WedSyncPoolerClientsWaiting")]), 6),
        (stat("Oldest waiting job",
              "The longest any queued background job (emails, notifications) has been ready "
              "to run without a worker taking it.", "s",
              [Query(f"max({QUEUE_WAIT})")],
              steps=rising((thresholds.alert_line("WedSyncQueueBackingUp").wedding_day, WARN)),
              links=[links.to_board(REDIS, "Job queues"),
                     links.runbook("WedSyncQueueBackingUp")]), 6),
        height=5)
    component_links = [links.to_board(board)
                       for board in (DATABASE, POOLER, REDIS, REALTIME_AUTH, API)]
    grid.line(
        (state_timeline("Component status",
                        "Each component's worst target over time: Healthy, Degraded (slower "
                        "than its degraded threshold) or Critical (failing, or slower than "
                        "its critical threshold).", "none",
                        [Query(promql.status_number(), "{{component}}")],
                        steps=STATUS_STEPS, mappings=STATUS_WORDS, links=component_links), 12),
        (alert_list("Firing and pending alerts",
                    "Prometheus' alerts, most important first (the Watchdog always fires: it "
                    "proves the pipeline works). Needs the provisioned datasource's alerting "
                    "view (manageAlerts).", DATASOURCE_NAME,
                    links=[links.to_board(EXPORTER, "Is the exporter itself well?")]), 12),
        height=8)


def hosts(grid: Grid) -> None:
    """The hosts and the room left: details on the Capacity dashboard."""
    grid.row("Hosts and capacity")
    capacity = links.to_board(CAPACITY, "Hosts, limits and next Saturday")
    grid.line(
        (stat("Busiest host CPU",
              "The highest share of CPU in use on any watched host over 5 minutes (jobs node "
              "and supabase-metrics).", "percentunit", [Query(f"max({HOST_CPU})")],
              steps=rising((CPU_TRIGGER, BAD)),
              links=[capacity, links.runbook("WedSyncHostCPUHigh")]), 5),
        (stat("Least memory available",
              "The lowest share of memory available on any watched host.", "percentunit",
              [Query(f"min({HOST_MEMORY_AVAILABLE})")], steps=falling((0.1, GOOD)),
              links=[capacity, links.runbook("WedSyncHostMemoryLow")]), 5),
        (stat("Fullest disk",
              "The lowest share of space available on any watched host's file systems.",
              "percentunit", [Query(f"min({HOST_FILESYSTEM_AVAILABLE})")],
              steps=falling((0.2, WARN), (0.4, GOOD)),
              links=[capacity, links.runbook("WedSyncHostDiskFillingUp")]), 5),
        (stat("Next Saturday's connections",
              "Forecast peak of database connections next Saturday, as a share of "
              "max_connections: last Saturday's peak scaled by the weddings booked.",
              "percentunit", [Query(f'{NEXT_SATURDAY}{{resource="db_connections"}}')],
              steps=rising((SATURDAY_FORECAST_TRIGGER, WARN), (1, BAD)), graph=False,
              links=[capacity]), 5),
        (stat("First limit reached in",
              "The soonest any platform limit (connections, Redis memory, pooler clients) "
              "is reached at the pace of the last 6 hours; a year while nothing grows.", "s",
              [Query(f"min({FORECAST})")], steps=falling((3 * 86400, GOOD)), graph=False,
              links=[capacity, links.runbook("WedSyncLimitReachedSoon")]), 4),
        height=5)


def wedding_pack(grid: Grid) -> None:
    """The wedding pack: the business side of the day from the platform's tables."""
    grid.row("Wedding pack")
    grid.line(
        (stat("Weddings in the next 7 days", "Weddings dated today and the 6 days after.",
              "short", [Query('wedsync_weddings{window="next_7d"}')], graph=False), 4),
        (stat("Core Fields changed (5 min)",
              "Core Fields (date, venue, guest count, timeline) whose last change was in the "
              "last 5 minutes: couples and suppliers at work.", "short",
              [Query('wedsync_core_field_updates{window="5m"}')]), 4),
        (stat("Core Fields changed (1 h)",
              "Core Fields whose last change was in the last hour.", "short",
              [Query('wedsync_core_field_updates{window="1h"}')]), 4),
        (stat("Forms submitted", "Forms couples submitted in the dashboard's time range.",
              "short", [Query(promql.sum_rate("wedsync_form_submissions_total",
                                              window=promql.RANGE, function="increase"))],
              graph=False, decimals=0), 4),
        (stat("Invitations sent", "Supplier invitations sent in the dashboard's time range.",
              "short", [Query(promql.sum_rate("wedsync_supplier_invitations_sent_total",
                                              window=promql.RANGE, function="increase"))],
              graph=False, decimals=0), 4),
        (stat("Invitations accepted",
              "Supplier invitations accepted in the dashboard's time range.", "short",
              [Query(promql.sum_rate("wedsync_supplier_invitations_accepted_total",
                                     window=promql.RANGE, function="increase"))],
              graph=False, decimals=0), 4),
        height=5)
    hourly = (("wedsync_form_submissions_total", "forms submitted"),
              ("wedsync_supplier_invitations_sent_total", "invitations sent"),
              ("wedsync_supplier_invitations_accepted_total", "invitations accepted"))
    grid.line(
        (timeseries("Wedding activity per hour",
                    "Forms submitted and supplier invitations sent and accepted, per hour "
                    "(rates of the wedding pack's counters).", "short",
                    [Query(f"{promql.sum_rate(name)} * 3600", legend)
                     for name, legend in hourly],
                    links=[links.to_board(EXPORTER, "Are the wedding pack's queries running?")]),
         12),
        (stat("Active couples and suppliers",
              "Couples with a wedding from today on; suppliers with an accepted invitation "
              "from a couple marrying in the next 7 days, or who joined in the last 30 days.",
              "short", [Query("wedsync_active_couples", "couples"),
                        Query("wedsync_active_suppliers", "suppliers")]), 6),
        (stat("Invitations accepted (all time)",
              "Share of all supplier invitations ever sent that were accepted.",
              "percentunit",
              [Query("sum(wedsync_supplier_invitations_accepted_total)\n/\n"
                     "sum(wedsync_supplier_invitations_sent_total)")], decimals=1), 6),
        height=8)


def dashboard() -> core.Dashboard:
    """The overview dashboard."""
    grid = Grid()
    safety(grid)
    hosts(grid)
    wedding_pack(grid)
    return make(OVERVIEW, "Are today's weddings safe? Statuses, the day, what fires, the "
                "SLIs, the hosts, and the wedding pack. Start here; every panel links to its "
                "detail.", grid)
