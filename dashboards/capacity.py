"""Capacity: next Saturday's headroom (last Saturday's peaks scaled by the weddings booked),
the platform's limits and when they are forecast to run out, and the hosts' CPU, memory, disk
and network (node_exporter, or Supabase's Metrics API for the hosted database)."""

from __future__ import annotations

from grafanalib import core

from alerts.capacity import (
    FORECAST,
    LAST_SATURDAY_PEAK,
    LIMIT_USE,
    NEXT_SATURDAY,
    RESOURCES,
    SATURDAY_FORECAST_TRIGGER,
    Resource,
)
from alerts.hosts import CPU_TRIGGER, HOST_CPU, HOST_FILESYSTEM_AVAILABLE, HOST_MEMORY_AVAILABLE
from alerts.settings import HOST_SELECTOR
from dashboards import links, promql
from dashboards.board import make
from dashboards.layout import Grid
from dashboards.panels import BAD, GOOD, WARN, Query, falling, rising, stat, timeseries
from dashboards.settings import CAPACITY, DATABASE, POOLER, REDIS

# Host I/O per device, without the loopback interface.
NETWORK = f'{HOST_SELECTOR}, device!="lo"'


def _forecast(resource: Resource) -> core.Stat:
    limited = resource.unit == "percentunit"
    steps = rising((SATURDAY_FORECAST_TRIGGER, WARN), (1, BAD)) if limited else []
    return stat(
        f"{resource.title}: next Saturday",
        f"Next Saturday's forecast peak of {resource.title.lower()}: last Saturday's peak "
        "times the weddings booked for next Saturday over last Saturday's"
        + (" (as a share of its limit: \"forecast peak 71% of connections\")." if limited
           else ".") + " Below it, last Saturday's peak itself.",
        resource.unit,
        [Query(f'{NEXT_SATURDAY}{{resource="{resource.name}"}}', "next Saturday"),
         Query(f'{LAST_SATURDAY_PEAK}{{resource="{resource.name}"}}', "last Saturday")],
        steps=steps, graph=False,
        links=[links.runbook("WedSyncScaleUpRecommended")])


def saturday(grid: Grid) -> None:
    """Next Saturday's headroom."""
    grid.row("Next Saturday")
    grid.line(
        (stat("Weddings next Saturday",
              "Weddings booked for the first Saturday after today (platform time zone).",
              "short", [Query('max(wedsync_weddings{window="next_saturday"})')], graph=False),
         4),
        (stat("Weddings last Saturday",
              "Weddings on the last Saturday before today: the day whose peaks are scaled.",
              "short", [Query('max(wedsync_weddings{window="last_saturday"})')], graph=False),
         4),
        *((_forecast(resource), 4) for resource in RESOURCES),
        height=5)


def limits(grid: Grid) -> None:
    """The platform's own limits and when they run out."""
    grid.row("Limits and forecasts")
    grid.line(
        (timeseries("Use of each limit",
                    "Database connections over max_connections, Redis memory over maxmemory, "
                    "pooler clients over max_client_conn, per target.", "percentunit",
                    [Query(LIMIT_USE, "{{limit}} {{target}}")],
                    steps=rising((SATURDAY_FORECAST_TRIGGER, WARN), (1, BAD)), minimum=0,
                    links=[links.to_board(DATABASE), links.to_board(REDIS),
                           links.to_board(POOLER)]), 12),
        (timeseries("Time until a limit is reached",
                    "At the pace of the last 6 hours; a year (the cap) while use is not "
                    "growing. A ticket opens when it is under 3 days and the limit is at "
                    "least half used.", "s",
                    [Query(f"min by (limit, target) ({FORECAST})",
                           "{{limit}} {{target}}")],
                    steps=falling((3 * 86400, GOOD)),
                    links=[links.runbook("WedSyncLimitReachedSoon")]), 12),
        height=8)


def hosts(grid: Grid) -> None:
    """The hosts' resources."""
    grid.row("Hosts")
    grid.line(
        (timeseries("CPU busy",
                    f"Share of each host's CPU time not idle (all cores). Line: the scaling "
                    f"trigger and the alert at {CPU_TRIGGER:.0%}.", "percentunit",
                    [Query(HOST_CPU, "{{instance}}")],
                    steps=rising((CPU_TRIGGER, BAD)), minimum=0, maximum=1,
                    links=[links.runbook("WedSyncHostCPUHigh")]), 8),
        (timeseries("Memory available",
                    "Share of each host's memory available to new work without swapping.",
                    "percentunit", [Query(HOST_MEMORY_AVAILABLE, "{{instance}}")],
                    steps=falling((0.1, GOOD)), minimum=0, maximum=1,
                    links=[links.runbook("WedSyncHostMemoryLow")]), 8),
        (timeseries("Disk space available",
                    "Share of each file system available, per mount point.", "percentunit",
                    [Query(HOST_FILESYSTEM_AVAILABLE, "{{instance}} {{mountpoint}}")],
                    steps=falling((0.2, WARN), (0.4, GOOD)), minimum=0, maximum=1,
                    links=[links.runbook("WedSyncHostDiskFillingUp"),
                           links.runbook("WedSyncHostDiskFullSoon")]), 8),
        height=8)
    grid.line(
        (timeseries("Disk I/O",
                    "Bytes read and written per second, per host.", "Bps",
                    [Query(promql.sum_rate("node_disk_read_bytes_total", HOST_SELECTOR,
                                           ("instance",)), "{{instance}} read"),
                     Query(promql.sum_rate("node_disk_written_bytes_total", HOST_SELECTOR,
                                           ("instance",)), "{{instance}} written")]), 12),
        (timeseries("Network I/O",
                    "Bytes received and sent per second, per host (loopback left out).",
                    "Bps",
                    [Query(promql.sum_rate("node_network_receive_bytes_total", NETWORK,
                                           ("instance",)), "{{instance}} received"),
                     Query(promql.sum_rate("node_network_transmit_bytes_total", NETWORK,
                                           ("instance",)), "{{instance}} sent")]), 12),
        height=8)


def dashboard() -> core.Dashboard:
    """The capacity dashboard."""
    grid = Grid()
    saturday(grid)
    limits(grid)
    hosts(grid)
    return make(CAPACITY, "Will next Saturday fit? Last Saturday's peaks scaled by the "
                "weddings booked, the platform's limits and when they run out, and the hosts' "
                "CPU, memory, disk and network.", grid)
