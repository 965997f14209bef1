"""Alerts about the platform's components: down, stale, slow, saturated, insecure, drifting.

Thresholds on wedding days are tighter and ``for:`` shorter where the harm is immediate
(``wedding_days=Timing(...)``); planning alerts (``urgency="later"``) always go to the ticket
receiver.
"""

from __future__ import annotations

from alerts.model import Alert, Group, Recording, Severity, Timing
from exporter.components import REGISTRY, Component, DownAlert

# --- recorded ratios the alerts (and dashboards) share ------------------------------------------
DB_CONNECTIONS = "wedsync:db_connections:ratio"
REDIS_MEMORY = "wedsync:redis_memory:ratio"
CACHE_HIT = "wedsync:redis_hit:ratio_rate10m"
CACHE_LOOKUPS = "wedsync:redis_lookups:rate10m"
# SLA tracking (the status page's uptime, as a rule): the share of successful probes per component.
UPTIME_5M = "wedsync:component_up:ratio_avg5m"
UPTIME_30D = "wedsync:component_up:ratio_avg30d"
POOL_SERVERS = "wedsync:pooler_servers:ratio"
POOL_CLIENTS = "wedsync:pooler_clients:ratio"
QUEUE_FAILED = "wedsync:queue_failed:delta15m"
QUEUE_WAIT = "wedsync:queue_oldest_waiting:seconds"
# The platform brief's scaling trigger: a connection pool above 85% of its capacity.
POOL_SATURATION = 0.85

RECORDINGS: tuple[Recording, ...] = (
    Recording(DB_CONNECTIONS,
              "sum by (target) (max without (instance) (wedsync_db_connections))\n"
              "/ on (target)\n"
              "max by (target) (wedsync_db_max_connections)",
              help="Server connections (all states) as a share of max_connections."),
    # maxmemory 0 means "no limit": such targets have no ratio.
    Recording(REDIS_MEMORY,
              "max by (target) (wedsync_redis_memory_used_bytes)\n"
              "/ on (target)\n"
              "max by (target) (wedsync_redis_memory_max_bytes > 0)",
              help="Redis memory used as a share of maxmemory (absent without a limit)."),
    Recording(CACHE_LOOKUPS,
              "sum by (target) (max without (instance) (\n"
              "  rate(wedsync_redis_keyspace_hits_total[10m])))\n"
              "+ on (target)\n"
              "sum by (target) (max without (instance) (\n"
              "  rate(wedsync_redis_keyspace_misses_total[10m])))",
              help="Key lookups (hits and misses) per second over 10 minutes."),
    Recording(CACHE_HIT,
              "sum by (target) (max without (instance) (\n"
              "  rate(wedsync_redis_keyspace_hits_total[10m])))\n"
              f"/ on (target)\n{CACHE_LOOKUPS}",
              help="Share of key lookups that hit, over 10 minutes (NaN when idle)."),
    # Utilisation both ways: server connections serving clients over what the database's
    # pools may open, and client connections over the pooler's max_client_conn.
    Recording(POOL_SERVERS,
              "sum by (target, database) (max without (instance) (\n"
              '  wedsync_pooler_server_connections{state="active"}))\n'
              "/ on (target, database)\n"
              "max by (target, database) (wedsync_pooler_pool_size > 0)",
              help="Pooler server connections serving clients as a share of the pool size."),
    Recording(POOL_CLIENTS,
              "sum by (target) (max without (instance) (wedsync_pooler_clients))\n"
              "/ on (target)\n"
              "max by (target) (wedsync_pooler_max_client_connections > 0)",
              help="Pooler client connections as a share of max_client_conn."),
    # A paused queue holds its jobs on purpose: its oldest job's age is no backlog.
    Recording(QUEUE_WAIT,
              "max by (target, queue) (wedsync_queue_oldest_waiting_age_seconds)\n"
              "unless on (target, queue)\n"
              "max by (target, queue) (wedsync_queue_paused == 1)",
              help="Age of each unpaused queue's oldest waiting job (paused queues left out)."),
    # Failed jobs are a sorted set's size (trimmed by some queues), not a counter: its growth.
    Recording(QUEUE_FAILED,
              'max by (target, queue) (delta(wedsync_queue_jobs{state="failed"}[15m]))',
              help="Growth of each queue's failed set over 15 minutes."),
)


