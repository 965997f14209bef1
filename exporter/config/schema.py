"""The JSON Schema of the exporter's configuration file (the documented contract).

Every object is strict (unknown keys are errors). ``x-secret`` marks values that may come only
from an environment reference or a ``*_file`` path: ``true`` for tokens and keys, ``"password"``
for URLs that are secret only when they carry a password.
"""

from __future__ import annotations

from typing import Any

from exporter.catalogue import COMPONENTS
from exporter.durations import DURATION_PATTERN
from exporter.queries.naming import LABEL_NAME_PATTERN, METRIC_NAME_PATTERN
from exporter.queries.pack import BUILTIN_NAMES

Schema = dict[str, Any]


def duration(description: str, default: str | None = None) -> Schema:
    out: Schema = {"type": "string", "pattern": DURATION_PATTERN, "description": description}
    if default is not None:
        out["default"] = default
    return out


def strict(properties: Schema, description: str, required: tuple[str, ...] = ()) -> Schema:
    out: Schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        "description": description,
    }
    if required:
        out["required"] = list(required)
    return out


def secret(description: str, kind: bool | str = True) -> Schema:
    return {"type": "string", "description": description, "x-secret": kind}


def file_path(description: str) -> Schema:
    return {"type": "string", "minLength": 1, "description": description}


NAME: Schema = {
    "type": "string",
    "pattern": "^[a-z0-9][a-z0-9_-]{0,62}$",
    "description": "Target name, used as the `target` label (lower case, digits, _ and -).",
}
RATE: Schema = {
    "type": "string",
    "pattern": "^[0-9]+ ?/ ?(second|minute|hour)$",
    "description": "A rate limit such as `60/minute`, per token and client address.",
}
THRESHOLDS = strict(
    {
        "degraded": duration("Latency above which the target is degraded."),
        "critical": duration("Latency above which the target is critical (as if down)."),
    },
    "Latency thresholds that turn a successful probe degraded or critical.",
)
TIMING: Schema = {
    "interval": duration("How often to probe (default: probe_defaults.interval)."),
    "timeout": duration("Hard timeout of one probe run (default: probe_defaults.timeout)."),
    "thresholds": THRESHOLDS,
}


def target_list(properties: Schema, description: str, required: tuple[str, ...]) -> Schema:
    return {
        "type": "array",
        "description": description,
        "items": strict({"name": NAME, **TIMING, **properties}, description, ("name", *required)),
    }


HTTP_TARGET: Schema = {
    "url": {"type": "string", "description": "URL to request; empty turns the target off."},
    "method": {"type": "string", "enum": ["GET", "HEAD", "POST"], "default": "GET",
               "description": "HTTP method."},
    "expected_status": {
        "type": "array", "items": {"type": "integer", "minimum": 100, "maximum": 599},
        "minItems": 1, "description": "Status codes that count as success (default [200]).",
    },
    "json_field": strict(
        {
            "path": {"type": "string", "minLength": 1,
                     "description": "Dotted path into the JSON answer, e.g. `status`."},
            "equals": {"description": "The value the field must have."},
        },
        "Optional check of one field of a JSON answer.",
        ("path", "equals"),
    ),
    "headers": {
        "type": "object",
        "additionalProperties": {"type": "string"},
        "description": "Extra request headers; take secret values from ${VAR} references.",
    },
    "tls_verify": {"type": "boolean", "default": True,
                   "description": "Verify the TLS certificate of https targets."},
    "ca_file": file_path("PEM file of the CA(s) to trust for this target instead of the "
                         "system's (a private CA)."),
}

