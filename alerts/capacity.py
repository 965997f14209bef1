"""Capacity: when the platform's own limits run out, next Saturday's headroom, and the scale
signals (up before the next wedding day; down when nothing needs the room).

- Forecasts: seconds until database connections reach ``max_connections``, Redis memory its
  ``maxmemory`` and pooler clients ``max_client_conn``, at the pace of the last 6 hours
  (``deriv``), as one recorded series per limit; a ticket when one falls within the horizon
  (the alert's threshold, which an overrides file may change) while the limit is at least half
  used.
- Next Saturday: last Saturday's peak of each limited resource, scaled by the weddings booked
  for the coming Saturday over last Saturday's (``wedsync_weddings`` windows next_saturday and
  last_saturday). Saturdays here are Prometheus' (UTC) days; in the platform's time zone the
  day starts up to an hour earlier, well before the afternoon peak.
"""

from __future__ import annotations

from dataclasses import dataclass

from alerts import hosts
from alerts.components import (
    DB_CONNECTIONS,
    POOL_CLIENTS,
    POOL_SATURATION,
    POOL_SERVERS,
    QUEUE_WAIT,
    REDIS_MEMORY,
)
from alerts.hosts import CPU_TRIGGER, HOST_CPU
from alerts.model import Alert, Group, Recording, Timing
from alerts.wedding_day import ACTIVE

# --- forecasts of the platform's own limits ----------------------------------------------------
FORECAST = "wedsync:limit_reached:forecast_seconds"
# A limit not approached (flat or shrinking use) is forecast "a year away": the series stays
# present for dashboards and the alert reads one number.
NOT_WITHIN = 365 * 86400
FORECAST_WINDOW = "6h"
# The ticket's horizon: a limit forecast to be reached within 3 days.
HORIZON_SECONDS = 3 * 86400
LIMIT_USE = "wedsync:limit_use:ratio"
# A forecast counts once half the limit is in use: from a few connections, or on a fresh
# Prometheus, a morning's ramp extrapolates to "full by tonight" (as kubernetes-mixin's disk
# forecasts ask for a fill level too).
FORECAST_FROM = 0.5


@dataclass(frozen=True)
class Limit:
    """A ratio of use to its limit (recorded by ``alerts.components``), named for the label."""

    name: str
    ratio: str
    what: str


LIMITS: tuple[Limit, ...] = (
    Limit("db_connections", DB_CONNECTIONS, "database connections reach max_connections"),
    Limit("redis_memory", REDIS_MEMORY, "Redis memory reaches maxmemory"),
    Limit("pooler_clients", POOL_CLIENTS, "pooler clients reach max_client_conn"),
)


_LIMIT_NAMES = ", ".join(limit.name for limit in LIMITS)


def forecast(limit: Limit) -> Recording:
    """Seconds until ``limit``'s ratio reaches 1 at the last 6 hours' pace."""
    ratio = limit.ratio
    return Recording(
        FORECAST,
        "clamp(\n"
        f"  (1 - {ratio})\n"
        f"  / (deriv({ratio}[{FORECAST_WINDOW}]) > 0),\n"
        f"  0, {NOT_WITHIN}\n"
        ")\n"
        f"or\n{ratio} * 0 + {NOT_WITHIN}",
        labels={"limit": limit.name},
        help=f"Seconds until each limit is reached at the pace of the last {FORECAST_WINDOW} "
             f"(label limit: {_LIMIT_NAMES}); {NOT_WITHIN} (a year) when use is not growing.")


FORECAST_RECORDINGS: tuple[Recording, ...] = (
    *(Recording(LIMIT_USE, limit.ratio, labels={"limit": limit.name},
                help="Use of each limit as a share of it, per target (label limit: "
                     f"{_LIMIT_NAMES}).") for limit in LIMITS),
    *(forecast(limit) for limit in LIMITS),
)
# A limit forecast within ``horizon`` that is at least half used.
SOON = (f"{FORECAST} < {{horizon}}\nand on (limit, target)\n{LIMIT_USE} > {FORECAST_FROM:g}")

# --- next Saturday's headroom -------------------------------------------------------------------
USAGE = "wedsync:capacity_usage:current"
LAST_SATURDAY_PEAK = "wedsync:capacity_usage:last_saturday_peak"
NEXT_SATURDAY = "wedsync:capacity_usage:next_saturday_forecast"
WEDDINGS_RATIO = "wedsync:weddings_next_to_last_saturday:ratio"