# --- one "down" alert per component ---------------------------------------------------------------
# Each component's policy is declared in the component registry (exporter.components):
# essential components page (critical); external services are non-essential: a ticket on
# other days, a page on wedding days.
def down_policies() -> tuple[DownAlert, ...]:
    """Every registered component's down-alert policy, in the registry's order."""
    return tuple(c.down for c in REGISTRY)


def down_alert(component: Component) -> Alert:
    """WedSync<Component>Down: the component's probe fails."""
    policy = component.down
    return Alert(
        name=f"WedSync{policy.title}Down",
        # Once per target however many exporter replicas probe it; down if any says so.
        expr=f'min without (instance) (wedsync_up{{component="{component.name}"}}) == 0',
        severity=policy.severity, category="down",
        summary=f"{policy.noun} fails its probe.",
        description=(
            f"The exporter's probe of {component.name} target {{{{ $labels.target }}}} "
            "fails (see wedsync_probe_failures_total for the reason)."),
        wedding_days=Timing(policy.wedding_for), other_days=Timing(policy.other_for))


def _alert(name: str, expr: str, severity: Severity, category: str, summary: str,
           description: str, other: Timing, wedding: Timing | None = None,
           component: str | None = None, urgency: str = "now") -> Alert:
    labels = {"component": component} if component else {}
    return Alert(name=name, expr=expr, severity=severity, category=category, summary=summary,
                 description=description, other_days=other, wedding_days=wedding,
                 urgency=urgency, labels=labels)  # type: ignore[arg-type]


PROBE_ALERTS: tuple[Alert, ...] = (
    _alert("WedSyncProbeResultsStale",
           "time() - wedsync_probe_last_success_timestamp_seconds > 120\n"
           "unless on (component, target)\nwedsync_up == 0",
           "warning", "freshness", "Cached probe results are not being refreshed.",
           "The last successful probe of {{ $labels.component }} target {{ $labels.target }} "
           "is {{ $value | humanizeDuration }} old, yet the probe reports no failure: the "
           "exporter serves stale results.",
           Timing("5m"), Timing("2m")),
    _alert("WedSyncProbesOverrunning",
           "increase(wedsync_probe_overruns_total[15m]) > 2",
           "warning", "freshness", "Probe runs are skipped because earlier runs overrun.",
           "{{ $labels.component }} target {{ $labels.target }} skipped "
           "{{ $value | printf \"%.0f\" }} probe runs in 15 minutes because the previous run "
           "was still going.",
           Timing("5m")),
)

