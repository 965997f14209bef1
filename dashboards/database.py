"""Database: connections against the limit, transactions, cache, slow statements, long
transactions, replication, size, Row Level Security and the architecture validation."""

from __future__ import annotations

from grafanalib import core

from dashboards import links, promql, thresholds, variables
from dashboards.board import make
from dashboards.layout import Grid
from dashboards.panels import (
    BAD,
    GOOD,
    WARN,
    Override,
    Query,
    falling,
    rising,
    stat,
    table,
    timeseries,
    value_map,
)
from dashboards.settings import DATABASE, EXPORTER

TARGET = 'target=~"$target"'
CONNECTIONS = thresholds.alert_line("WedSyncDatabaseConnectionsHigh")
LAG = thresholds.alert_line("WedSyncDatabaseReplicationLag")
HITS = promql.sum_rate("wedsync_db_blocks_hit_total", TARGET, ("target",))
READS = promql.sum_rate("wedsync_db_blocks_read_total", TARGET, ("target",))
UP_WORDS = value_map((0, "Down", BAD), (1, "Up", GOOD))
# A dashed red line for a limit drawn as a series of its own.
LIMIT_STYLE = {"custom.lineStyle": {"fill": "dash", "dash": [10, 10]},
               "custom.stacking": {"mode": "none", "group": "A"},
               "color": {"mode": "fixed", "fixedColor": BAD}}


def connections(grid: Grid) -> None:
    """Connections, transactions, cache."""
    grid.row("Connections and throughput")
    grid.line(
        (timeseries("Connections by state against max_connections",
                    "Server connections by state (stacked) and the server's max_connections "
                    "(dashed). New connections are refused at the line.", "short",
                    [Query(f"sum by (state) (wedsync_db_connections{{{TARGET}}})", "{{state}}"),
                     Query(f"max(wedsync_db_max_connections{{{TARGET}}})", "max_connections")],
                    stacked=True, overrides=[Override(("max_connections",), LIMIT_STYLE)],
                    links=[links.runbook("WedSyncDatabaseConnectionsHigh")]), 12),
        (timeseries("Connection use",
                    "Connections in use as a share of max_connections. Lines: the alert "
                    f"thresholds ({CONNECTIONS.wedding_day:.0%} on wedding days, "
                    f"{CONNECTIONS.other_days:.0%} on other days).", "percentunit",
                    [Query(f"wedsync:db_connections:ratio{{{TARGET}}}", "{{target}}")],
                    steps=rising((CONNECTIONS.wedding_day, WARN),
                                 (CONNECTIONS.other_days, BAD)), minimum=0, maximum=1,
                    links=[links.runbook("WedSyncDatabaseConnectionsHigh")]), 6),
        (stat("Up", "1 when the last database probe succeeded.", "none",
              [Query(f'wedsync_up{{component="database", {TARGET}}}', "{{target}}")],
              steps=falling((1, GOOD)), mappings=UP_WORDS, graph=False, background=True,
              links=[links.runbook("WedSyncDatabaseDown"),
                     links.to_board(EXPORTER, "Probe failures by reason")]), 6),
        height=8)
    grid.line(
        (timeseries("Transactions",
                    "Committed and rolled-back transactions per second, and deadlocks.", "ops",
                    [Query(promql.sum_rate("wedsync_db_xact_commit_total", TARGET,
                                           ("target",)), "{{target}} commits"),
                     Query(promql.sum_rate("wedsync_db_xact_rollback_total", TARGET,
                                           ("target",)), "{{target}} rollbacks"),
                     Query(promql.sum_rate("wedsync_db_deadlocks_total", TARGET, ("target",)),
                           "{{target}} deadlocks")],
                    links=[links.runbook("WedSyncDatabaseDeadlocks")]), 8),
        (timeseries("Buffer cache hit ratio",
                    "Share of block reads served from PostgreSQL's buffer cache. Line: the "
                    "architecture validation's threshold (99%).", "percentunit",
                    [Query(f"{HITS}\n/\n(\n  {HITS}\n  +\n  {READS}\n)", "{{target}}")],
                    steps=falling((thresholds.DATABASE_CACHE_HIT, GOOD))), 8),
        (timeseries("Probe round trip (p95)",
                    "95th percentile of the probe's SELECT 1 round trip: the database query-time "
                    "SLI. Line: the 50 ms objective.", "s",
                    [Query(promql.quantile(0.95, "wedsync_db_roundtrip_seconds", TARGET,
                                           ("target",)), "{{target}}")],
                    steps=rising((thresholds.DATABASE_P95, BAD)),
                    links=[links.runbook("WedSyncDatabaseSlow")]), 8),
        height=8)


