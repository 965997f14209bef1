"""The database security audit: the stack's own PostgreSQL (set up as production is, by
harness/sandbox_platform.py) passes it, and each check fires on a deliberately broken copy of
the reference schema (or server) and only there.

One production-like server for the module; each defect gets a fresh database cloned from a
template holding the reference schema, so defects never meet.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from exporter.db.pool import PgPool
from exporter.probes.postgres import PostgresProbe
from exporter.validation.database import validate_database
from exporter.validation.findings import VALIDATION_TYPES, Finding
from exporter.validation.settings import ValidationSettings, validation_settings
from harness.postgres import PostgresServer
from harness.sandbox_platform import DATABASE, EXPORTER_ROLE, start_database
from tests.probes_support import database_target

DEFAULTS = validation_settings({})
API_ROLES = "CREATE ROLE anon NOLOGIN; CREATE ROLE authenticated NOLOGIN"


def validate(dsn: str, kinds: tuple[str, ...] = VALIDATION_TYPES,
             settings: ValidationSettings = DEFAULTS) -> list[Finding]:
    """Every finding of ``kinds`` (a finding two types share is listed once)."""
    async def run() -> list[Finding]:
        pool = PgPool(dsn, size=1, statement_timeout=10)
        target = database_target(dsn, interval=15, timeout=5)
        try:
            found: dict[tuple[str | None, str], Finding] = {}
            for kind in kinds:
                for finding in await pool.run(
                        lambda conn, k=kind: validate_database(conn, target, k, settings)):
                    found.setdefault((finding.check, finding.message), finding)
            return list(found.values())
        finally:
            await pool.close()

    return asyncio.run(run())


def checks(findings: list[Finding]) -> list[str]:
    """The checks that found something (notes left out)."""
    return sorted(f.check for f in findings if f.check)


class Platform:
    """The stack's own PostgreSQL and the exporter role's password."""

    def __init__(self) -> None:
        self.password = secrets.token_urlsafe(16)
        self.server = start_database(self.password)
        self.server.execute(API_ROLES)
        self._n = 0

    def dsn(self, dbname: str = DATABASE, **options: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in options.items())
        return self.server.dsn(EXPORTER_ROLE, self.password, dbname) + (
            f"?{query}" if query else "")

    def broken_copy(self, defect: str) -> str:
        """A fresh copy of the reference schema with ``defect`` applied (as superuser)."""
        self._n += 1
        name = f"broken_{self._n}"
        # The clone keeps the exporter role's grants.
        self.server.execute(f"CREATE DATABASE {name} TEMPLATE {DATABASE}")
        self.server.execute(defect, dbname=name)
        return name


@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    built = Platform()
    try:
        yield built
    finally:
        built.server.cleanup()


def test_the_stacks_own_postgres_passes_the_whole_audit(platform: Platform) -> None:
    # TLS (the client's default sslmode=prefer encrypts), scram, archiving on, RLS on every
    # table, pg_stat_statements outside public, the exporter's BYPASSRLS role its own.
    findings = validate(platform.dsn())
    assert findings == [], [f.message for f in findings]


SCHEMA_DEFECTS = {
    "security_definer_view": (
        "CREATE VIEW public.supplier_names AS SELECT id, name FROM public.suppliers; "
        "GRANT SELECT ON public.supplier_names TO authenticated", "public.supplier_names"),
    "auth_users_exposed": (
        "CREATE TABLE auth.users (id uuid PRIMARY KEY, email text); "
        "CREATE MATERIALIZED VIEW public.member_emails AS SELECT id, email FROM auth.users; "
        "GRANT SELECT ON public.member_emails TO anon", "public.member_emails"),
    "extension_in_public": ("CREATE EXTENSION citext SCHEMA public", "citext"),
    "anon_table_without_rls": (
        "CREATE SCHEMA private; CREATE TABLE private.notes (id int PRIMARY KEY, body text); "
        "GRANT USAGE ON SCHEMA private TO anon; GRANT SELECT ON private.notes TO anon",
        "private.notes"),
    "password_encryption_weak": (
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET password_encryption = md5', "
        "current_database()); END $$", "md5"),
}


@pytest.mark.parametrize("check", sorted(SCHEMA_DEFECTS))
def test_each_schema_check_fires_on_its_defect_only(platform: Platform, check: str) -> None:
    defect, named = SCHEMA_DEFECTS[check]
    name = platform.broken_copy(defect)
    findings = validate(platform.dsn(name))
    assert checks(findings) == [check], [f.message for f in findings]
    assert named in findings[0].message and findings[0].recommendation
    assert findings[0].severity in ("warning", "error", "critical")


def test_a_view_with_security_invoker_is_not_a_definer_view(platform: Platform) -> None:
    name = platform.broken_copy(
        "CREATE VIEW public.supplier_names WITH (security_invoker = on) AS "
        "SELECT id, name FROM public.suppliers; "
        "GRANT SELECT ON public.supplier_names TO authenticated")
    assert validate(platform.dsn(name)) == []


def test_every_rls_finding_of_permissions_is_a_security_finding(platform: Platform) -> None:
    name = platform.broken_copy(
        "CREATE TABLE public.supplier_notes (id int PRIMARY KEY, body text); "
        "GRANT SELECT ON public.supplier_notes TO anon")
    permissions = validate(platform.dsn(name), ("permissions",))
    security = validate(platform.dsn(name), ("security",))
    assert checks(permissions) == ["rls_disabled_in_public"]
    assert checks(security) == ["anon_table_without_rls", "rls_disabled_in_public"]
    assert {f.severity for f in security} == {"critical"}


def test_login_roles_that_bypass_rls_beyond_the_allow_list(platform: Platform) -> None:
    platform.server.execute(
        "CREATE ROLE reporting LOGIN BYPASSRLS; CREATE ROLE ops LOGIN SUPERUSER; "
        "CREATE ROLE supabase_admin LOGIN SUPERUSER; CREATE ROLE batch NOLOGIN BYPASSRLS")
    try:
        findings = validate(platform.dsn(), ("security",))
        assert checks(findings) == ["login_role_bypasses_rls"] * 2
        messages = " ".join(f.message for f in findings)
        assert "role ops is superuser" in messages and "role reporting is BYPASSRLS" in messages
        # The exporter's own role (BYPASSRLS) and Supabase's reserved roles are allowed; the
        # allow-list is configurable.
        assert EXPORTER_ROLE not in messages and "supabase_admin" not in messages
        allowed = replace(DEFAULTS, privileged_roles=(*DEFAULTS.privileged_roles, "ops",
                                                      "reporting"))
        assert validate(platform.dsn(), ("security",), allowed) == []
    finally:
        platform.server.execute("DROP ROLE reporting, ops, supabase_admin, batch")


def test_a_connection_without_tls_is_found(platform: Platform) -> None:
    findings = validate(platform.dsn(sslmode="disable"), ("security",))
    assert checks(findings) == ["connection_not_encrypted"], [f.message for f in findings]


def test_a_server_without_tls_or_archiving_is_found(pg_server: PostgresServer,
                                                    wedsync_database: str) -> None:
    """The tests' shared server is a plain development server: ssl off, no archiving."""
    findings = validate(pg_server.dsn(dbname=wedsync_database), ("security", "performance"))
    # Roles are the cluster's, and other tests on this shared server add their own (the
    # least-privilege test gives wedsync_exporter BYPASSRLS): those findings are not this test's.
    findings = [f for f in findings if f.check != "login_role_bypasses_rls"]
    assert checks(findings) == ["ssl_off", "wal_archiving_off"], [f.message for f in findings]
    off = next(f for f in findings if f.check == "wal_archiving_off")
    assert off.severity == "error" and "archive_mode = off" in off.message
    lowered = replace(DEFAULTS, archiving_off_severity="info")
    found = validate(pg_server.dsn(dbname=wedsync_database), ("performance",), lowered)
    assert [(f.check, f.severity) for f in found] == [("wal_archiving_off", "info")]


