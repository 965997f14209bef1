"""The connection pooler (PgBouncer): clients waiting, pool utilisation both ways, server
connections by state, traffic and wait time.

Serverless functions reach PostgreSQL through the pooler, so on a Saturday its waiting clients
are the first sign of trouble, before the Database dashboard looks busy.
"""

from __future__ import annotations

from grafanalib import core

from alerts.components import POOL_CLIENTS, POOL_SERVERS
from dashboards import links, promql, thresholds, variables
from dashboards.board import make
from dashboards.layout import Grid
from dashboards.panels import BAD, WARN, Query, rising, stat, timeseries
from dashboards.settings import DATABASE, POOLER

TARGET = 'target=~"$target"'
SCOPE = 'target=~"$target", database=~"$database"'
WAIT = thresholds.alert_line("WedSyncPoolerClientsWaiting")
SERVERS = thresholds.alert_line("WedSyncPoolerPoolSaturated")
CLIENTS = thresholds.alert_line("WedSyncPoolerClientsNearMax")


def _lines(line: thresholds.AlertLine) -> str:
    if line.wedding_day == line.other_days:
        return f"Line: the alert at {line.other_days:.0%}."
    return (f"Lines: the alert thresholds ({line.wedding_day:g} on wedding days, "
            f"{line.other_days:g} on other days).")


def clients(grid: Grid) -> None:
    """Who waits, and how full the pools are."""
    grid.row("Clients and pools")
    grid.line(
        (stat("Clients waiting now",
              "Client connections waiting for a server connection, over every pooled database "
              "of the selected poolers. Any sustained wait means a full pool.", "short",
              [Query(f'sum(wedsync_pooler_clients{{{SCOPE}, state="waiting"}})')],
              steps=rising((1, WARN)), background=True,
              links=[links.runbook("WedSyncPoolerClientsWaiting")]), 4),
        (stat("Longest wait now",
              "The longest current wait of a client for a server connection.", "s",
              [Query(f"max(wedsync_pooler_max_wait_seconds{{{SCOPE}}})")],
              steps=rising((WAIT.wedding_day, WARN), (WAIT.other_days, BAD)),
              links=[links.runbook("WedSyncPoolerClientsWaiting")]), 4),
        (stat("Busiest pool",
              "The highest share of a pool's server connections serving clients, over the "
              "selected databases.", "percentunit",
              [Query(f"max({POOL_SERVERS}{{{SCOPE}}})")],
              steps=rising((SERVERS.other_days, WARN), (1, BAD)),
              links=[links.runbook("WedSyncPoolerPoolSaturated")]), 4),
        (stat("Clients of max_client_conn",
              "Client connections as a share of the pooler's max_client_conn; at 100% "
              "PgBouncer refuses new clients.", "percentunit",
              [Query(f"max({POOL_CLIENTS}{{{TARGET}}})")],
              steps=rising((CLIENTS.other_days, WARN), (1, BAD)),
              links=[links.runbook("WedSyncPoolerClientsNearMax")]), 4),
        (stat("Pooler up",
              "1 while the exporter reads the pooler's admin console; 0 when it fails (the "
              "API's database traffic fails with it).", "none",
              [Query(f'min(wedsync_up{{component="pooler", {TARGET}}})')],
              steps=[*rising((1, "green"), base=BAD)],
              links=[links.runbook("WedSyncPoolerDown")]), 4),
        (stat("Databases folded",
              "Pooled databases exported as database=\"other\" (not configured, or beyond "
              "the cap).", "short", [Query(f"sum(wedsync_pooler_databases_folded{{{TARGET}}})")],
              graph=False), 4),
        height=5)
    grid.line(
        (timeseries("Clients by state",
                    "Client connections per database: active (linked to a server connection, "
                    "or idle between transactions) and waiting for one.", "short",
                    [Query(f"sum by (target, database, state) "
                           f"(wedsync_pooler_clients{{{SCOPE}}})",
                           "{{database}} {{state}}")],
                    links=[links.runbook("WedSyncPoolerClientsWaiting")]), 8),
        (timeseries("Longest client wait",
                    "How long the longest-waiting client of each database has waited. "
                    + _lines(WAIT), "s",
                    [Query(f"max by (target, database) "
                           f"(wedsync_pooler_max_wait_seconds{{{SCOPE}}})",
                           "{{database}}")],
                    steps=rising((WAIT.wedding_day, WARN), (WAIT.other_days, BAD)),
                    links=[links.runbook("WedSyncPoolerClientsWaiting")]), 8),
        (timeseries("Pool utilisation",
                    "Server connections serving clients over the pool size, per database, "
                    "and client connections over max_client_conn, per pooler. "
                    + _lines(SERVERS), "percentunit",
                    [Query(f"{POOL_SERVERS}{{{SCOPE}}}", "{{database}} server connections"),
                     Query(f"{POOL_CLIENTS}{{{TARGET}}}", "{{target}} clients")],
                    steps=rising((SERVERS.other_days, WARN), (1, BAD)), minimum=0,
                    links=[links.runbook("WedSyncPoolerPoolSaturated"),
                           links.runbook("WedSyncPoolerClientsNearMax")]), 8),
        height=8)


def servers(grid: Grid) -> None:
    """What the pooler does with PostgreSQL."""
    grid.row("Server connections and traffic")
    transactions = promql.sum_rate("wedsync_pooler_transactions_total", SCOPE,
                                   ("target", "database"))
    waited = promql.sum_rate("wedsync_pooler_client_wait_seconds_total", SCOPE,
                             ("target", "database"))
    grid.line(
        (timeseries("Server connections by state",
                    "The pooler's connections to PostgreSQL per database: active (serving a "
                    "client), idle, used, tested, login; and the pool size they may reach.",
                    "short",
                    [Query(f"sum by (target, database, state) "
                           f"(wedsync_pooler_server_connections{{{SCOPE}}})",
                           "{{database}} {{state}}"),
                     Query(f"max by (target, database) (wedsync_pooler_pool_size{{{SCOPE}}})",
                           "{{database}} pool size")],
                    links=[links.to_board(DATABASE, "PostgreSQL's own connections")]), 8),
        (timeseries("Transactions and queries per second",
                    "What the pooler carried for each database.", "ops",
                    [Query(transactions, "{{database}} transactions"),
                     Query(promql.sum_rate("wedsync_pooler_queries_total", SCOPE,
                                           ("target", "database")), "{{database}} queries")]),
                   8),
        (timeseries("Wait per transaction",
                    "Seconds clients spent waiting for a server connection per transaction "
                    "carried: above zero, the pool is the bottleneck.", "s",
                    [Query(f"{waited}\n/\n{transactions}", "{{database}}")]), 8),
        height=8)


def dashboard() -> core.Dashboard:
    """The connection pooler dashboard."""
    grid = Grid()
    clients(grid)
    servers(grid)
    return make(POOLER, "The connection pooler (PgBouncer) as its admin console tells: "
                "clients waiting, pool utilisation both ways, server connections, traffic.",
                grid,
                [variables.label("target", "Pooler", "wedsync_pooler_max_client_connections"),
                 variables.label("database", "Database", "wedsync_pooler_clients")])
