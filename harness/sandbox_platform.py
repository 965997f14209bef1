"""``wedsync-stack up --sandbox``: a whole stand-in platform of the stack's own — a PostgreSQL
and a Redis it starts itself, with the reference schema and seed rows, and the sandbox (Auth,
Realtime and API stand-ins) posting its API's request timings to the exporter — so that a
healthy stack stays quiet.

Nothing here touches a server it did not start: the PostgreSQL and the Redis run on free
loopback ports in temporary directories and are deleted when the stack stops.

Set up the way production is where the exporter's checks look:

- PostgreSQL: ``wal_level = logical`` (Supabase Realtime's ``postgres_changes`` reads a logical
  slot), ``password_encryption = scram-sha-256`` with scram for every TCP login, TLS on (a
  self-signed certificate made at start; clients' default ``sslmode=prefer`` encrypts), WAL
  archived (into the server's directory), ``pg_stat_statements`` preloaded and created in
  schema ``extensions``, Row Level Security on every table (the reference schema), and the
  exporter connecting as the least-privilege role of docs/database-grants.md (``pg_monitor``,
  ``SELECT`` on the tables its queries read, read-only transactions) — never as the
  superuser. Validation's security audit finds nothing on it;
- Redis: a password, ``maxmemory`` and an eviction policy fit for a cache;
- the Core Fields probe (docs/core-fields-probe.md): its migration, its writer role and its two
  synthetic users, whom the sandbox's Auth signs in; the sandbox's Realtime serves
  ``postgres_changes`` from this PostgreSQL's WAL.

Every secret (the superuser's and the exporter role's passwords, the Redis password, the anon
key, the probe user's password) is generated here and handed over in files readable only by
the user or in a child's environment; none is printed.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from psycopg import sql

from harness.core_fields import LOGICAL_SETTINGS, prepare_core_fields
from harness.postgres import EXTENSIONS_SQL, PostgresServer
from harness.redis import RedisServer
from harness.sandbox import SandboxServer, StackSandbox
from harness.stack import example_exporter_config
from sandbox.auth import user_id_for
from sandbox.settings import OUTSIDER_EMAIL, WATCHER_EMAIL

REPO = Path(__file__).resolve().parent.parent
SCHEMA = REPO / "sandbox" / "schema.sql"
SEED = REPO / "sandbox" / "seed.sql"
DATABASE = "wedsync"
EXPORTER_ROLE = "wedsync_exporter"
INGESTION_PATH = "/api/system/metrics"

POSTGRES_SETTINGS = {
    **LOGICAL_SETTINGS,
    "password_encryption": "'scram-sha-256'",
}
# Realtime's tenant setting poll_interval_ms as a tenant tuned for the Core Fields SLO would set
# it: Realtime's default of 100 ms alone puts the postgres_changes p99 at about 100 ms
# (bench/core_fields.py), so a healthy stack would sit on its alert's threshold.
REALTIME_POLL_INTERVAL = 0.05
REDIS_SETTINGS = ["maxmemory 64mb", "maxmemory-policy allkeys-lru"]

# The exporter's least-privilege role (docs/database-grants.md; compose/postgres-init.sh does
# the same for compose's local profile).
EXPORTER_GRANTS = f"""
GRANT pg_monitor TO {EXPORTER_ROLE};
GRANT USAGE ON SCHEMA public, auth TO {EXPORTER_ROLE};
GRANT SELECT ON public.weddings, public.core_fields, public.form_submissions, public.couples,
                public.suppliers, public.supplier_invitations, public.performance_logs,
                auth.audit_log_entries TO {EXPORTER_ROLE};