DATABASE_ALERTS: tuple[Alert, ...] = (
    _alert("WedSyncDatabaseConnectionsHigh", f"{DB_CONNECTIONS} > $threshold",
           "warning", "saturation", "Database connections are close to max_connections.",
           "{{ $labels.target }} uses {{ $value | humanizePercentage }} of max_connections.",
           Timing("10m", 0.8), Timing("5m", 0.7), component="database"),
    _alert("WedSyncDatabaseLongTransaction", "wedsync_db_longest_transaction_seconds > 300",
           "warning", "saturation", "A database transaction has been open for over 5 minutes.",
           "The oldest open transaction on {{ $labels.target }} has been open for "
           "{{ $value | humanizeDuration }}; it holds locks and stops vacuum.",
           Timing("2m"), Timing("1m"), component="database"),
    _alert("WedSyncDatabaseReplicationLag", "wedsync_db_replication_lag_seconds > $threshold",
           "warning", "freshness", "Database replication lags behind.",
           "Replication on {{ $labels.target }} lags {{ $value | humanizeDuration }}: reads "
           "from replicas show old Core Fields.",
           Timing("5m", 30), Timing("2m", 10), component="database"),
    _alert("WedSyncDatabaseSlow",
           "histogram_quantile(0.95,\n"
           "  sum by (target, le) (rate(wedsync_db_roundtrip_seconds_bucket[10m]))\n"
           ") > 0.05",
           "warning", "latency", "Database round trips are slower than 50 ms at p95.",
           "The p95 of the probe's round trip to {{ $labels.target }} is "
           "{{ $value | humanizeDuration }} over 10 minutes (objective: 50ms).",
           Timing("15m"), Timing("5m"), component="database"),
    _alert("WedSyncTablesWithoutRLS", "wedsync_db_tables_without_rls > 0",
           "critical", "security", "API-exposed tables have Row Level Security disabled.",
           "{{ $value }} tables in schema {{ $labels.schema }} on {{ $labels.target }} have "
           "RLS disabled: the API exposes every row of them to any signed-in user.",
           Timing("5m"), component="database"),
    # Failing: the last attempt failed and none succeeded since; behind: a finished segment
    # has waited 15 minutes (both mean the newest data is not in any backup).
    _alert("WedSyncDatabaseArchivingFailing",
           "wedsync_db_wal_archive_failing == 1\nor on (job, instance, target)\n"
           "wedsync_db_wal_archive_oldest_pending_seconds > 900",
           "warning", "data", "WAL archiving fails or falls behind: recent writes are in no "
           "backup.",
           "WAL archiving on {{ $labels.target }} fails or has a segment waiting "
           "{{ $value | printf \"%.0f\" }} (1 = failing, else seconds waiting); point-in-time "
           "recovery stops at the last archived segment.",
           Timing("15m"), component="database", urgency="later"),
    _alert("WedSyncDatabaseDeadlocks", "increase(wedsync_db_deadlocks_total[15m]) > 0",
           "warning", "errors", "The database detects deadlocks.",
           "{{ $labels.target }} detected {{ $value | printf \"%.0f\" }} deadlocks in the last "
           "15 minutes.", Timing("0s"), component="database", urgency="later"),
    _alert("WedSyncSlowStatementsRising",
           "wedsync_db_slow_statements > 0\nand\ndelta(wedsync_db_slow_statements[1h]) > 0",
           "warning", "latency", "More statements are slow than an hour ago.",
           "{{ $labels.target }} has {{ $value }} statements whose mean time is above the slow "
           "threshold, more than an hour ago.",
           Timing("30m"), component="database", urgency="later"),
)

REDIS_ALERTS: tuple[Alert, ...] = (
    _alert("WedSyncRedisMemoryHigh", f"{REDIS_MEMORY} > $threshold",
           "warning", "saturation", "Redis memory is close to maxmemory.",
           "{{ $labels.target }} uses {{ $value | humanizePercentage }} of maxmemory.",
           Timing("10m", 0.9), Timing("5m", 0.85), component="redis"),
    _alert("WedSyncRedisEvictions", "increase(wedsync_redis_evicted_keys_total[15m]) > 0",
           "warning", "saturation", "Redis evicts keys to stay under maxmemory.",
           "{{ $labels.target }} evicted {{ $value | printf \"%.0f\" }} keys in the last 15 "
           "minutes.", Timing("15m"), component="redis", urgency="later"),
    # At least one lookup every 10 s: a handful of misses on an idle cache is not a problem.
    _alert("WedSyncCacheHitRatioLow",
           f"{CACHE_HIT} < 0.85\nand on (target)\n{CACHE_LOOKUPS} > 0.1",
           "warning", "latency", "The cache hit ratio is below 85%.",
           "Only {{ $value | humanizePercentage }} of lookups on {{ $labels.target }} hit the "
           "cache over 10 minutes.",
           Timing("15m"), Timing("5m"), component="redis"),
)

