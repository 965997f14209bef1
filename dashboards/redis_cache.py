"""Redis and cache: memory against maxmemory, hit ratio, evictions, clients, commands."""

from __future__ import annotations

from grafanalib import core

from dashboards import links, promql, thresholds, variables
from dashboards.board import make
from dashboards.layout import Grid
from dashboards.panels import BAD, GOOD, WARN, Query, falling, rising, timeseries
from dashboards.settings import EXPORTER, REDIS

TARGET = 'target=~"$target"'
MEMORY = thresholds.alert_line("WedSyncRedisMemoryHigh")


def _per_target(metric: str, legend: str) -> Query:
    return Query(promql.sum_rate(metric, TARGET, ("target",)), f"{{{{target}}}} {legend}")


def memory_and_cache(grid: Grid) -> None:
    """Memory and the hit ratio."""
    grid.row("Memory and hit ratio")
    hits = promql.sum_rate("wedsync_redis_keyspace_hits_total", TARGET, ("target",))
    misses = promql.sum_rate("wedsync_redis_keyspace_misses_total", TARGET, ("target",))
    grid.line(
        (timeseries("Memory used against maxmemory",
                    "Memory Redis uses and its maxmemory (absent when Redis has no limit). At "
                    "the limit Redis evicts keys or refuses writes.", "bytes",
                    [Query(f"wedsync_redis_memory_used_bytes{{{TARGET}}}", "{{target}} used"),
                     Query(f"wedsync_redis_memory_max_bytes{{{TARGET}}} > 0",
                           "{{target}} maxmemory")],
                    links=[links.runbook("WedSyncRedisMemoryHigh")]), 8),
        (timeseries("Memory use",
                    "Memory used as a share of maxmemory. Lines: the alert thresholds "
                    f"({MEMORY.wedding_day:.0%} on wedding days, {MEMORY.other_days:.0%} on "
                    "other days).", "percentunit",
                    [Query(f"wedsync:redis_memory:ratio{{{TARGET}}}", "{{target}}")],
                    steps=rising((MEMORY.wedding_day, WARN), (MEMORY.other_days, BAD)),
                    minimum=0, maximum=1, links=[links.runbook("WedSyncRedisMemoryHigh")]), 8),
        (timeseries("Cache hit ratio",
                    "Share of key lookups that hit, over 10 minutes (as the alert sees it) and "
                    "over the panel's rate interval. Lines: the 95% target and the 85% alert.",
                    "percentunit",
                    [Query(f"wedsync:redis_hit:ratio_rate10m{{{TARGET}}}", "{{target}} 10m"),
                     Query(f"{hits}\n/\n(\n  {hits}\n  +\n  {misses}\n)", "{{target}} now")],
                    steps=falling((thresholds.CACHE_HIT_ALERT, WARN),
                                  (thresholds.CACHE_HIT_TARGET, GOOD)),
                    links=[links.runbook("WedSyncCacheHitRatioLow")]), 8),
        height=8)


def load(grid: Grid) -> None:
    """Evictions, clients, commands, latency."""
    grid.row("Evictions, clients and commands")
    grid.line(
        (timeseries("Evictions and expirations",
                    "Keys evicted to stay under maxmemory (each one a cache miss to come) and "
                    "keys expired, per second.", "ops",
                    [_per_target("wedsync_redis_evicted_keys_total", "evicted"),
                     _per_target("wedsync_redis_expired_keys_total", "expired")],
                    links=[links.runbook("WedSyncRedisEvictions")]), 6),
        (timeseries("Clients",
                    "Connected clients and clients blocked in a blocking call; connections "
                    "refused for maxclients per second.", "short",
                    [Query(f"wedsync_redis_connected_clients{{{TARGET}}}", "{{target}} connected"),
                     Query(f"wedsync_redis_blocked_clients{{{TARGET}}}", "{{target}} blocked"),
                     _per_target("wedsync_redis_rejected_connections_total", "rejected/s")]), 6),
        (timeseries("Commands per second", "Commands Redis processed per second.", "ops",
                    [_per_target("wedsync_redis_commands_processed_total", "commands")]), 6),
        (timeseries("PING round trip", "Round trip of the probe's PING.", "s",
                    [Query(f"wedsync_redis_ping_seconds{{{TARGET}}}", "{{target}}")],
                    links=[links.runbook("WedSyncRedisDown"),
                           links.to_board(EXPORTER, "Probe failures by reason")]), 6),
        height=8)


def dashboard() -> core.Dashboard:
    """The Redis and cache dashboard."""
    grid = Grid()
    memory_and_cache(grid)
    load(grid)
    return make(REDIS, "Redis as the exporter's probe sees it: memory against maxmemory, the "
                "cache hit ratio, evictions, clients and commands.", grid,
                [variables.label("target", "Redis", "wedsync_redis_memory_used_bytes")])
