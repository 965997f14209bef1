"""Exporter health: is the thing that watches the platform itself well? Probe durations,
failures by reason and overruns, result age, ingestion, the wedding pack's queries, scrapes,
rendering and event-loop lag."""

from __future__ import annotations

from grafanalib import core

from alerts.components import down_policies
from alerts.settings import EXPORTER_JOB
from dashboards import links, promql, variables
from dashboards.board import make
from dashboards.layout import Grid
from dashboards.panels import (
    BAD,
    GOOD,
    WARN,
    Query,
    falling,
    rising,
    stat,
    state_timeline,
    timeseries,
    value_map,
)
from dashboards.settings import EXPORTER

COMPONENT = 'component=~"$component"'
JOB = f'job="{EXPORTER_JOB}"'
OK_WORDS = value_map((0, "Failing", BAD), (1, "OK", GOOD))


def probes(grid: Grid) -> None:
    """The probes."""
    grid.row("Probes")
    grid.line(
        (stat("Exporter scraped",
              "1 when Prometheus' last scrape of the exporter succeeded.", "none",
              [Query(f"max(up{{{JOB}}})")], steps=falling((1, GOOD)), mappings=OK_WORDS,
              background=True, graph=False, links=[links.runbook("WedSyncExporterMissing")]), 4),
        (stat("Configuration loaded",
              "1 when the last (re)load of the exporter's configuration succeeded; 0 when a "
              "bad configuration was refused and the old one kept.", "none",
              [Query("min(wedsync_config_last_reload_successful)")], steps=falling((1, GOOD)),
              mappings=OK_WORDS, background=True, graph=False,
              links=[links.runbook("WedSyncExporterConfigReloadFailed")]), 4),
        (timeseries("Age of cached results",
                    "Time since each target's last successful probe. Probes run in the "
                    "background; a scrape reads their last result, so this is how stale the "
                    "dashboards are. Line: the stale-results alert (2 minutes).", "s",
                    [Query(f"time() - wedsync_probe_last_success_timestamp_seconds"
                           f"{{{COMPONENT}}}", "{{component}}/{{target}}")],
                    steps=rising((120, BAD)), links=[links.runbook("WedSyncProbeResultsStale")]),
         16),
        height=6)
    grid.line(
        (timeseries("Probe duration",
                    "How long each target's last probe took.", "s",
                    [Query(f"wedsync_probe_duration_seconds{{{COMPONENT}}}",
                           "{{component}}/{{target}}")]), 8),
        (timeseries("Probe failures by reason",
                    "Failed probes per second by component and reason (timeout, connect, "
                    "auth, protocol, refused, error).", "ops",
                    [Query(promql.sum_rate("wedsync_probe_failures_total", COMPONENT,
                                           ("component", "reason")),
                           "{{component}} {{reason}}")], bars=True,
                    links=[links.runbook(f"WedSync{policy.title}Down")
                           for policy in down_policies()]), 8),
        (timeseries("Probe runs and overruns",
                    "Probe runs per second, and runs skipped because the previous run of the "
                    "same target was still going (overruns).", "ops",
                    [Query(promql.sum_rate("wedsync_probe_runs_total", COMPONENT,
                                           ("component",)), "{{component}} runs"),
                     Query(promql.sum_rate("wedsync_probe_overruns_total", COMPONENT,
                                           ("component",)), "{{component}} overruns")],
                    links=[links.runbook("WedSyncProbesOverrunning")]), 8),
        height=8)