# Serverless functions reach PostgreSQL through the pooler: on a Saturday its waiting clients
# are the first sign of trouble, before PostgreSQL itself looks busy. Warnings page on wedding
# days and open tickets otherwise (the wedding-day label decides).
POOLER_ALERTS: tuple[Alert, ...] = (
    _alert("WedSyncPoolerClientsWaiting",
           "max by (target, database) (wedsync_pooler_max_wait_seconds) > $threshold",
           "warning", "saturation", "Clients wait for a database connection at the pooler.",
           "Clients of database {{ $labels.database }} on pooler {{ $labels.target }} have "
           "waited up to {{ $value | humanizeDuration }} for a server connection.",
           Timing("5m", 1.0), Timing("2m", 0.2), component="pooler"),
    _alert("WedSyncPoolerPoolSaturated", f"{POOL_SERVERS} > $threshold",
           "warning", "saturation", "A connection pool is close to its size.",
           "Database {{ $labels.database }} on pooler {{ $labels.target }} uses "
           "{{ $value | humanizePercentage }} of its pool's server connections.",
           Timing("10m", POOL_SATURATION), Timing("5m", POOL_SATURATION), component="pooler"),
    _alert("WedSyncPoolerClientsNearMax", f"{POOL_CLIENTS} > $threshold",
           "warning", "saturation", "The pooler's client connections near max_client_conn.",
           "Pooler {{ $labels.target }} holds {{ $value | humanizePercentage }} of "
           "max_client_conn; beyond it new clients are refused.",
           Timing("10m", POOL_SATURATION), Timing("5m", POOL_SATURATION), component="pooler"),
)

# A paused queue holds its jobs on purpose: it never "backs up".
_NOT_PAUSED = "unless on (target, queue)\nwedsync_queue_paused == 1"
QUEUE_ALERTS: tuple[Alert, ...] = (
    _alert("WedSyncQueueBackingUp",
           "(\n"
           f"  {QUEUE_WAIT} > $threshold\n"
           "  or\n"
           "  (\n"
           '    max by (target, queue) (delta(wedsync_queue_jobs{state="waiting"}[15m])) > 0\n'
           "    and on (target, queue)\n"
           '    max by (target, queue) (delta(wedsync_queue_jobs{state="active"}[15m])) <= 0\n'
           "    and on (target, queue)\n"
           '    max by (target, queue) (wedsync_queue_jobs{state="waiting"})\n'
           "    > on (target, queue)\n"
           '    max by (target, queue) (wedsync_queue_jobs{state="active"})\n'
           "  )\n"
           f"){chr(10)}{_NOT_PAUSED}",
           "warning", "saturation", "A job queue backs up: jobs wait and workers do not keep up.",
           "Queue {{ $labels.queue }} on {{ $labels.target }} backs up: its oldest waiting job "
           "is older than the threshold, or more jobs wait than run and they keep rising while "
           "the running ones do not (value {{ $value | printf \"%.0f\" }}).",
           Timing("15m", 300), Timing("5m", 120), component="queues"),
    _alert("WedSyncQueueFailedJobsRising",
           f"{QUEUE_FAILED} > $threshold",
           "warning", "errors", "Jobs of a queue are failing.",
           "{{ $value | printf \"%.0f\" }} more jobs of queue {{ $labels.queue }} on "
           "{{ $labels.target }} failed in the last 15 minutes.",
           Timing("5m", 10), Timing("2m", 3), component="queues"),
)