@dataclass(frozen=True)
class Resource:
    """A limited resource whose Saturday peak is forecast; ``unit`` is Grafana's."""

    name: str
    title: str
    expr: str
    unit: str


RESOURCES: tuple[Resource, ...] = (
    Resource("api_requests", "API requests",
             "sum(rate(wedsync_http_request_duration_seconds_count[5m]))", "reqps"),
    Resource("db_connections", "Database connections", f"max({DB_CONNECTIONS})",
             "percentunit"),
    Resource("realtime_roundtrip", "Realtime round trip (p99)",
             "histogram_quantile(0.99,\n"
             "  sum by (le) (rate(wedsync_realtime_broadcast_roundtrip_seconds_bucket[5m]))\n)",
             "s"),
    Resource("redis_memory", "Redis memory", f"max({REDIS_MEMORY})", "percentunit"),
)
# Resources measured as a share of their limit: their forecast may call for scaling.
RATIO_RESOURCES = tuple(r.name for r in RESOURCES if r.unit == "percentunit")
SATURDAY_FORECAST_TRIGGER = 0.8

# On a Saturday the last 7 days hold today's morning too: look one day further back.
_SATURDAY = "day_of_week() == 6"
_PEAK = (
    "(\n"
    f"  max_over_time(({USAGE}{{resource=\"{{name}}\"}} and on () {_SATURDAY})[7d:5m])\n"
    f"  unless on () {_SATURDAY}\n"
    ")\nor\n(\n"
    f"  max_over_time(({USAGE}{{resource=\"{{name}}\"}} and on () {_SATURDAY})[7d:5m] "
    "offset 1d)\n"
    f"  and on () {_SATURDAY}\n"
    ")"
)

SATURDAY_RECORDINGS: tuple[Recording, ...] = (
    *(Recording(USAGE, resource.expr, labels={"resource": resource.name},
                help="What the Saturday forecast watches now, per resource: api_requests "
                     "(requests a second), db_connections and redis_memory (shares of their "
                     "limits), realtime_roundtrip (p99 seconds).")
      for resource in RESOURCES),
    Recording(WEDDINGS_RATIO,
              'max(wedsync_weddings{window="next_saturday"})\n'
              '/\nmax(wedsync_weddings{window="last_saturday"} > 0)',
              help="Weddings booked for the coming Saturday over last Saturday's (absent when "
                   "last Saturday had none)."),
)
# The peaks read the usage series recorded above: a group of their own, evaluated after it.
PEAK_RECORDINGS: tuple[Recording, ...] = (
    *(Recording(LAST_SATURDAY_PEAK, _PEAK.replace("{name}", resource.name),
                labels={"resource": resource.name},
                help="The highest value of wedsync:capacity_usage:current on the last "
                     "Saturday (UTC) before today.")
      for resource in RESOURCES),
    Recording(NEXT_SATURDAY,
              f"{LAST_SATURDAY_PEAK}\n* on () group_left ()\n{WEDDINGS_RATIO}",
              help="Next Saturday's forecast peak per resource: last Saturday's peak scaled by "
                   "the weddings booked (a first-order estimate: load grows with weddings)."),
)

# --- alerts -------------------------------------------------------------------------------------
FORECAST_ALERTS: tuple[Alert, ...] = (
    Alert(name="WedSyncLimitReachedSoon", expr=SOON.replace("{horizon}", "$threshold"),
          severity="warning", category="capacity",
          summary="A platform limit is half used and forecast to be reached soon.",
          description="At the pace of the last 6 hours, {{ $labels.limit }} of "
                      "{{ $labels.target }} reaches its limit in "
                      "{{ $value | humanizeDuration }}.",
          other_days=Timing("30m", HORIZON_SECONDS), urgency="later"),
)


def _reason(expr: str, reason: str) -> str:
    return f'label_replace(\n  {expr},\n  "reason", "{reason}", "", "")'


