"""Typed configuration, built from a validated and expanded configuration tree."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

DEFAULT_REQUIRED_TABLES: tuple[str, ...] = ("user_profiles", "suppliers", "couples", "core_fields")
# Login roles that may bypass Row Level Security or be superuser without a finding: Supabase's
# reserved roles (the probe's own role is always allowed besides these).
DEFAULT_PRIVILEGED_ROLES: tuple[str, ...] = (
    "postgres", "supabase_admin", "supabase_auth_admin", "supabase_storage_admin",
    "supabase_realtime_admin", "supabase_replication_admin", "supabase_read_only_user",
    "authenticator", "pgbouncer", "dashboard_user", "supabase_functions_admin")
DEFAULT_RATE_LIMITS: dict[str, str] = {
    "health": "60/minute",
    "ingestion": "100/minute",
    "validation": "10/minute",
    "deploy_gate": "60/minute",
    "reload": "10/minute",
    "status_updates": "10/minute",
}


@dataclass(frozen=True)
class Thresholds:
    """Latency thresholds in seconds; None means no threshold."""

    degraded: float | None = None
    critical: float | None = None


@dataclass(frozen=True)
class Target:
    """What every probe target has: a name and its timing."""

    name: str
    interval: float
    timeout: float
    thresholds: Thresholds


# Targets' own settings have no defaults here: the loader fills them in from the schema
# (exporter.config.targets), so each default is written once.
@dataclass(frozen=True, kw_only=True)
class DatabaseTarget(Target):
    dsn: str
    statement_timeout: float
    pool_size: int
    exposed_schemas: tuple[str, ...]
    slow_statement_threshold: float


@dataclass(frozen=True, kw_only=True)
class RedisTarget(Target):
    url: str


@dataclass(frozen=True)
class PoolerTarget(Target):
    """A PgBouncer admin console (the ``pgbouncer`` virtual database)."""

    url: str = ""
    # Databases that keep their own ``database`` label; the rest fold into ``other``. Empty:
    # every database keeps its label, up to ``max_databases`` in name order.
    databases: tuple[str, ...] = ()
    max_databases: int = 20


@dataclass(frozen=True)
class QueueDiscovery:
    """Finding queues by a bounded SCAN instead of (or besides) naming them."""

    enabled: bool = False
    # SCAN calls per probe run and keys asked per call: the cost cap per interval.
    scan_calls: int = 10
    scan_count: int = 1000


@dataclass(frozen=True)
class QueuesTarget(Target):
    """BullMQ or Bull v3 queues kept in one Redis."""

    url: str = ""
    prefix: str = "bull"
    names: tuple[str, ...] = ()
    discovery: QueueDiscovery = QueueDiscovery()
    max_queues: int = 100


@dataclass(frozen=True)
class SignIn:
    enabled: bool = False
    email: str = ""
    password: str = field(default="", repr=False)
    # Only for projects whose CAPTCHA provider runs on its test secret.
    captcha_token: str = field(default="", repr=False)


@dataclass(frozen=True)
class AuditLog:
    enabled: bool = False
    database: str | None = None
    interval: float = 60.0


@dataclass(frozen=True, kw_only=True)
class AuthTarget(Target):
    url: str
    anon_key: str
    sign_in: SignIn
    audit_log: AuditLog


@dataclass(frozen=True)
class SyntheticUser:
    """A dedicated user the probe signs in as (through Auth, never with the JWT secret)."""

    email: str
    password: str = field(default="", repr=False)


@dataclass(frozen=True, kw_only=True)
class PostgresChanges:
    """The Core Fields probe of a Realtime target: a write through ``write_dsn`` to the probe
    table, seen by ``watcher`` as a postgres_changes event and hidden from ``outsider``."""

    write_dsn: str = field(repr=False)
    auth_url: str
    anon_key: str = field(repr=False)
    schema: str
    table: str
    watcher: SyntheticUser
    outsider: SyntheticUser


@dataclass(frozen=True, kw_only=True)
class RealtimeTarget(Target):
    url: str
    anon_key: str
    channel: str
    access_token: str
    # None: the Core Fields (postgres_changes) probe is off for this target.
    postgres_changes: PostgresChanges | None = None


@dataclass(frozen=True)
class JsonFieldCheck:
    path: str
    equals: Any


@dataclass(frozen=True, kw_only=True)
class HttpTarget(Target):
    url: str
    method: str
    expected_status: tuple[int, ...]
    json_field: JsonFieldCheck | None
    headers: tuple[tuple[str, str], ...]
    tls_verify: bool
    ca_file: str


@dataclass(frozen=True)
class MetricMapping:
    """A result column that becomes a metric family."""

    column: str
    name: str
    kind: str  # gauge or counter
    help: str
    unit: str = ""


@dataclass(frozen=True)
class LabelMapping:
    """A result column that becomes a label, with a cap on its distinct values."""

    column: str
    name: str
    cap: int


@dataclass(frozen=True)
class QueryConfig:
    """One named SQL query: its statement, schedule, limits and column mapping."""

    name: str
    database: str
    interval: float
    timeout: float
    builtin: str | None = None
    enabled: bool = True
    raw: dict[str, Any] = field(default_factory=dict)
    sql: str = ""
    max_rows: int = 1000
    metrics: tuple[MetricMapping, ...] = ()
    labels: tuple[LabelMapping, ...] = ()


@dataclass(frozen=True)
class TailSettings:
    """The performance_logs tailer (ingestion's second source)."""

    enabled: bool
    database: str | None
    interval: float
    batch_size: int
    settle: float
    max_lag: float


@dataclass(frozen=True)
class IngestionSettings:
    """Limits, templates and caps of request-timing ingestion."""

    enabled: bool
    max_body_bytes: int
    max_compression_ratio: float
    max_events: int
    route_templates: tuple[str, ...]
    route_cap: int
    series_cap: int
    tail: TailSettings


@dataclass(frozen=True)
class ValidationSettings:
    """Architecture validation: schedule, required tables, thresholds of the checks."""

    enabled: bool
    interval: float
    timeout: float
    required_tables: tuple[str, ...]
    connection_usage: float
    cache_hit_ratio: float
    cache_min_blocks: int
    redis_hit_ratio: float
    redis_min_lookups: int
    # Security audit: login roles allowed BYPASSRLS/superuser, how bad "WAL archiving off" is,
    # and how long a WAL segment may wait for the archiver before archiving is "behind".
    privileged_roles: tuple[str, ...]
    archiving_off_severity: str
    archive_max_pending_age: float


@dataclass(frozen=True)
class DeployGateSettings:
    """The deploy gate and the Alertmanager it asks."""

    fail_open: bool
    # Seconds; 0 when overrides are turned off.
    override_max_duration: float
    alertmanager_url: str
    alertmanager_timeout: float


@dataclass(frozen=True)
class SharedStateSettings:
    """Where several exporter replicas keep what they share (``shared_state``): a Redis of the
    monitoring's own. An empty url: one replica, everything in its own memory."""

    url: str = ""
    key_prefix: str = "wedsync:"
    # Seconds: one Redis command's timeout; how often the replica re-reads what is shared;
    # how long the performance_logs tailer's lease lasts without being renewed.
    timeout: float = 0.25
    refresh: float = 0.5
    lease: float = 15.0

    @property
    def enabled(self) -> bool:
        return bool(self.url)


@dataclass(frozen=True)
class ServerSettings:
    """Timeouts, the connection cap and the refusal budget of the exporter's own HTTP server
    (seconds)."""

    header_timeout: float
    body_timeout: float
    idle_timeout: float
    max_connections: int
    refusals_per_second: int
    tarpit_seconds: float
    tarpit_max: int


@dataclass(frozen=True)
class Tokens:
    admin: str = ""
    ingest: str = ""
    deploy: str = ""


@dataclass(frozen=True)
class PrometheusSettings:
    """Where features read history (``prometheus`` section); an empty url: not asked."""

    url: str = ""
    timeout: float = 10.0
    refresh: float = 300.0


@dataclass(frozen=True)
class MaintenanceWindow:
    """One planned maintenance window (``maintenance.windows``); times are aware."""

    start: datetime
    end: datetime
    components: tuple[str, ...]
    message: str

    def open_at(self, now: datetime) -> bool:
        return self.start <= now < self.end


@dataclass(frozen=True)
class Config:
    """The whole validated configuration."""

    timezone: str
    listen: str
    log_level: str
    log_format: str
    tokens: Tokens
    rate_limits: dict[str, str]
    essential: tuple[str, ...]
    # Every registered component's switched-on targets, by component name.
    components: Mapping[str, tuple[Target, ...]]
    queries: tuple[QueryConfig, ...]
    status_page_enabled: bool
    status_page_title: str
    server: ServerSettings
    ingestion: IngestionSettings
    validation: ValidationSettings
    deploy_gate: DeployGateSettings
    secrets: frozenset[str]
    raw: dict[str, Any]
    source: str = ""
    prometheus: PrometheusSettings = field(default_factory=lambda: PrometheusSettings())
    maintenance: tuple[MaintenanceWindow, ...] = ()
    shared_state: SharedStateSettings = field(default_factory=lambda: SharedStateSettings())

    def section(self, name: str) -> dict[str, Any]:
        """A section of the validated tree as written (an empty mapping where absent): for
        reading what the file said, never for settings, which every section has typed above
        with the schema's defaults filled in."""
        value = self.raw.get(name)
        return value if isinstance(value, dict) else {}

    @property
    def alertmanager_url(self) -> str:
        return self.deploy_gate.alertmanager_url

    @property
    def deploy_gate_fail_open(self) -> bool:
        return self.deploy_gate.fail_open

    @property
    def required_tables(self) -> tuple[str, ...]:
        return self.validation.required_tables

    def targets(self, component: str) -> tuple[Target, ...]:
        """The configured (switched on) targets of a component; KeyError for a name that was
        not a registered component when the configuration loaded (never a silent "none")."""
        try:
            return self.components[component]
        except KeyError:
            raise KeyError(f"{component!r} is not a component of this configuration; known: "
                           f"{', '.join(self.components)}") from None

    @property
    def database(self) -> tuple[DatabaseTarget, ...]:
        """The PostgreSQL targets, which queries, validation and the pools share."""
        return tuple(t for t in self.targets("database") if isinstance(t, DatabaseTarget))

    def __getattr__(self, name: str) -> tuple[Target, ...]:
        # ``config.redis`` reads as ``config.targets("redis")`` for any registered component.
        components = self.__dict__.get("components")
        if components is not None and name in components:
            return components[name]  # type: ignore[no-any-return]
        raise AttributeError(f"Config has no attribute {name!r}")