SERVICE_ALERTS: tuple[Alert, ...] = (
    _alert("WedSyncRealtimeRoundtripSlow",
           "histogram_quantile(0.99,\n"
           "  sum by (target, le) (rate(wedsync_realtime_broadcast_roundtrip_seconds_bucket"
           "[10m]))\n) > 0.1",
           "warning", "latency", "Realtime broadcasts take longer than 100 ms at p99.",
           "The p99 broadcast round trip on {{ $labels.target }} is "
           "{{ $value | humanizeDuration }} over 10 minutes (objective: 100ms).",
           Timing("15m"), Timing("5m"), component="realtime"),
    _alert("WedSyncRealtimePostgresChangesSlow",
           "histogram_quantile(0.99,\n"
           "  sum by (target, le) (rate(wedsync_realtime_postgres_change_seconds_bucket"
           "[10m]))\n) > 0.1",
           "warning", "latency",
           "Core Fields changes take longer than 100 ms at p99 to reach Realtime subscribers.",
           "The p99 time from the Core Fields probe's write to its postgres_changes event on "
           "{{ $labels.target }} is {{ $value | humanizeDuration }} over 10 minutes "
           "(objective: 100ms); the dashboard's split says whether the database or Realtime "
           "takes it.", Timing("15m"), Timing("5m"), component="realtime"),
    # A security incident, not a latency: critical at once, every day.
    _alert("WedSyncRealtimeRLSLeak",
           "increase(wedsync_realtime_rls_leaks_total[30m]) > 0",
           "critical", "security",
           "Realtime delivered a row to a subscriber whose Row Level Security hides it.",
           "Realtime target {{ $labels.target }} sent the Core Fields probe's second user "
           "{{ $value | printf \"%.0f\" }} change(s) of a row its RLS policy hides, in the last "
           "30 minutes: subscribers may be receiving other couples' Core Fields.",
           Timing("0s"), component="realtime"),
    _alert("WedSyncAuthSlow",
           'avg_over_time(wedsync_probe_duration_seconds{component="auth"}[5m]) > $threshold',
           "warning", "latency", "Supabase Auth answers slowly.",
           "Auth target {{ $labels.target }} took {{ $value | humanizeDuration }} on average "
           "over 5 minutes to answer its health check.",
           Timing("10m", 1.0), Timing("5m", 0.5), component="auth"),
    # The audit counters read 0 whether users are idle or Auth writes no audit log: this says
    # which (the probe's own token calls are missing from the log).
    _alert("WedSyncAuthAuditLogOff",
           "max without (instance) (wedsync_auth_audit_log_writing) == 0",
           "warning", "data", "Supabase Auth writes no audit log, so the audit counters are blind.",
           "The probe user's token calls on Auth target {{ $labels.target }} are missing from "
           "auth.audit_log_entries: Auth's audit log to PostgreSQL is off, and the sign-in and "
           "sign-up counts stay at 0 whatever users do.", Timing("30m"), urgency="later",
           component="auth"),
    _alert("WedSyncTLSCertificateExpiring",
           "min without (instance) (wedsync_tls_certificate_expiry_timestamp_seconds)\n"
           "- time() < 14 * 86400",
           "warning", "security", "A TLS certificate expires within 14 days.",
           "The certificate of {{ $labels.component }} target {{ $labels.target }} expires in "
           "{{ $value | humanizeDuration }}.", Timing("15m"), urgency="later"),
)

# Validation checks that mirror a condition with an alert of its own: a second ticket for the
# same problem would be noise (WedSyncTablesWithoutRLS, the firing alerts themselves,
# WedSyncProbeResultsStale, the config-reload alerts, WedSyncDatabaseArchivingFailing).
OWN_ALERT_CHECKS: tuple[str, ...] = (
    "rls_disabled_in_public", "deploy_critical_alerts_firing", "deploy_probes_stale",
    "exporter_config_reload_failed", "prometheus_config_reload_failed", "wal_archiving_failing")

