"""The JSON Schema of the exporter's configuration file (the documented contract).

Every object is strict (unknown keys are errors). ``x-secret`` marks values that may come only
from an environment reference or a ``*_file`` path: ``true`` for tokens and keys, ``"password"``
for URLs that are secret only when they carry a password.
"""

from __future__ import annotations

from typing import Any

from exporter.components import REGISTRY
from exporter.config.model import (
    DEFAULT_PRIVILEGED_ROLES,
    DEFAULT_RATE_LIMITS,
    DEFAULT_REQUIRED_TABLES,
)
from exporter.config.query_naming import LABEL_NAME_PATTERN, METRIC_NAME_PATTERN
from exporter.config.query_pack import BUILTIN_NAMES
from exporter.config.schema_parts import (
    NAME,
    RATE,
    THRESHOLDS,
    TIMING,
    Schema,
    duration,
    file_path,
    secret,
    strict,
    target_list,
)
from exporter.config.targets import TARGET_KINDS

# 2026-06-06T09:00, 2026-06-06T09:00:00Z, 2026-06-06 09:00+01:00 (what datetime.fromisoformat
# reads, so a window is parsed at load).
DATE_TIME = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
             r"(Z|[+-][0-9]{2}:[0-9]{2})?$")

__all__ = ["NAME", "RATE", "THRESHOLDS", "TIMING", "Schema", "config_schema", "duration",
           "file_path", "schema_default", "secret", "strict", "target_list"]