ALTER ROLE {EXPORTER_ROLE} SET default_transaction_read_only = on;
"""


def start_database(exporter_password: str) -> PostgresServer:
    """The stack's own PostgreSQL, set up as production is: database ``wedsync`` with the
    reference schema and seed rows, and the exporter's role ``EXPORTER_ROLE`` with
    ``exporter_password``. The caller cleans it up."""
    server = PostgresServer(password=secrets.token_urlsafe(24), settings=POSTGRES_SETTINGS,
                            tls=True, archive=True).start()
    try:
        server.execute(f"CREATE DATABASE {DATABASE}")
        server.execute(SCHEMA.read_text(), dbname=DATABASE)
        server.execute(SEED.read_text(), dbname=DATABASE)
        server.execute(EXTENSIONS_SQL, dbname=DATABASE)
        with server.admin(DATABASE) as conn:
            # The password goes in as a bound literal, never into a logged statement text.
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN BYPASSRLS PASSWORD {}").format(
                sql.Identifier(EXPORTER_ROLE), sql.Literal(exporter_password)))
            conn.execute(EXPORTER_GRANTS)  # type: ignore[arg-type]
    except BaseException:
        server.cleanup()
        raise
    return server


class SandboxPlatform:
    """The stack's sandbox slot (``StackOptions(sandbox=SandboxPlatform())``): own PostgreSQL,
    own Redis and the sandbox, started before the exporter and stopped after it."""

    def __init__(self, timings_interval: float = 5.0,
                 realtime_poll_interval: float = REALTIME_POLL_INTERVAL) -> None:
        self.timings_interval = timings_interval
        self.realtime_poll_interval = realtime_poll_interval
        self.postgres: PostgresServer | None = None
        self.redis: RedisServer | None = None
        self.sandbox: StackSandbox | None = None
        self._exporter_url = ""
        self._ingest_token = ""
        self._exporter_password = secrets.token_urlsafe(24)
        # The Core Fields probe: its writer role's and its two synthetic users' passwords.
        self._writer_password = secrets.token_urlsafe(24)
        self._user_passwords = {"watcher": secrets.token_urlsafe(16),
                                "outsider": secrets.token_urlsafe(16)}
        self._writer_dsn = ""

    # --- the stack's plugin interface -------------------------------------------------------
    def prepare(self, exporter_url: str, ingest_token: str) -> None:
        """Where the sandbox posts its API's request timings, and with which token."""
        self._exporter_url = exporter_url
        self._ingest_token = ingest_token

    def start(self) -> SandboxPlatform:
        """Start PostgreSQL (schema, seed rows, the exporter's role), Redis and the sandbox;
        on failure stop what started and raise."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.postgres = start_database(self._exporter_password)
        self._writer_dsn = prepare_core_fields(
            self.postgres, DATABASE, self._writer_password,
            [user_id_for(WATCHER_EMAIL), user_id_for(OUTSIDER_EMAIL)])
        self.redis = RedisServer(password=secrets.token_urlsafe(24), extra=REDIS_SETTINGS)
        self.redis.start()
        env = {"SANDBOX_WATCHER_PASSWORD": self._user_passwords["watcher"],
               "SANDBOX_OUTSIDER_PASSWORD": self._user_passwords["outsider"],
               "SANDBOX_REALTIME_POLL_INTERVAL": f"{self.realtime_poll_interval:g}"}
        if self._exporter_url:
            env |= {"SANDBOX_TIMINGS_URL": f"{self._exporter_url}{INGESTION_PATH}",
                   "SANDBOX_INGEST_TOKEN": self._ingest_token,
                   "SANDBOX_TIMINGS_INTERVAL": f"{self.timings_interval:g}"}
        server = SandboxServer(anon_key=secrets.token_hex(16),
                               probe_password=secrets.token_urlsafe(16),
                               database_url=self.postgres.dsn(dbname=DATABASE), env=env)
        # Sign-ins write Auth's audit log into our own database; the exporter counts them.
        self.sandbox = StackSandbox(server, audit_log_interval="60s").start()

    def stop(self) -> None:
        """Stop the sandbox, Redis and PostgreSQL and delete their files."""
        for part in (self.sandbox, self.redis, self.postgres):
            if part is None:
                continue
            if isinstance(part, StackSandbox):
                part.stop()
            else:
                part.cleanup()
        self.sandbox = self.redis = self.postgres = None

    def exporter_sections(self) -> dict[str, Any]:
        """database and redis targets at our own servers (credentials in 0600 files), and the
        sandbox's auth, realtime and api targets."""
        assert self.postgres and self.redis and self.sandbox, "the platform is not started"
        example = example_exporter_config()
        database = {**example["database"][0]}
        database.pop("dsn", None)
        database["dsn_file"] = self.sandbox.secret_file(
            "exporter-dsn", self.postgres.dsn(EXPORTER_ROLE, self._exporter_password, DATABASE))
        redis = {**example["redis"][0]}
        redis.pop("url", None)
        redis["url_file"] = self.sandbox.secret_file("redis-url", self.redis.url())
        sections = self.sandbox.exporter_sections()
        for realtime in sections.get("realtime", []):
            realtime.update(self.core_fields_settings())
        return {"database": [database], "redis": [redis], **sections}

    def core_fields_settings(self) -> dict[str, Any]:
        """A realtime target's Core Fields probe settings (secrets in 0600 files)."""
        assert self.sandbox, "the platform is not started"
        users = {role: {"email": email, "password_file": self.sandbox.secret_file(
                     f"{role}-password", self._user_passwords[role])}
                 for role, email in (("watcher", WATCHER_EMAIL), ("outsider", OUTSIDER_EMAIL))}
        return {"write_dsn_file": self.sandbox.secret_file("core-fields-dsn", self._writer_dsn),
                "postgres_changes": {"enabled": True, **users}}

    def urls(self) -> dict[str, str]:
        return self.sandbox.urls() if self.sandbox else {}

    def describe(self) -> str:
        """Where our own PostgreSQL and Redis listen (no credentials)."""
        lines = []
        if self.postgres:
            lines.append(f"{'postgres':<13} 127.0.0.1:{self.postgres.port}   (the stack's own; "
                         f"database {DATABASE}, reference schema and seed rows)")
        if self.redis:
            lines.append(f"{'redis':<13} 127.0.0.1:{self.redis.port}   (the stack's own)")
        return "\n".join(lines)


def stack_plugin() -> Any:
    """What ``wedsync-stack up --sandbox`` starts: the sandbox with a PostgreSQL and a Redis of
    its own (random secrets throughout)."""
    return SandboxPlatform()