INGESTION_ALERTS: tuple[Alert, ...] = (
    _alert("WedSyncIngestionRejecting",
           "sum by (reason) (increase(wedsync_ingest_rejected_total[10m])) > 10",
           "warning", "data", "Ingestion rejects request timings.",
           "Ingestion rejected {{ $value | printf \"%.0f\" }} events or requests in 10 minutes "
           "(reason: {{ $labels.reason }}); the SLOs do not see them.",
           Timing("10m"), component="api", urgency="later"),
    _alert("WedSyncIngestionFolding",
           "sum by (label) (increase(wedsync_ingest_folded_total[1h])) > 0",
           "warning", "data", "Ingestion folds label values into other.",
           "{{ $value | printf \"%.0f\" }} events had their {{ $labels.label }} folded into "
           "`other` in the last hour: the label's cap is reached.",
           Timing("15m"), component="api", urgency="later"),
    # The SLO ratios are 0/0 without events and never fire: silence needs its own alert.
    _alert("WedSyncIngestionSilent",
           "(\n  time() - max(wedsync_ingest_last_event_timestamp_seconds) > 600\n"
           "  or on ()\n  absent(wedsync_ingest_last_event_timestamp_seconds)\n)\n"
           'and on ()\nmax(wedsync_up{component="api"}) == 1',
           "warning", "data", "No request timings arrive although the API is up.",
           "The API answers its health check, but ingestion has accepted no request timing "
           "for over 10 minutes: the API SLOs are blind.",
           Timing("15m"), Timing("5m"), component="api"),
    _alert("WedSyncCustomQueryFailing", "wedsync_custom_query_success == 0",
           "warning", "data", "A scheduled SQL query fails.",
           "Query {{ $labels.query }} fails; its metrics are missing (the built-in weddings "
           "query feeds wedding-day mode, which then fails safe to \"wedding day\").",
           Timing("15m"), Timing("5m")),
    _alert("WedSyncArchitectureFindings",
           "sum by (check) (max without (instance) (\n"
           '  wedsync_validation_findings{severity=~"error|critical", '
           f'check!~"{"|".join(OWN_ALERT_CHECKS)}"}}\n)) > 0',
           "warning", "security", "Architecture validation reports errors.",
           "Validation check {{ $labels.check }} reports {{ $value }} findings of severity "
           "error or critical.", Timing("30m"), urgency="later"),
    _alert("WedSyncDeployGateOverridden",
           "increase(wedsync_deploy_gate_overrides_total[1h]) > 0",
           "info", "data", "Someone overrode the wedding-day deploy gate.",
           "The deploy gate was overridden {{ $value | printf \"%.0f\" }} times in the last "
           "hour; the override reason is in the exporter's log.",
           Timing("0s"), urgency="later"),
)


# Every 5 minutes: the 30-day average then reads 8,640 recorded points a component, not the
# 172,800 raw samples a 15 s probe leaves in 30 days. Planned maintenance counts as measured
# here (the exporter's maintenance windows change only the status page).
UPTIME_RECORDINGS: tuple[Recording, ...] = (
    # Planned maintenance counts as neither uptime nor downtime (as on Statuspage): a 5-minute
    # slot that overlaps a window of the component is left out, and the 30-day figure averages
    # the slots that are left. The status page's daily bars leave out such hours the same way.
    Recording(UPTIME_5M, "avg by (component) (avg_over_time(wedsync_up[5m]))\n"
                         "unless on (component)\n"
                         "(max by (component) (max_over_time(wedsync_maintenance_active[5m])) "
                         "== 1)",
              help="Share of successful probes per component over 5 minutes (targets "
                   "averaged); absent for a 5-minute slot that overlaps planned maintenance."),
    Recording(UPTIME_30D, f"avg_over_time({UPTIME_5M}[30d])",
              help="Share of successful probes per component over 30 days, planned "
                   "maintenance left out: the SLA uptime."),
)


# The "down" alerts are evaluated every 5 s instead of the global 15 s: on a wedding day an
# essential component down must page within a minute (docs/alerts.md, "Wedding-day page within
# a minute"), and of the probe-scrape-evaluate chain the evaluation is the one step that costs
# almost nothing to shorten (a handful of comparisons on series already in memory).
DOWN_EVALUATION_INTERVAL = "5s"


def groups() -> tuple[Group, ...]:
    """The component rule groups."""
    return (
        Group("wedsync-components-recordings", recordings=RECORDINGS),
        Group("wedsync-components-down", alerts=tuple(down_alert(c) for c in REGISTRY),
              interval=DOWN_EVALUATION_INTERVAL),
        Group("wedsync-components", alerts=(
            *PROBE_ALERTS, *DATABASE_ALERTS, *REDIS_ALERTS,
            *POOLER_ALERTS, *QUEUE_ALERTS, *SERVICE_ALERTS, *INGESTION_ALERTS)),
    )
