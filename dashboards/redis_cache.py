"""Redis and cache: memory against maxmemory, hit ratio, evictions, clients, commands; the
application's cache layers; the job queues kept in Redis."""

from __future__ import annotations

from grafanalib import core

from alerts.components import QUEUE_FAILED
from dashboards import links, promql, thresholds, variables
from dashboards.board import make
from dashboards.layout import Grid
from dashboards.panels import BAD, GOOD, WARN, Query, falling, rising, stat, timeseries
from dashboards.settings import EXPORTER, REDIS

TARGET = 'target=~"$target"'
QUEUE = 'queue=~"$queue"'
MEMORY = thresholds.alert_line("WedSyncRedisMemoryHigh")
BACKLOG = thresholds.alert_line("WedSyncQueueBackingUp")
FAILING = thresholds.alert_line("WedSyncQueueFailedJobsRising")


def layer_hit_ratio(window: str = promql.RATE_INTERVAL) -> str:
    """Hits over lookups per cache layer, from the application's reports (ingestion)."""
    hits = promql.sum_rate("wedsync_cache_requests_total", 'result="hit"', ("layer",), window)
    lookups = promql.sum_rate("wedsync_cache_requests_total", "", ("layer",), window)
    return f"{hits}\n/\n{lookups}"


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


def layers(grid: Grid) -> None:
    """The application's cache layers and the keys Redis holds."""
    grid.row("Cache layers and keys")
    grid.line(
        (timeseries("Hit ratio by cache layer",
                    "Share of lookups that hit, per layer the application reports (its own "
                    "memory, Redis, the CDN) through ingestion. Line: the 95% target of each "
                    "layer.", "percentunit",
                    [Query(layer_hit_ratio(), "{{layer}}")],
                    steps=falling((thresholds.CACHE_HIT_TARGET, GOOD))), 8),
        (timeseries("Lookups by cache layer",
                    "Lookups per second the application reports, per layer and result.", "ops",
                    [Query(promql.sum_rate("wedsync_cache_requests_total", "",
                                           ("layer", "result")), "{{layer}} {{result}}")]), 8),
        (timeseries("Keys",
                    "Keys per Redis database, and how many of them have an expiry (INFO "
                    "keyspace).", "short",
                    [Query(f"wedsync_redis_keys{{{TARGET}}}", "{{target}} db{{db}} keys"),
                     Query(f"wedsync_redis_expiring_keys{{{TARGET}}}",
                           "{{target}} db{{db}} expiring")]), 8),
        height=8)


def queues(grid: Grid) -> None:
    """BullMQ / Bull v3 job queues kept in Redis."""
    grid.row("Job queues")
    jobs = "wedsync_queue_jobs"
    grid.line(
        (timeseries("Jobs waiting and active",
                    "Jobs waiting to run (and held by a paused queue) and jobs running, per "
                    "queue. Waiting rising while active stays flat: the workers do not keep "
                    "up.", "short",
                    [Query(f'sum by (queue, state) ({jobs}{{{QUEUE}, '
                           f'state=~"waiting|paused|active|prioritized"}})',
                           "{{queue}} {{state}}")],
                    links=[links.runbook("WedSyncQueueBackingUp")]), 8),
        (timeseries("Oldest waiting job",
                    "How long the oldest waiting job of each queue has been ready to run "
                    f"(since its timestamp plus its delay). Lines: the alert thresholds "
                    f"({BACKLOG.wedding_day:g} s on wedding days, {BACKLOG.other_days:g} s on "
                    "other days).", "s",
                    [Query(f"max by (queue) (wedsync_queue_oldest_waiting_age_seconds"
                           f"{{{QUEUE}}})", "{{queue}}")],
                    steps=rising((BACKLOG.wedding_day, WARN), (BACKLOG.other_days, BAD)),
                    links=[links.runbook("WedSyncQueueBackingUp")]), 8),
        (timeseries("Delayed, failed and completed",
                    "Jobs delayed (waiting for their time or a retry), failed and completed "
                    "(as kept: queues may trim these sets).", "short",
                    [Query(f'sum by (queue, state) ({jobs}{{{QUEUE}, '
                           f'state=~"delayed|failed|completed"}})', "{{queue}} {{state}}")]),
         8),
        height=8)
    grid.line(
        (timeseries("Jobs failed in 15 minutes",
                    "Growth of each queue's failed set over 15 minutes (as the alert sees "
                    f"it). Lines: the alert thresholds ({FAILING.wedding_day:g} on wedding "
                    f"days, {FAILING.other_days:g} on other days).", "short",
                    [Query(f"max by (queue) ({QUEUE_FAILED}{{{QUEUE}}})", "{{queue}}")],
                    steps=rising((FAILING.wedding_day, WARN), (FAILING.other_days, BAD)),
                    links=[links.runbook("WedSyncQueueFailedJobsRising")]), 12),
        (stat("Paused queues",
              "Queues paused now (their jobs are held on purpose and never alert).", "short",
              [Query(f"sum(wedsync_queue_paused{{{QUEUE}}})")], steps=rising((1, WARN)),
              graph=False), 6),
        (stat("Queues skipped",
              "Queues discovery found beyond the exporter's max_queues (not watched).",
              "short", [Query("sum(wedsync_queues_skipped)")], steps=rising((1, WARN)),
              graph=False), 6),
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
    layers(grid)
    load(grid)
    queues(grid)
    return make(REDIS, "Redis as the exporter's probe sees it: memory against maxmemory, the "
                "cache hit ratio, evictions, clients and commands; the application's cache "
                "layers; the job queues.", grid,
                [variables.label("target", "Redis", "wedsync_redis_memory_used_bytes"),
                 variables.label("queue", "Queue", "wedsync_queue_jobs")])