def test_archiving_that_fails_and_falls_behind_is_found() -> None:
    with PostgresServer(stat_statements=False, settings={
            "archive_mode": "on", "archive_command": "'false'"}) as server:
        server.execute("CREATE TABLE filler AS SELECT g FROM generate_series(1, 1000) g; "
                       "SELECT pg_switch_wal()")
        deadline = time.monotonic() + 30
        while not server.execute("SELECT failed_count FROM pg_stat_archiver")[0][0]:
            assert time.monotonic() < deadline, "the archiver never tried"
            time.sleep(0.2)
        findings = validate(server.dsn(), ("performance",),
                            replace(DEFAULTS, archive_max_pending_age=0, required_tables=()))
        assert checks(findings) == ["wal_archiving_behind", "wal_archiving_failing"], [
            f.message for f in findings]
        failing = next(f for f in findings if f.check == "wal_archiving_failing")
        assert failing.severity == "error" and "failures since" in failing.message
        # Below the age limit, waiting segments are not "behind".
        assert checks(validate(server.dsn(), ("performance",),
                               replace(DEFAULTS, required_tables=()))) == [
            "wal_archiving_failing"]
        # The database probe exports the same state (the ticket alert reads it).
        archive = probe_samples(server.dsn())
        assert archive["wedsync_db_wal_archiving_enabled"] == 1
        assert archive["wedsync_db_wal_archive_failing"] == 1
        assert archive["wedsync_db_wal_archive_failures_total"] >= 1
        assert archive["wedsync_db_wal_archive_pending_segments"] >= 1
        assert archive["wedsync_db_wal_archive_oldest_pending_seconds"] >= 0
        assert "wedsync_db_wal_last_archived_timestamp_seconds" not in archive


def test_the_probe_exports_archiving_of_the_stacks_own_postgres(platform: Platform) -> None:
    platform.server.execute("SELECT pg_switch_wal()")  # one segment to archive
    deadline = time.monotonic() + 30
    while not platform.server.execute("SELECT archived_count FROM pg_stat_archiver")[0][0]:
        assert time.monotonic() < deadline, "nothing was archived"
        time.sleep(0.2)
    archive = probe_samples(platform.dsn())
    assert archive["wedsync_db_wal_archiving_enabled"] == 1
    assert archive["wedsync_db_wal_archive_failing"] == 0
    assert archive["wedsync_db_wal_archived_total"] >= 1
    assert archive["wedsync_db_wal_last_archived_timestamp_seconds"] > time.time() - 120
    # The exporter's role has pg_monitor: it may list the segments waiting.
    assert archive["wedsync_db_wal_archive_pending_segments"] >= 0


def probe_samples(dsn: str) -> dict[str, float]:
    """The WAL archiving samples of one run of the database probe."""
    async def run() -> dict[str, float]:
        pool = PgPool(dsn, size=1, statement_timeout=10)
        try:
            outcome = await PostgresProbe(database_target(dsn), pool).run()
        finally:
            await pool.close()
        return {s.name: s.value for s in outcome.samples if s.name.startswith("wedsync_db_wal")}

    return asyncio.run(run())