def _build() -> Schema:
    """The whole schema for the components registered now."""
    sections = {
        c.name: target_list(TARGET_KINDS[c.settings].schema, c.description, ())
        for c in REGISTRY}
    return {
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
            "server": strict(
                {
                    "header_timeout": duration(
                        "Longest a connection may take to send a complete request line and "
                        "headers (from connecting, or from the first byte of a later request); "
                        "then it is closed.", "10s"),
                    "body_timeout": duration("Longest a request body may take to arrive (408 "
                                             "after).", "30s"),
                    "idle_timeout": duration("Keep-alive connections with no request for this "
                                             "long are closed (keep it above the scrape "
                                             "interval).", "75s"),
                    "max_connections": {
                        "type": "integer", "minimum": 1, "maximum": 65535, "default": 256,
                        "description": "Most client connections open at once (never more than "
                                       "half the process's open-file limit); beyond it the "
                                       "longest-waiting connection without a finished request "
                                       "makes room."},
                    "refusals_per_second": {
                        "type": "integer", "minimum": 1, "maximum": 100000, "default": 20,
                        "description": "Refused requests (4xx) per client address answered at "
                                       "once in any one second (also the burst); beyond it a "
                                       "refusal is held for tarpit_seconds, the rest of its "
                                       "body unread, and the connection closed after it. "
                                       "/metrics and "
                                       "/-/healthy are never held."},
                    "tarpit_seconds": duration(
                        "How long a refusal beyond refusals_per_second is held before it is "
                        "answered (0s: answered at once, as under the budget).", "1s"),
                    "tarpit_max": {
                        "type": "integer", "minimum": 0, "maximum": 65535, "default": 64,
                        "description": "Most refusals held at once; beyond it a refusal over "
                                       "the budget gets no answer: its connection is closed at "
                                       "once."},
                },
                "Limits of the exporter's own HTTP server against slow, flooding or hostile "
                "clients.",
            ),
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
                    "deploy_gate": RATE, "reload": RATE, "status_updates": RATE,
                },
                "Per token and client address (defaults: "
                + ", ".join(f"{k} {v}" for k, v in DEFAULT_RATE_LIMITS.items()) + ").",
            ),
            "components": strict(
                {
                    "essential": {
                        "type": "array", "items": {"enum": list(REGISTRY.names())},
                        "uniqueItems": True,
                        "description": "Components whose status makes overall_status "
                                       f"(default: {', '.join(REGISTRY.essential())}; "
                                       + ", ".join(c.name for c in REGISTRY
                                                   if c.essential_when_configured)
                                       + " only where configured).",
                    },
                },
                "How components count toward overall_status.",
            ),
            **sections,
            "queries": {
                "type": "object",
                "description": "Named SQL queries, each run on its own schedule (never on a "
                               "scrape) "
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
                                       "description": "Largest request body, as sent and "
                                                      "decompressed (413 above)."},
                    "max_compression_ratio": {
                        "type": "number", "minimum": 1, "default": 100,
                        "description": "A gzip or deflate body that decompresses to more than "
                                       "this many times its size is refused (413); "
                                       "max_body_bytes bounds the decompressed size too."},
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
                            "archive_max_pending_age": duration(
                                "How long a finished WAL segment may wait for the archiver "
                                "before wal_archiving_behind is reported.", "15m"),
                        },
                        "Thresholds of the performance checks.",
                    ),
                    "required_tables": {"type": "array", "items": {"type": "string"},
                                        "description": "Tables the platform must have "
                                                       "(default: "
                                                       f"{', '.join(DEFAULT_REQUIRED_TABLES)})."},
                    "privileged_roles": {
                        "type": "array", "items": {"type": "string"},
                        "description": "Login roles allowed to be superuser or to bypass Row "
                                       "Level Security without a finding, besides the probe's "
                                       "own role (default: Supabase's reserved roles, "
                                       f"{', '.join(DEFAULT_PRIVILEGED_ROLES)})."},
                    "archiving_off_severity": {
                        "enum": ["info", "warning", "error", "critical"], "default": "error",
                        "description": "Severity of wal_archiving_off (archive_mode off). "
                                       "Lower it where backups are taken outside PostgreSQL's "
                                       "archiver (e.g. by streaming WAL from a replica)."},
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
            "prometheus": strict(
                {"url": {"type": "string",
                         "description": "Prometheus base URL the exporter asks for history "
                                        "(the status page's uptime bars); empty: not asked."},
                 "timeout": duration("How long one question to Prometheus may take.", "10s"),
                 "refresh": duration("How often the status page's uptime history is fetched "
                                     "again (in the background).", "5m")},
                "Where the exporter reads history: one key for every feature that needs it.",
            ),
            "maintenance": strict(
                {"windows": {
                    "type": "array",
                    "description": "Planned maintenance: shown on the status page in advance; "
                                   "while a window is open its components show 'under "
                                   "maintenance' and are left out of the uptime figures. It "
                                   "changes what the page shows, nothing else: no alert is "
                                   "silenced and the deploy gate decides as before.",
                    "items": strict(
                        {"start": {"type": "string", "pattern": DATE_TIME,
                                   "description": "When it starts (ISO 8601; without an "
                                                  "offset: in the configured timezone)."},
                         "end": {"type": "string", "pattern": DATE_TIME,
                                 "description": "When it ends (after start)."},
                         "components": {"type": "array", "minItems": 1, "uniqueItems": True,
                                        "items": {"enum": list(REGISTRY.names())},
                                        "description": "The components it affects."},
                         "message": {"type": "string", "minLength": 1, "maxLength": 500,
                                     "description": "What visitors read (public)."}},
                        "One window.", ("start", "end", "components", "message")),
                }},
                "Planned maintenance windows.",
            ),
            "alertmanager": strict(
                {"url": {"type": "string",
                         "description": "Alertmanager base URL (v2 API) for the deploy gate; "
                                        "empty: not asked."},
                 "timeout": duration("How long the deploy gate waits for Alertmanager's answer.",
                                     "2s")},
                "Where the deploy gate reads firing alerts.",
            ),
            "shared_state": strict(
                {"url": secret("redis:// URL of the Redis where exporter replicas share the "
                               "deploy gate's override, status-page updates, rate limits and "
                               "the performance_logs tailer's lease; a Redis of the "
                               "monitoring's own, not the platform's. Empty (the default): "
                               "one replica, all of it in memory.", "password"),
                 "url_file": file_path("File holding the shared-state Redis URL."),
                 "key_prefix": {"type": "string", "default": "wedsync:",
                                "pattern": "^[A-Za-z0-9_:.-]{0,64}$",
                                "description": "Prefix of every key the exporter writes."},
                 "timeout": duration("How long one shared-state command may take before the "
                                     "replica falls back to its own memory.", "250ms"),
                 "refresh": duration("How often a replica re-reads what is shared (an "
                                     "override taken on another replica is honoured within "
                                     "this).", "500ms"),
                 "lease": duration("How long the performance_logs tailer's lease lasts "
                                   "unrenewed: another replica takes the tailer over within "
                                   "this (plus one tail interval) when the holder dies.",
                                   "15s")},
                "State shared by several exporter replicas (docs/scaling.md).",
            ),
            "deploy_gate": strict(
                {
                    "fail_open": {"type": "boolean", "default": False,
                                  "description": "Allow deploys when Alertmanager cannot "
                                                 "be asked."},
                    "override_max_duration": duration(
                        "Longest emergency override an admin may open (0s: no overrides).", "2h"),
                },
                "The wedding-day deploy gate.",
            ),
        },
    }


_cache: tuple[int, Schema] | None = None


def config_schema() -> Schema:
    """The configuration's JSON Schema: the fixed sections plus one per registered component
    (rebuilt when the component registry changed)."""
    global _cache
    if _cache is None or _cache[0] != REGISTRY.generation:
        _cache = (REGISTRY.generation, _build())
    return _cache[1]


def schema_default(*path: str) -> Any:
    """The default the schema documents for the key at ``path`` (``"*"`` steps into the
    entries of a map or a list): every default is written once, in the schema."""
    node = config_schema()
    for key in path:
        if key == "*":
            extra = node.get("additionalProperties")
            node = extra if isinstance(extra, dict) else node["items"]
        else:
            node = node["properties"][key]
    return node["default"]


def __getattr__(name: str) -> Any:
    # CONFIG_SCHEMA stays readable as a module attribute, always for the current registry.
    if name == "CONFIG_SCHEMA":
        return config_schema()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