CONFIG_SCHEMA: Schema = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "WedSync exporter configuration",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "timezone": {"type": "string", "default": "Europe/London",
                     "description": "The platform's IANA time zone (wedding days, windows)."},
        "listen": {"type": "string", "pattern": r"^(\[[0-9a-fA-F:]+\]|[^:\s]*):[0-9]{1,5}$",
                   "default": "0.0.0.0:9847",
                   "description": "HOST:PORT to serve on; --listen overrides."},
        "log": strict(
            {
                "level": {"type": "string", "enum": ["debug", "info", "warning", "error"],
                          "default": "info", "description": "Lowest level logged."},
                "format": {"type": "string", "enum": ["logfmt", "json"], "default": "logfmt",
                           "description": "One line per event, logfmt or JSON."},
            },
            "Logging.",
        ),
        "probe_defaults": strict(
            {
                "interval": duration("Default probe interval.", "15s"),
                "timeout": duration("Default hard timeout of a probe run.", "5s"),
            },
            "Defaults for every probe target.",
        ),
        "tokens": strict(
            {
                **{kind: secret(f"The {kind} bearer token (a ${{VAR}} reference).")
                   for kind in ("admin", "ingest", "deploy")},
                **{f"{kind}_file": file_path(f"File holding the {kind} token.")
                   for kind in ("admin", "ingest", "deploy")},
            },
            "Bearer tokens; an empty one means the endpoints that need it answer 401.",
        ),
        "rate_limits": strict(
            {
                "health": RATE, "ingestion": RATE, "validation": RATE,
                "deploy_gate": RATE, "reload": RATE,
            },
            "Per token and client address (defaults: health 60/minute, ingestion 100/minute, "
            "validation 10/minute, deploy_gate 60/minute, reload 10/minute).",
        ),
        "components": strict(
            {
                "essential": {
                    "type": "array", "items": {"enum": list(COMPONENTS)}, "uniqueItems": True,
                    "description": "Components whose status makes overall_status "
                                   "(default: database, auth, realtime, redis, api).",
                },
            },
            "How components count toward overall_status.",
        ),
        "database": target_list(
            {
                "dsn": secret("libpq connection URL; a password in it must come from a "
                              "reference or dsn_file. Empty turns the target off.", "password"),
                "dsn_file": file_path("File holding the connection URL."),
                "statement_timeout": duration("statement_timeout set on every probe query.",
                                              "2s"),
                "pool_size": {"type": "integer", "minimum": 1, "maximum": 10, "default": 2,
                              "description": "Connections kept for probing and queries."},
                "exposed_schemas": {"type": "array", "items": {"type": "string"},
                                    "default": ["public"],
                                    "description": "Schemas the API exposes (RLS checks)."},
                "slow_statement_threshold": duration(
                    "Mean time above which a pg_stat_statements entry counts as slow.",
                    "500ms"),
            },
            "PostgreSQL targets (primary, replicas).",
            (),
        ),
        "redis": target_list(
            {
                "url": secret("redis:// or rediss:// URL; a password in it must come from a "
                              "reference or url_file. Empty turns the target off.", "password"),
                "url_file": file_path("File holding the Redis URL."),
            },
            "Redis targets (cache, queue).",
            (),
        ),
        "auth": target_list(
            {
                "url": {"type": "string",
                        "description": "Auth base URL, e.g. https://<ref>.supabase.co/auth/v1; "
                                       "the probe calls {url}/health. Empty turns it off."},
                "anon_key": secret("Anon key, sent as the apikey header."),
                "anon_key_file": file_path("File holding the anon key."),
                "sign_in": strict(
                    {
                        "enabled": {"type": "boolean", "default": False,
                                    "description": "Run a synthetic password sign-in."},
                        "email": {"type": "string", "description": "The probe user's email."},
                        "email_file": file_path("File holding the probe user's email."),
                        "password": secret("The probe user's password."),
                        "password_file": file_path("File holding the probe user's password."),
                    },
                    "Synthetic sign-in with a dedicated probe user (off by default).",
                ),
                "audit_log": strict(
                    {
                        "enabled": {"type": "boolean", "default": False,
                                    "description": "Count auth.audit_log_entries actions."},
                        "database": {"type": "string",
                                     "description": "Name of the database target to read "
                                                    "(default: the first)."},
                        "interval": duration("How often to count new entries.", "60s"),
                    },
                    "Counts of recent Auth audit-log actions (off by default).",
                ),
            },
            "Supabase Auth (GoTrue) targets.",
            (),
        ),
        "realtime": target_list(
            {
                "url": {"type": "string",
                        "description": "Realtime base URL, e.g. wss://<ref>.supabase.co/"
                                       "realtime/v1; the probe opens {url}/websocket. Empty "
                                       "turns it off."},
                "anon_key": secret("Anon key, sent as the apikey query parameter."),
                "anon_key_file": file_path("File holding the anon key."),
                "channel": {"type": "string", "default": "wedsync-probe",
                            "description": "Channel the probe joins (topic realtime:<channel>)."},
                "access_token": secret("Optional user JWT sent with phx_join."),
                "access_token_file": file_path("File holding the user JWT."),
            },
            "Supabase Realtime targets.",
            (),
        ),
        "api": target_list(HTTP_TARGET, "Health URLs of the WedSync API.", ()),
        "external": target_list(HTTP_TARGET, "External services (payments, email, ...).", ()),
        "pooler": target_list(
            {
                "url": secret("libpq URL of the PgBouncer admin console (database `pgbouncer`, "
                              "a role in PgBouncer's stats_users); a password in it must come "
                              "from a reference or url_file. Empty turns the target off.",
                              "password"),
                "url_file": file_path("File holding the admin-console URL."),
                "databases": {"type": "array", "items": {"type": "string", "minLength": 1},
                              "uniqueItems": True,
                              "description": "Pooled databases that keep their own `database` "
                                             "label; the others fold into `other`. Empty: the "
                                             "first max_databases by name keep theirs."},
                "max_databases": {"type": "integer", "minimum": 1, "maximum": 500,
                                  "default": 20,
                                  "description": "Cap on `database` label values when "
                                                 "`databases` is empty."},
            },
            "Connection poolers (PgBouncer) read through their admin console.",
            (),
        ),
        "queues": target_list(
            {
                "url": secret("redis:// or rediss:// URL of the Redis that holds the queues; a "
                              "password in it must come from a reference or url_file. Empty "
                              "turns the target off.", "password"),
                "url_file": file_path("File holding the Redis URL."),
                "prefix": {"type": "string", "pattern": "^[^:\\s]+$", "default": "bull",
                           "description": "Key prefix of the BullMQ or Bull v3 queues."},
                "names": {
                    "description": "Queue names to watch: a list, or one comma-separated "
                                   "string (so that a ${VAR} can hold them). Empty with "
                                   "discovery off turns the target off.",
                    "oneOf": [{"type": "array", "items": {"type": "string",
                                                          "pattern": "^[^:,\\s]+$"}},
                              {"type": "string", "pattern": "^[^:]*$"}],
                },
                "discovery": strict(
                    {
                        "enabled": {"type": "boolean", "default": False,
                                    "description": "Find queues by SCAN as well."},
                        "scan_calls": {"type": "integer", "minimum": 1, "maximum": 100,
                                       "default": 10,
                                       "description": "SCAN calls per probe run at most; a "
                                                      "pass resumes where the last run "
                                                      "stopped."},
                        "scan_count": {"type": "integer", "minimum": 10, "maximum": 10000,
                                       "default": 1000,
                                       "description": "COUNT hint of each SCAN call."},
                    },
                    "Queue discovery by a bounded SCAN for `<prefix>:*:id` and `:meta` keys.",
                ),
                "max_queues": {"type": "integer", "minimum": 1, "maximum": 1000,
                               "default": 100,
                               "description": "Queues watched at most (named ones first); "
                                              "the rest are counted in "
                                              "wedsync_queues_skipped."},
            },
            "BullMQ or Bull v3 job queues in Redis.",
            (),
        ),
        "queries": {
            "type": "object",
            "description": "Named SQL queries, each run on its own schedule (never on a scrape) "
                           "in a read-only transaction with a statement_timeout and a row "
                           "limit. Either `builtin` (a query of the wedding pack) or `sql` "
                           "with `metrics` (and `labels`). See docs/queries.md.",
            "propertyNames": {"pattern": "^[a-z][a-z0-9_]{0,62}$"},
            "additionalProperties": strict(
                {
                    "builtin": {"enum": list(BUILTIN_NAMES),
                                "description": "Use a query of the wedding pack instead of "
                                               "sql (its interval, timeout, database and "
                                               "enabled may still be set)."},
                    "enabled": {"type": "boolean", "default": True,
                                "description": "Run this query."},
                    "database": {"type": "string",
                                 "description": "Name of the database target to run on "
                                                "(default: the first)."},
                    "interval": duration("How often to run it (default 60s).", "60s"),
                    "timeout": duration("statement_timeout of the query; also the longest "
                                        "wait for a free connection.", "5s"),
                    "sql": {"type": "string", "minLength": 1,
                            "description": "One SELECT (or WITH ... SELECT) statement; "
                                           "parameters as %(now)s, %(today)s, "
                                           "%(today_start)s, %(tomorrow_start)s, "
                                           "%(timezone)s; a literal % as %%."},
                    "max_rows": {"type": "integer", "minimum": 1, "maximum": 100000,
                                 "default": 1000,
                                 "description": "A result with more rows fails the run."},
                    "metrics": {
                        "type": "object",
                        "minProperties": 1,
                        "description": "Result columns that become metrics, by column name.",
                        "propertyNames": {"minLength": 1},
                        "additionalProperties": strict(
                            {
                                "name": {"type": "string", "pattern": METRIC_NAME_PATTERN,
                                         "description": "Family name: wedsync_ prefix; "
                                                        "counters end in _total."},
                                "type": {"enum": ["gauge", "counter"],
                                         "description": "gauge, or counter for a raw count "
                                                        "that only grows."},
                                "help": {"type": "string", "minLength": 1,
                                         "description": "HELP text (families not in the "
                                                        "catalogue only)."},
                                "unit": {"type": "string", "pattern": "^[a-z]+$",
                                         "description": "Base unit (seconds, bytes, ...); "
                                                        "the name must end with it."},
                            },
                            "One metric column.",
                            ("name", "type"),
                        ),
                    },
                    "labels": {
                        "type": "object",
                        "description": "Result columns that become labels of every metric of "
                                       "the query, by column name.",
                        "propertyNames": {"minLength": 1},
                        "additionalProperties": strict(
                            {
                                "name": {"type": "string", "pattern": LABEL_NAME_PATTERN,
                                         "description": "Label name (default: the column "
                                                        "name)."},
                                "cap": {"type": "integer", "minimum": 1, "maximum": 10000,
                                        "description": "Distinct values kept; later ones "
                                                       "fold into `other`."},
                            },
                            "One label column; every label needs a cap.",
                            ("cap",),
                        ),
                    },
                },
                "One named query.",
            ),
        },
        "ingestion": strict(
            {
                "enabled": {"type": "boolean", "default": True,
                            "description": "Accept POST /api/system/metrics."},
                "max_body_bytes": {"type": "integer", "minimum": 1024, "default": 2097152,
                                   "description": "Largest request body (413 above)."},
                "max_events": {"type": "integer", "minimum": 1, "default": 5000,
                               "description": "Most events in one request (413 above)."},
                "route_templates": {"type": "array", "items": {"type": "string"},
                                    "description": "Route templates tried first, e.g. "
                                                   "/api/clients/:id."},
                "label_caps": strict(
                    {"route": {"type": "integer", "minimum": 1, "default": 500,
                               "description": "Distinct routes before folding into other."},
                     "series": {"type": "integer", "minimum": 1, "default": 2000,
                                "description": "Distinct route x method x status_class "
                                               "series before new ones fold their route "
                                               "into other (keeps /metrics bounded)."}},
                    "Caps on distinct label values (methods and status classes are a fixed "
                    "set).",
                ),
                "performance_logs": strict(
                    {
                        "enabled": {"type": "boolean", "default": False,
                                    "description": "Tail the performance_logs table."},
                        "database": {"type": "string",
                                     "description": "Database target holding the table."},
                        "interval": duration("How often to read new rows.", "5s"),
                        "batch_size": {"type": "integer", "minimum": 1, "default": 5000,
                                       "description": "Most rows read per query."},
                        "settle": duration("Margin for created_at values set by application "
                                           "clocks rather than by the inserting "
                                           "transaction.", "10s"),
                        "max_lag": duration("Longest a transaction may stay open and still "
                                            "have its rows counted (bounds re-reading).",
                                            "15m"),
                    },
                    "Second source: rows the platform logs to PostgreSQL.",
                ),
            },
            "Request-timing ingestion for the serverless API.",
        ),
        "validation": strict(
            {
                "enabled": {"type": "boolean", "default": True,
                            "description": "Run architecture validation in the background."},
                "interval": duration("How often the background run happens.", "5m"),
                "timeout": duration("Longest one validation may take.", "20s"),
                "thresholds": strict(
                    {
                        "connection_usage": {
                            "type": "number", "minimum": 0, "maximum": 1, "default": 0.8,
                            "description": "Share of max_connections in use above which "
                                           "connection_usage_high is reported."},
                        "cache_hit_ratio": {
                            "type": "number", "minimum": 0, "maximum": 1, "default": 0.99,
                            "description": "Buffer cache hit ratio below which "
                                           "cache_hit_ratio_low is reported."},
                        "cache_min_blocks": {
                            "type": "integer", "minimum": 0, "default": 10000,
                            "description": "Block reads and hits needed before the cache "
                                           "hit ratio is judged."},
                        "redis_hit_ratio": {
                            "type": "number", "minimum": 0, "maximum": 1, "default": 0.95,
                            "description": "Redis keyspace hit ratio below which "
                                           "redis_hit_ratio_low is reported."},
                        "redis_min_lookups": {
                            "type": "integer", "minimum": 0, "default": 1000,
                            "description": "Key lookups needed before the Redis hit ratio "
                                           "is judged."},
                    },
                    "Thresholds of the performance checks.",
                ),
                "required_tables": {"type": "array", "items": {"type": "string"},
                                    "description": "Tables the platform must have "
                                                   "(default: user_profiles, suppliers, "
                                                   "couples, core_fields)."},
            },
            "Architecture validation.",
        ),
        "status_page": strict(
            {
                "enabled": {"type": "boolean", "default": True,
                            "description": "Serve the public status page on GET /."},
                "title": {"type": "string", "default": "WedSync status",
                          "description": "Page title."},
            },
            "The public status page (statuses and latencies only).",
        ),
        "alertmanager": strict(
            {"url": {"type": "string",
                     "description": "Alertmanager base URL (v2 API) for the deploy gate; "
                                    "empty: not asked."},
             "timeout": duration("How long the deploy gate waits for Alertmanager's answer.",
                                 "2s")},
            "Where the deploy gate reads firing alerts.",
        ),
        "deploy_gate": strict(
            {
                "fail_open": {"type": "boolean", "default": False,
                              "description": "Allow deploys when Alertmanager cannot be asked."},
                "override_max_duration": duration(
                    "Longest emergency override an admin may open (0s: no overrides).", "2h"),
            },
            "The wedding-day deploy gate.",
        ),
    },
}