def health(grid: Grid) -> None:
    """Statements, transactions, replication, size."""
    grid.row("Statements, transactions, replication, size")
    grid.line(
        (timeseries("Slow statements",
                    "Statements in pg_stat_statements whose mean time is above the configured "
                    "threshold (slow_statement_threshold).", "short",
                    [Query(f"wedsync_db_slow_statements{{{TARGET}}}", "{{target}}")],
                    links=[links.runbook("WedSyncSlowStatementsRising")]), 6),
        (timeseries("Longest open transaction",
                    "Age of the oldest open transaction (0 when none is open): it holds locks "
                    "and stops vacuum. Line: the 5-minute alert.", "s",
                    [Query(f"wedsync_db_longest_transaction_seconds{{{TARGET}}}",
                           "{{target}}")],
                    steps=rising((thresholds.LONG_TRANSACTION, BAD)),
                    links=[links.runbook("WedSyncDatabaseLongTransaction")]), 6),
        (timeseries("Replication lag",
                    "On a replica the age of the last replayed transaction; on a primary the "
                    "largest replay lag of its replicas. Empty where no replication runs. "
                    f"Lines: the alert thresholds ({LAG.wedding_day:g} s on wedding days, "
                    f"{LAG.other_days:g} s on other days).", "s",
                    [Query(f"wedsync_db_replication_lag_seconds{{{TARGET}}}", "{{target}}")],
                    steps=rising((LAG.wedding_day, WARN), (LAG.other_days, BAD)),
                    links=[links.runbook("WedSyncDatabaseReplicationLag")]), 6),
        (timeseries("Database size", "Size of the probed database.", "bytes",
                    [Query(f"wedsync_db_size_bytes{{{TARGET}}}", "{{target}}")]), 6),
        height=8)


def security(grid: Grid) -> None:
    """Row Level Security, the architecture validation and WAL archiving."""
    grid.row("Row Level Security, validation and backups")
    grid.line(
        (stat("Tables without RLS",
              "Tables in API-exposed schemas with Row Level Security disabled: the API "
              "exposes every row of them to any signed-in user. Must be 0.", "short",
              [Query(f"sum by (schema) (wedsync_db_tables_without_rls{{{TARGET}}})",
                     "{{schema}}")], steps=rising((1, BAD)), background=True, graph=False,
              links=[links.runbook("WedSyncTablesWithoutRLS")]), 6),
        (table("Validation findings",
               "Findings of the background architecture validation by check and severity "
               "(0: the check ran and found nothing). Names of tables and functions are only "
               "in POST /api/architecture/validate's answer.", "short",
               [Query("sum by (check, severity) (wedsync_validation_findings)", instant=True,
                      table=True)], steps=rising((1, WARN)),
               links=[links.runbook("WedSyncArchitectureFindings")]), 12),
        (stat("Since the last validation",
              "Time since the background validation last finished (it runs every "
              "validation.interval, 5 minutes by default).", "s",
              [Query("time() - max(wedsync_validation_last_run_timestamp_seconds)")],
              graph=False), 6),
        height=8)
    grid.line(
        (stat("WAL archiving failing",
              "1 where PostgreSQL's archiver failed its last attempt and nothing was archived "
              "since: point-in-time recovery stops at the last archived segment. Must be 0.",
              "short",
              [Query(f"max by (target) (wedsync_db_wal_archive_failing{{{TARGET}}})",
                     "{{target}}")], steps=rising((1, BAD)), background=True, graph=False,
              links=[links.runbook("WedSyncDatabaseArchivingFailing")]), 6),
        (timeseries("Oldest WAL waiting for the archiver",
                    "Age of the oldest finished WAL segment not yet archived (0 when none "
                    "waits). Line: the alert's 15 minutes.", "s",
                    [Query(f"wedsync_db_wal_archive_oldest_pending_seconds{{{TARGET}}}",
                           "{{target}}")],
                    steps=rising((900, BAD)),
                    links=[links.runbook("WedSyncDatabaseArchivingFailing")]), 9),
        (timeseries("WAL archived and failed",
                    "WAL segments archived and archive attempts failed, per second.", "ops",
                    [Query(promql.sum_rate("wedsync_db_wal_archived_total", TARGET,
                                           ("target",)), "{{target}} archived"),
                     Query(promql.sum_rate("wedsync_db_wal_archive_failures_total", TARGET,
                                           ("target",)), "{{target}} failed")]), 9),
        height=8)


def dashboard() -> core.Dashboard:
    """The Database dashboard."""
    grid = Grid()
    connections(grid)
    health(grid)
    security(grid)
    return make(DATABASE, "PostgreSQL as the exporter's database probe and architecture "
                "validation see it: saturation, throughput, cache, slow and long work, "
                "replication, size, Row Level Security.", grid,
                [variables.label("target", "Database", "wedsync_db_max_connections")])