def ingestion(grid: Grid) -> None:
    """Request-timing ingestion and the SQL queries."""
    grid.row("Ingestion and queries")
    grid.line(
        (timeseries("Ingested events",
                    "Request-timing events per second: accepted, and rejected (a whole request "
                    "refused, or one bad event in a batch).", "ops",
                    [Query(promql.sum_rate("wedsync_ingest_events_total", labels=("result",)),
                           "{{result}}")],
                    links=[links.runbook("WedSyncIngestionSilent")]), 6),
        (timeseries("Rejected by reason",
                    "Events or requests ingestion rejected per second, by reason (unauthorized, "
                    "rate_limited, invalid_json, missing_field, ...).", "ops",
                    [Query(promql.sum_rate("wedsync_ingest_rejected_total", labels=("reason",)),
                           "{{reason}}")],
                    links=[links.runbook("WedSyncIngestionRejecting")]), 6),
        (timeseries("Folded into other",
                    "Events per second whose route or method was folded into `other` because "
                    "the label's cap of distinct values was reached.", "ops",
                    [Query(promql.sum_rate("wedsync_ingest_folded_total", labels=("label",)),
                           "{{label}}")],
                    links=[links.runbook("WedSyncIngestionFolding")]), 6),
        (stat("Since the last event",
              "Time since ingestion last accepted a request timing (the exporter's clock). "
              "The silent-ingestion alert fires after 10 minutes while the API is up.", "s",
              [Query("time() - max(wedsync_ingest_last_event_timestamp_seconds)")],
              steps=rising((600, BAD)), graph=False,
              links=[links.runbook("WedSyncIngestionSilent")]), 6),
        height=8)
    grid.line(
        (state_timeline("SQL queries",
                        "Whether each scheduled SQL query (the wedding pack and your own) "
                        "last ran without error.", "none",
                        [Query("wedsync_custom_query_success", "{{query}}")],
                        steps=falling((1, GOOD)), mappings=OK_WORDS,
                        links=[links.runbook("WedSyncCustomQueryFailing")]), 12),
        (timeseries("SQL query duration", "How long each query's last run took.", "s",
                    [Query("wedsync_custom_query_duration_seconds", "{{query}}")]), 12),
        height=8)


def process(grid: Grid) -> None:
    """Scrapes, rendering, the event loop."""
    grid.row("Scrapes and the event loop")
    grid.line(
        (timeseries("Scrape duration",
                    "How long Prometheus' scrape of the exporter took, and the exporter's last "
                    "rendering of /metrics (done in the background, never during a scrape).",
                    "s", [Query(f"scrape_duration_seconds{{{JOB}}}", "scrape {{instance}}"),
                          Query("wedsync_metrics_render_duration_seconds",
                                "render {{instance}}")]), 12),
        (timeseries("Event-loop lag",
                    "How late the exporter's event loop ran a timer that should have fired on "
                    "time: high lag delays probes and scrapes alike.", "s",
                    [Query("wedsync_event_loop_lag_seconds", "{{instance}}")],
                    steps=rising((0.1, WARN), (1, BAD))), 12),
        height=8)
    grid.line(
        (timeseries("Refused requests by reason",
                    "Requests the exporter answered with a 4xx per second, by reason "
                    "(unauthorized, rate_limited, content_encoding, compression_ratio, "
                    "malformed_request, ...): a sudden rise is a misconfigured client or "
                    "hostile traffic.", "ops",
                    [Query(promql.sum_rate("wedsync_http_refused_requests_total",
                                           labels=("reason",)), "{{reason}}")]), 12),
        (timeseries("Client connections",
                    "Connections open to the exporter, and those it closed itself per second "
                    "(header_timeout, idle_timeout, connection_limit).", "short",
                    [Query("sum(wedsync_http_connections)", "open"),
                     Query(promql.sum_rate("wedsync_http_connections_closed_total",
                                           labels=("reason",)), "closed: {{reason}}")]), 12),
        height=8)
    grid.line(
        (timeseries("Tarpit",
                    "Refusals beyond a client address's budget (server.refusals_per_second) "
                    "per second, by outcome (held: answered after server.tarpit_seconds; "
                    "closed: server.tarpit_max were held already), and those held now. "
                    "Anything here is a client that keeps sending what the exporter refuses: "
                    "look at the refused requests' reasons beside it.", "short",
                    [Query(promql.sum_rate("wedsync_http_tarpit_total", labels=("outcome",)),
                           "{{outcome}}"),
                     Query("sum(wedsync_http_tarpit_held)", "held now")]), 24),
        height=8)


def dashboard() -> core.Dashboard:
    """The Exporter health dashboard."""
    grid = Grid()
    probes(grid)
    ingestion(grid)
    process(grid)
    return make(EXPORTER, "The WedSync exporter itself: probes, ingestion, SQL queries, "
                "scrapes and the event loop. If this is unwell, every other dashboard is "
                "stale.", grid,
                [variables.label("component", "Component", "wedsync_probe_runs_total")])
