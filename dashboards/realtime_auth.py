"""Realtime and Auth: the Core Fields propagation round trip (distribution and percentiles),
connect and join times; Auth's latency and its sign-ins."""

from __future__ import annotations

from grafanalib import core

from dashboards import links, promql, thresholds, variables
from dashboards.board import make
from dashboards.layout import Grid
from dashboards.panels import BAD, GOOD, WARN, Query, falling, heatmap, rising, stat, timeseries
from dashboards.settings import REALTIME_AUTH

ROUNDTRIP = "wedsync_realtime_broadcast_roundtrip_seconds"
POSTGRES_CHANGE = "wedsync_realtime_postgres_change_seconds"
STAGES = "wedsync_realtime_postgres_change_stage_seconds"
LEAKS = "wedsync_realtime_rls_leaks_total"
REALTIME = 'target=~"$realtime"'
AUTH = 'target=~"$auth"'
AUTH_SLOW = thresholds.alert_line("WedSyncAuthSlow")


def realtime(grid: Grid) -> None:
    """Realtime broadcasts."""
    grid.row("Realtime: Core Fields propagation")
    grid.line(
        (heatmap("Broadcast round trip distribution",
                 "How many broadcasts took how long to come back to the probe (its own echo "
                 "on a Realtime channel), per bucket over time. Objective: 99% under 100 ms.",
                 "s", [Query(promql.sum_rate(f"{ROUNDTRIP}_bucket", REALTIME, ("le",),
                                             function="increase"), "{{le}}")],
                 links=[links.runbook("WedSyncRealtimeRoundtripSlow")]), 12),
        (timeseries("Broadcast round trip percentiles",
                    "p50, p95 and p99 of the broadcast round trip. Line: the 100 ms p99 "
                    "objective.", "s",
                    [Query(promql.quantile(q, ROUNDTRIP, REALTIME), f"p{round(q * 100)}")
                     for q in (0.5, 0.95, 0.99)],
                    steps=rising((thresholds.REALTIME_P99, BAD)),
                    links=[links.runbook("WedSyncRealtimeRoundtripSlow")]), 8),
        (stat("Propagation within 100 ms (30 days)",
              "Share of Core Fields changes that reached a subscriber within 100 ms over 30 "
              "days: the postgres_changes round trip on targets with the Core Fields probe, "
              "the broadcast echo on the others. Objective: 99%.", "percentunit",
              [Query('1 - slo:sli_error:ratio_rate30d{slo="realtime-propagation"}')],
              steps=falling((thresholds.slo("realtime-propagation").objective, GOOD)),
              decimals=2), 4),
        height=9)
    grid.line(
        (timeseries("Database write to subscriber (postgres_changes) beside the broadcast echo",
                    "The Core Fields probe's whole path, from its UPDATE of the probe table to "
                    "the postgres_changes event on its Realtime subscription (p50, p99), beside "
                    "the broadcast echo's p99 (Realtime's pub/sub alone). Empty where the Core "
                    "Fields probe is off. Line: the 100 ms p99 objective.", "s",
                    [Query(promql.quantile(0.5, POSTGRES_CHANGE, REALTIME),
                           "postgres_changes p50"),
                     Query(promql.quantile(0.99, POSTGRES_CHANGE, REALTIME),
                           "postgres_changes p99"),
                     Query(promql.quantile(0.99, ROUNDTRIP, REALTIME), "broadcast echo p99")],
                    steps=rising((thresholds.REALTIME_P99, BAD)),
                    links=[links.runbook("WedSyncRealtimePostgresChangesSlow")]), 12),
        (timeseries("Where the time goes (p95 per stage)",
                    "The postgres_changes round trip split at the change's commit_timestamp: "
                    "commit (write sent to commit) and delivery (commit to the event: WAL "
                    "decoding, the RLS check, delivery). Runs whose clocks disagreed are left "
                    "out (wedsync_realtime_clock_skew_total).", "s",
                    [Query(promql.quantile(0.95, STAGES, REALTIME, ("stage",)), "{{stage}}")],
                    links=[links.runbook("WedSyncRealtimePostgresChangesSlow")]), 8),
        (stat("RLS leaks in the time range",
              "postgres_changes events Realtime delivered to the probe's second user, whose "
              "Row Level Security hides the row, in the dashboard's time range. Anything "
              "above 0 is a data-protection incident.", "none",
              [Query(f"sum(increase({LEAKS}{{{REALTIME}}}[$__range]))")],
              steps=rising((1, BAD)), decimals=0,
              links=[links.runbook("WedSyncRealtimeRLSLeak")]), 4),
        height=8)
    grid.line(
        (timeseries("Connect, join and acknowledgement",
                    "Time to open the Realtime WebSocket, from phx_join to its reply, and from "
                    "a broadcast to the server's acknowledgement (the last probe run).", "s",
                    [Query(f"wedsync_realtime_connect_duration_seconds{{{REALTIME}}}",
                           "{{target}} connect"),
                     Query(f"wedsync_realtime_join_duration_seconds{{{REALTIME}}}",
                           "{{target}} join"),
                     Query(f"wedsync_realtime_broadcast_ack_seconds{{{REALTIME}}}",
                           "{{target}} ack")],
                    links=[links.runbook("WedSyncRealtimeDown")]), 24),
        height=8)


def auth(grid: Grid) -> None:
    """Supabase Auth."""
    grid.row("Auth")
    events = promql.sum_rate("wedsync_auth_audit_events_total", AUTH, ("action",))
    grid.line(
        (timeseries("Auth latency",
                    "The health check's duration and the synthetic session's token call "
                    "(a refresh, or the sign-in when it had none; the last probe run). "
                    "Lines: the slow-Auth alert "
                    f"({AUTH_SLOW.wedding_day:g} s on wedding days, {AUTH_SLOW.other_days:g} s "
                    "on other days, 5-minute average of the health check).", "s",
                    [Query(f'wedsync_probe_duration_seconds{{component="auth", {AUTH}}}',
                           "{{target}} health"),
                     Query(f"wedsync_auth_signin_duration_seconds{{{AUTH}}}",
                           "{{target}} token call")],
                    steps=rising((AUTH_SLOW.wedding_day, WARN), (AUTH_SLOW.other_days, BAD)),
                    links=[links.runbook("WedSyncAuthSlow"),
                           links.runbook("WedSyncAuthDown")]), 12),
        (timeseries("Sign-ins per minute",
                    "Password sign-ins (audit-log action login) per minute, beside every "
                    "other audit-log action (sign-ups, token refreshes, ...), from "
                    "auth.audit_log_entries. The exporter's probe user's own actions are "
                    "left out.",
                    "opm", [Query(f"{events} * 60", "{{action}}")]), 12),
        height=8)


def dashboard() -> core.Dashboard:
    """The Realtime and Auth dashboard."""
    grid = Grid()
    realtime(grid)
    auth(grid)
    return make(REALTIME_AUTH, "Supabase Realtime (the Core Fields propagation SLI) and Supabase "
                "Auth as the exporter's probes see them.", grid, [
                    variables.label("realtime", "Realtime", f"{ROUNDTRIP}_count", "target"),
                    variables.label("auth", "Auth",
                                    'wedsync_probe_runs_total{component="auth"}', "target"),
                ])
