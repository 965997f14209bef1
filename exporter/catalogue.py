"""The metric catalogue: every family the exporter will ever emit, in one place.

Rules, dashboards, docs and the exporter itself read names from here. This module imports
nothing of ours. The values of the ``component`` label are the component registry's
(``exporter.components``). Families that a later part of the exporter fills are declared
already (with ``produced=False``) so that rules and dashboards can be written against them.

Names are the exposed names: counters end in ``_total``; a histogram ``x`` is exposed as
``x_bucket``, ``x_sum`` and ``x_count``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["gauge", "counter", "histogram"]

FAILURE_REASONS: tuple[str, ...] = ("timeout", "connect", "auth", "protocol", "refused", "error")
STATUSES: tuple[str, ...] = ("healthy", "degraded", "critical")
STATUS_CLASSES: tuple[str, ...] = ("1xx", "2xx", "3xx", "4xx", "5xx")
WEDDING_WINDOWS: tuple[str, ...] = ("today", "tomorrow", "next_7d", "next_saturday",
                                     "last_saturday")
CACHE_LAYERS: tuple[str, ...] = ("application", "redis", "cdn")
CACHE_RESULTS: tuple[str, ...] = ("hit", "miss")
QUEUE_STATES: tuple[str, ...] = (
    "waiting", "active", "delayed", "prioritized", "failed", "completed", "paused",
)
# The parts of the postgres_changes round trip (wedsync_realtime_postgres_change_stage_seconds).
POSTGRES_CHANGE_STAGES: tuple[str, ...] = ("commit", "delivery")
QUERY_DISABLED_REASONS: tuple[str, ...] = ("missing_table", "missing_column", "mapping")
# Why the exporter's HTTP server refused a request (every 4xx answer) or closed a connection.
HTTP_REFUSAL_REASONS: tuple[str, ...] = (
    "bad_request", "invalid_json", "invalid_body", "invalid_events", "invalid_charset",
    "content_encoding", "bad_compressed_body", "compression_ratio",
    "body_too_large", "body_timeout", "unauthorized", "forbidden", "not_found",
    "method_not_allowed", "conflict", "length_required", "unsupported_media_type",
    "rate_limited", "malformed_request", "other",
)
HTTP_CONNECTION_CLOSE_REASONS: tuple[str, ...] = (
    "header_timeout", "idle_timeout", "connection_limit",
)
# wedsync_http_tarpit_total: refusals beyond a client's budget (exporter/web/tarpit.py).
HTTP_TARPIT_OUTCOMES: tuple[str, ...] = ("delayed", "closed")
HTTP_METHODS: tuple[str, ...] = (
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other",
)

# Latency buckets that include the SLO thresholds (0.05, 0.1, 0.2, 0.5, 1, 2.5 are pinned).
REQUEST_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0,
)
ROUNDTRIP_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0,
)


@dataclass(frozen=True)
class Family:
    """One metric family: its exposed name, type, labels and meaning."""

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    unit: str = ""
    buckets: tuple[float, ...] = ()
    produced: bool = True
    source: str = "exporter"

    @property
    def base_name(self) -> str:
        """The name without ``_total``: what prometheus-client wants for a counter."""
        if self.kind == "counter" and self.name.endswith("_total"):
            return self.name[: -len("_total")]
        return self.name

    @property
    def exposed_names(self) -> tuple[str, ...]:
        """Every sample name this family puts on /metrics."""
        if self.kind == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        if self.kind == "counter":
            # prometheus-client also exposes a `_created` sample; we switch that off.
            return (self.name,)
        return (self.name,)


def _g(name: str, help_: str, labels: tuple[str, ...] = (), unit: str = "", **kw: object) -> Family:
    return Family(name=name, kind="gauge", help=help_, labels=labels, unit=unit, **kw)  # type: ignore[arg-type]


def _c(name: str, help_: str, labels: tuple[str, ...] = (), unit: str = "", **kw: object) -> Family:
    return Family(name=name, kind="counter", help=help_, labels=labels, unit=unit, **kw)  # type: ignore[arg-type]


def _h(name: str, help_: str, labels: tuple[str, ...], buckets: tuple[float, ...],
       **kw: object) -> Family:
    return Family(name=name, kind="histogram", help=help_, labels=labels, unit="seconds",
                  buckets=buckets, **kw)  # type: ignore[arg-type]


CACHED = " Cached: measured by a background probe, not at scrape time."
CT = ("component", "target")

FAMILIES: tuple[Family, ...] = (
    # --- every probe -------------------------------------------------------------------
    _g("wedsync_up", "1 if the last probe of the target succeeded, else 0." + CACHED, CT),
    _g("wedsync_probe_duration_seconds", "Duration of the last probe of the target." + CACHED,
       CT, "seconds"),
    _g("wedsync_probe_last_success_timestamp_seconds",
       "Unix time of the last successful probe of the target; staleness is "
       "time() minus this.", CT, "seconds"),
    _c("wedsync_probe_failures_total",
       "Failed probes by reason (timeout, connect, auth, protocol, refused, error).",
       (*CT, "reason")),
    _c("wedsync_probe_runs_total", "Probe runs started.", CT),
    _c("wedsync_probe_overruns_total",
       "Probe runs skipped because the previous run of the same target was still going.", CT),
    _g("wedsync_component_status",
       "1 for the target's current status (healthy, degraded, critical), 0 for the others."
       + CACHED, (*CT, "status")),
    _g("wedsync_component_monitored",
       "1 if the component has at least one configured target, 0 if nobody monitors it; "
       "essential says whether it counts toward the overall status.",
       ("component", "essential")),
    _g("wedsync_probe_http_status_code",
       "HTTP status code of the last probe of an HTTP target." + CACHED, CT),
    _g("wedsync_tls_certificate_expiry_timestamp_seconds",
       "Unix time when the TLS certificate of an https target expires.", CT, "seconds"),
    # --- database ------------------------------------------------------------------------
    _h("wedsync_db_roundtrip_seconds",
       "Round trip of the database probe's `SELECT 1` (the database query-time SLI).",
       ("target",), ROUNDTRIP_BUCKETS),
    _g("wedsync_db_connections", "Server connections by state." + CACHED,
       ("target", "state")),
    _g("wedsync_db_max_connections", "The server's max_connections setting.", ("target",)),
    _c("wedsync_db_xact_commit_total", "Committed transactions in the database (raw counter).",
       ("target",)),
    _c("wedsync_db_xact_rollback_total",
       "Rolled-back transactions in the database (raw counter).", ("target",)),
    _c("wedsync_db_deadlocks_total", "Deadlocks detected in the database (raw counter).",
       ("target",)),
    _c("wedsync_db_blocks_hit_total", "Buffer cache hits in the database (raw counter).",
       ("target",)),
    _c("wedsync_db_blocks_read_total", "Disk blocks read in the database (raw counter).",
       ("target",)),
    _g("wedsync_db_longest_transaction_seconds",
       "Age of the oldest open transaction (0 when none is open)." + CACHED, ("target",),
       "seconds"),
    _g("wedsync_db_in_recovery", "1 if the server is a replica (in recovery), else 0.",
       ("target",)),
    _g("wedsync_db_replicas", "Replicas streaming from this server.", ("target",)),
    _g("wedsync_db_replication_lag_seconds",
       "Replication lag: on a replica the age of the last replayed transaction, on a "
       "primary the largest replay lag of its replicas. Absent where no replication runs.",
       ("target",), "seconds"),
    _g("wedsync_db_size_bytes", "Size of the probed database.", ("target",), "bytes"),
    _g("wedsync_db_stat_statements_available",
       "1 if pg_stat_statements can be read, else 0.", ("target",)),
    _g("wedsync_db_slow_statements",
       "Statements in pg_stat_statements whose mean time is above the configured "
       "threshold.", ("target",)),
    _g("wedsync_db_tables_without_rls",
       "Tables in an API-exposed schema with Row Level Security disabled.",
       ("target", "schema")),
    _g("wedsync_db_wal_archiving_enabled",
       "1 if the server archives WAL (archive_mode on on a primary, or always), else 0.",
       ("target",)),
    _c("wedsync_db_wal_archived_total",
       "WAL segments archived since the archiver's statistics were reset (raw counter).",
       ("target",)),
    _c("wedsync_db_wal_archive_failures_total",
       "Failed WAL archive attempts since the archiver's statistics were reset (raw counter).",
       ("target",)),
    _g("wedsync_db_wal_archive_failing",
       "1 if the archiver's last attempt failed (no success since the last failure), else 0.",
       ("target",)),
    _g("wedsync_db_wal_last_archived_timestamp_seconds",
       "Unix time the last WAL segment was archived (absent until one was).", ("target",),
       "seconds"),
    _g("wedsync_db_wal_archive_pending_segments",
       "Finished WAL segments waiting for the archiver (absent without pg_monitor).",
       ("target",)),
    _g("wedsync_db_wal_archive_oldest_pending_seconds",
       "Age of the oldest WAL segment waiting for the archiver, 0 when none waits (absent "
       "without pg_monitor).", ("target",), "seconds"),
    # --- redis ---------------------------------------------------------------------------
    _g("wedsync_redis_ping_seconds", "Round trip of the Redis PING." + CACHED, ("target",),
       "seconds"),
    _g("wedsync_redis_memory_used_bytes", "Memory used by Redis.", ("target",), "bytes"),
    _g("wedsync_redis_memory_max_bytes",
       "Redis maxmemory (0 means no limit). Absent where CONFIG and INFO do not tell.",
       ("target",), "bytes"),
    _c("wedsync_redis_keyspace_hits_total", "Successful key lookups (raw counter).",
       ("target",)),
    _c("wedsync_redis_keyspace_misses_total", "Failed key lookups (raw counter).",
       ("target",)),
    _c("wedsync_redis_evicted_keys_total", "Keys evicted for maxmemory (raw counter).",
       ("target",)),
    _c("wedsync_redis_expired_keys_total", "Keys expired (raw counter).", ("target",)),
    _g("wedsync_redis_connected_clients", "Clients connected to Redis.", ("target",)),
    _g("wedsync_redis_blocked_clients", "Clients blocked in a blocking call.", ("target",)),
    _c("wedsync_redis_rejected_connections_total",
       "Connections refused for maxclients (raw counter).", ("target",)),
    _c("wedsync_redis_commands_processed_total", "Commands processed (raw counter).",
       ("target",)),
    _g("wedsync_redis_role", "1 for the server's replication role (master, replica).",
       ("target", "role")),
    _g("wedsync_redis_master_link_up",
       "On a replica, 1 if the link to its master is up, else 0.", ("target",)),
    _g("wedsync_redis_connected_replicas", "Replicas connected to this Redis.", ("target",)),
    _g("wedsync_redis_keys", "Keys per Redis database (INFO keyspace)." + CACHED,
       ("target", "db")),
    _g("wedsync_redis_expiring_keys",
       "Keys with an expiry set, per Redis database (INFO keyspace)." + CACHED,
       ("target", "db")),
    # --- pooler (PgBouncer admin console) --------------------------------------------------
    _g("wedsync_pooler_clients",
       "Client connections to the pooler by state: active (linked to a server connection or "
       "idle) or waiting for one; summed over the database's user pools." + CACHED,
       ("target", "database", "state")),
    _g("wedsync_pooler_server_connections",
       "The pooler's server connections by state (active, idle, used, tested, login), summed "
       "over the database's user pools." + CACHED, ("target", "database", "state")),
    _g("wedsync_pooler_max_wait_seconds",
       "How long the longest-waiting client of the database has waited for a server "
       "connection." + CACHED, ("target", "database"), "seconds"),
    _g("wedsync_pooler_pool_size",
       "Server connections the database's pools may open: pool_size for each user pool (at "
       "least one), capped by max_db_connections.", ("target", "database")),
    _g("wedsync_pooler_max_client_connections", "The pooler's max_client_conn setting.",
       ("target",)),
    _c("wedsync_pooler_transactions_total",
       "Transactions the pooler has carried for the database (raw counter).",
       ("target", "database")),
    _c("wedsync_pooler_queries_total",
       "Queries the pooler has carried for the database (raw counter).",
       ("target", "database")),
    _c("wedsync_pooler_client_wait_seconds_total",
       "Time clients of the database spent waiting for a server connection (raw counter).",
       ("target", "database"), "seconds"),
    _g("wedsync_pooler_databases_folded",
       "Pooled databases whose series are folded into database=\"other\" (not configured, "
       "or beyond the cap).", ("target",)),
    # --- queues (BullMQ, Bull v3) ----------------------------------------------------------
    _g("wedsync_queue_jobs",
       "Jobs in the queue by state: waiting, active, delayed, prioritized, failed, completed, "
       "and paused (held by a paused queue)." + CACHED, ("target", "queue", "state")),
    _g("wedsync_queue_paused", "1 while the queue is paused, else 0." + CACHED,
       ("target", "queue")),
    _g("wedsync_queue_oldest_waiting_age_seconds",
       "How long the oldest waiting job has been ready to run (since its timestamp plus its "
       "delay); 0 when none waits." + CACHED, ("target", "queue"), "seconds"),
    _g("wedsync_queues_skipped",
       "Queues found by discovery but left out because the target already watches "
       "max_queues.", ("target",)),
    # --- auth ----------------------------------------------------------------------------
    _g("wedsync_auth_signin_duration_seconds",
       "Duration of the probe user's last token call: the refresh-token grant, or the password "
       "sign-in when it had no session." + CACHED, ("target",), "seconds"),
    _c("wedsync_auth_audit_events_total",
       "Supabase Auth audit-log actions (login, user_signedup, token_refreshed, ...) counted "
       "from auth.audit_log_entries, the probe user's own left out.", ("target", "action")),
    _g("wedsync_auth_audit_log_writing",
       "1 while the probe user's token calls show up in auth.audit_log_entries, 0 when two or "
       "more went by without a row (Auth's audit log to PostgreSQL is off); absent without a "
       "synthetic sign-in.", ("target",)),
    # --- realtime ------------------------------------------------------------------------
    _h("wedsync_realtime_broadcast_roundtrip_seconds",
       "Time from sending a broadcast on a Realtime channel to receiving its own echo.",
       ("target",), ROUNDTRIP_BUCKETS),
    _g("wedsync_realtime_broadcast_ack_seconds",
       "Time from sending a broadcast to the server's acknowledgement." + CACHED,
       ("target",), "seconds"),
    _g("wedsync_realtime_connect_duration_seconds",
       "Time to open the Realtime WebSocket." + CACHED, ("target",), "seconds"),
    _g("wedsync_realtime_join_duration_seconds",
       "Time from phx_join to its reply." + CACHED, ("target",), "seconds"),
    # The Core Fields path end to end (optional, per Realtime target: docs/core-fields-probe.md).
    _h("wedsync_realtime_postgres_change_seconds",
       "Time from the probe's write to a Core Fields probe table until its postgres_changes "
       "event reaches the probe's Realtime subscription (the Core Fields SLI where configured).",
       ("target",), ROUNDTRIP_BUCKETS),
    _h("wedsync_realtime_postgres_change_stage_seconds",
       "The postgres_changes round trip split at the change's commit_timestamp: stage commit "
       "(write sent to commit) and delivery (commit to the event at the probe: WAL decoding, "
       "RLS check, delivery). Not recorded when the clocks disagree.",
       ("target", "stage"), ROUNDTRIP_BUCKETS),
    _c("wedsync_realtime_clock_skew_total",
       "postgres_changes events whose commit_timestamp put a stage below zero (the "
       "database's and the exporter's clocks disagree); their split is not "
       "recorded.", ("target",)),
    _c("wedsync_realtime_rls_leaks_total",
       "postgres_changes events delivered to the probe's second user, whose Row Level "
       "Security policy hides the changed row: Realtime leaked a row.", ("target",)),
    # --- ingestion -----------------------------------------------------------------------
    _h("wedsync_http_request_duration_seconds",
       "API request timings received by ingestion (normalised route).",
       ("route", "method", "status_class"), REQUEST_BUCKETS),
    _c("wedsync_ingest_events_total", "Ingested request-timing events by result.",
       ("result",)),
    _c("wedsync_ingest_rejected_total", "Ingested events or requests rejected, by reason.",
       ("reason",)),
    _c("wedsync_ingest_folded_total",
       "Ingested events whose label value was folded into `other` by a cap, by label.",
       ("label",)),
    _c("wedsync_cache_requests_total",
       "Cache lookups the application reported through ingestion, by layer (application, "
       "redis, cdn) and result (hit, miss).", ("layer", "result")),
    _g("wedsync_ingest_last_event_timestamp_seconds",
       "Unix time of the last accepted request-timing event.", (), "seconds"),
    _g("wedsync_ingest_tail_last_row_timestamp_seconds",
       "created_at of the last performance_logs row read by the tailer.", (), "seconds"),
    _g("wedsync_ingest_tail_last_run_success",
       "1 if the last pass over performance_logs succeeded, else 0 (absent when not tailing)."),
    _g("wedsync_ingest_tail_lease_held",
       "1 if this replica holds the performance_logs tailer's lease in the shared state (only "
       "the holder tails), else 0; absent without shared state."),
    # --- shared state (several replicas) -------------------------------------------------
    _g("wedsync_shared_state_up",
       "1 if the shared-state Redis answered this replica's last check, 0 if the replica is "
       "running on what it knows (its own memory); absent without shared state."),
    # --- validation ----------------------------------------------------------------------
    _g("wedsync_validation_findings", "Architecture validation findings by check and severity.",
       ("check", "severity")),
    _g("wedsync_validation_last_run_timestamp_seconds",
       "Unix time of the last background architecture validation.", (), "seconds"),
    _g("wedsync_validation_last_run_success",
       "1 if the last background architecture validation ran to completion.", ()),
    # --- weddings and queries ------------------------------------------------------------
    _g("wedsync_weddings",
       "Weddings dated in the window (today, tomorrow, next_7d = today and the 6 days after, "
       "next_saturday = the first Saturday after today, last_saturday = the last Saturday "
       "before today) in the platform's time zone." + CACHED, ("window",)),
    _g("wedsync_wedding_day",
       "1 on a wedding day (a Saturday, or a day with weddings, in the platform's time zone), "
       "else 0. Absent when it cannot be known (fail safe: rules treat absence as 1)."),
    _g("wedsync_maintenance_active",
       "1 while a planned maintenance window (config `maintenance`) covers the component, else "
       "0. Only the uptime figures read it: it silences no alert.", ("component",)),
    _g("wedsync_custom_query_success",
       "1 if the named SQL query last ran without error, else 0.", ("query",)),
    _g("wedsync_custom_query_duration_seconds", "Duration of the named query's last run.",
       ("query",), "seconds"),
    _g("wedsync_custom_query_last_success_timestamp_seconds",
       "Unix time of the named query's last successful run.", ("query",), "seconds"),
    _g("wedsync_custom_query_disabled",
       "1 for the reason the named query turned itself off until the next reload "
       "(missing_table, missing_column, mapping), 0 for the others.", ("query", "reason")),
    _c("wedsync_custom_query_folded_total",
       "Result rows of the named query whose label value was folded into `other` by the "
       "label's cap.", ("query", "label")),
    _g("wedsync_core_field_updates",
       "Core Fields whose last change falls in the window (5m, 1h) before the exporter's "
       "clock." + CACHED, ("window",)),
    _c("wedsync_form_submissions_total",
       "Forms couples have submitted (all time; a raw count of rows)."),
    _g("wedsync_active_suppliers",
       "Suppliers with an accepted invitation from a couple whose wedding is in the next 7 "
       "days (today and the 6 days after, platform time zone), or who joined in the last 30 "
       "days." + CACHED),
    _g("wedsync_active_couples",
       "Couples with a wedding from today on (platform time zone)." + CACHED),
    _c("wedsync_supplier_invitations_sent_total",
       "Supplier invitations sent (all time; a raw count of rows)."),
    _c("wedsync_supplier_invitations_accepted_total",
       "Supplier invitations accepted (all time; a raw count of rows)."),
    # --- deploy gate ---------------------------------------------------------------------
    _c("wedsync_deploy_gate_checks_total", "Deploy-gate answers by result (allowed, blocked).",
       ("result",)),
    _c("wedsync_deploy_gate_overrides_total", "Emergency overrides of the deploy gate."),
    # --- the exporter itself -------------------------------------------------------------
    _g("wedsync_build_info", "Always 1; the version label says which build runs.",
       ("version",)),
    _g("wedsync_event_loop_lag_seconds",
       "How late the exporter's event loop ran a timer that should have fired on time.",
       (), "seconds"),
    _g("wedsync_metrics_render_duration_seconds",
       "Time the last rendering of /metrics took (done in the background, not per scrape).",
       (), "seconds"),
    _g("wedsync_config_last_reload_successful",
       "1 if the last configuration (re)load succeeded, 0 if a bad config was refused."),
    _g("wedsync_config_last_reload_success_timestamp_seconds",
       "Unix time of the last successful configuration load.", (), "seconds"),
    _c("wedsync_http_rate_limited_total", "Requests answered 429, by route.", ("route",)),
    _c("wedsync_http_unauthorized_total", "Requests answered 401 or 403, by route.",
       ("route",)),
    _c("wedsync_http_refused_requests_total",
       "Requests the exporter's HTTP server answered with a 4xx (other than the deploy gate's "
       "423), by reason.", ("reason",)),
    _c("wedsync_http_connections_closed_total",
       "Client connections the exporter closed itself: header_timeout (no complete request "
       "in time), idle_timeout (keep-alive unused), connection_limit (at the cap).",
       ("reason",)),
    _g("wedsync_http_connections", "Client connections open to the exporter's HTTP server."),
    _c("wedsync_http_tarpit_total",
       "Refusals beyond a client address's budget (server.refusals_per_second): delayed "
       "(answered after server.tarpit_seconds, the connection closed after) or closed "
       "(server.tarpit_max were held already: closed without an answer).", ("outcome",)),
    _g("wedsync_http_tarpit_held", "Refusals being held in the tarpit now."),
)

BY_NAME: dict[str, Family] = {f.name: f for f in FAMILIES}

# Catalogue families that a configured SQL query may fill (the wedding pack fills them; an
# SRE's own query may fill one instead, with the same type and labels). Every other name a
# query maps a column to must be new: see docs/queries.md for the naming rule.
QUERY_FILLED_FAMILIES: frozenset[str] = frozenset({
    "wedsync_weddings", "wedsync_core_field_updates", "wedsync_form_submissions_total",
    "wedsync_active_suppliers", "wedsync_active_couples",
    "wedsync_supplier_invitations_sent_total", "wedsync_supplier_invitations_accepted_total",
})


def family(name: str) -> Family:
    """The catalogue entry for ``name`` (KeyError names the unknown family)."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"{name} is not in the metric catalogue") from None


def exposed_metric_names() -> frozenset[str]:
    """Every sample name the exporter may expose, for lints of rules and dashboards."""
    return frozenset(n for f in FAMILIES for n in f.exposed_names)