# Any signal says "scale before the next wedding day"; each part carries a reason label so the
# ticket says which. The first five warn earlier than the briefs' triggers; the briefs' own
# (host CPU above 80%, API p95 above 500 ms, a pool above 85%, the last one already) and the
# forecasts follow.
SCALE_UP_EXPR = "\nor\n".join((
    _reason("histogram_quantile(0.95,\n"
            "    sum by (le) (rate(wedsync_http_request_duration_seconds_bucket[1d]))\n"
            "  ) > 0.15", "api-latency"),
    _reason(f"max by (target) (max_over_time({DB_CONNECTIONS}[1d])) > 0.6",
            "database-connections"),
    _reason(f"max by (target, database) (max_over_time({POOL_SERVERS}[1d])) > "
            f"{POOL_SATURATION}", "pooler-utilisation"),
    _reason(f"max by (target, queue) (max_over_time({QUEUE_WAIT}[1d])) > 60", "queue-wait"),
    _reason('max(wedsync_weddings{window="tomorrow"})\n'
            '  > 1.5 * max(avg_over_time(wedsync_weddings{window="today"}[28d]))\n'
            '  and max(wedsync_weddings{window="tomorrow"}) >= 5', "weddings-tomorrow"),
    _reason(f"max by (job, instance) ({HOST_CPU}) > {CPU_TRIGGER:g}", "host-cpu"),
    _reason("histogram_quantile(0.95,\n"
            "    sum by (le) (rate(wedsync_http_request_duration_seconds_bucket[10m]))\n"
            "  ) > 0.5", "api-p95"),
    _reason(SOON.replace("{horizon}", str(HORIZON_SECONDS)).replace("\n", "\n  "),
            "limit-forecast"),
    _reason(f'{NEXT_SATURDAY}{{resource=~"{"|".join(RATIO_RESOURCES)}"}} > '
            f"{SATURDAY_FORECAST_TRIGGER:g}", "saturday-forecast"),
))

# Low use everywhere the platform can be scaled (hosts, database connections, pools).
SCALE_DOWN_EXPR = "\n".join((
    "max(",
    f'  label_replace(max({HOST_CPU}), "signal", "host-cpu", "", "")',
    "  or",
    f'  label_replace(max({DB_CONNECTIONS}), "signal", "database-connections", "", "")',
    "  or",
    f'  label_replace(max({POOL_SERVERS}), "signal", "pooler-utilisation", "", "")',
    ") < $threshold",
    "and on ()",
    'max(wedsync_weddings{window="today"}) + max(wedsync_weddings{window="tomorrow"}) == 0',
    "and on ()",
    f"{ACTIVE} == 0",
))

SCALE_ALERTS: tuple[Alert, ...] = (
    Alert(name="WedSyncScaleUpRecommended", expr=SCALE_UP_EXPR, severity="warning",
          category="capacity",
          summary="The platform should scale up before the next wedding day.",
          description="Signal {{ $labels.reason }} stands at {{ $value | printf \"%.3g\" }}: "
                      "p95 API latency over a day above 150ms or over 10 minutes above 500ms, "
                      "database connections above 60% of max, a connection pool above 85% of "
                      "its size, a queue job waiting over a minute, tomorrow's weddings 1.5 "
                      "times an average day, a host's CPU above 80%, a limit forecast within "
                      "3 days, or next Saturday's forecast peak above 80% of a limit.",
          other_days=Timing("30m"), urgency="later"),
    Alert(name="WedSyncScaleDownPossible", expr=SCALE_DOWN_EXPR, severity="info",
          category="capacity",
          summary="The platform could scale down: use is low and no weddings are near.",
          description="The busiest of host CPU, database connections and connection pools "
                      "stands at {{ $value | humanizePercentage }}, and no weddings are booked "
                      "for today or tomorrow.",
          other_days=Timing("30m", 0.3), urgency="later"),
)


def groups() -> tuple[Group, ...]:
    """The capacity rule groups, recordings first (each reads the one before)."""
    return (
        Group("wedsync-hosts-recordings", recordings=hosts.RECORDINGS),
        Group("wedsync-capacity-recordings",
              recordings=(*FORECAST_RECORDINGS, *SATURDAY_RECORDINGS)),
        # A week's peak changes slowly and its subquery is the costly part (bench/
        # capacity_rules.py): once a minute is plenty.
        Group("wedsync-capacity-saturday", recordings=PEAK_RECORDINGS, interval="1m"),
        Group("wedsync-hosts", alerts=hosts.ALERTS),
        Group("wedsync-capacity", alerts=(*FORECAST_ALERTS, *SCALE_ALERTS)),
    )
