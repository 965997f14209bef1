"""Database validation: each check finds exactly its defect, one defect at a time, in a real
copy of the reference schema — and nothing at all on a clean copy with RLS on."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import replace

import psycopg
import pytest

from exporter.config.model import DatabaseTarget
from exporter.db.pool import PgPool
from exporter.validation import server_audit
from exporter.validation.database import validate_database
from exporter.validation.findings import VALIDATION_TYPES, Finding
from exporter.validation.settings import ValidationSettings, validation_settings
from harness.postgres import PostgresServer
from tests.probes_support import database_target


def target(dsn: str) -> DatabaseTarget:
    return database_target(dsn, interval=15, timeout=5)


DEFAULTS = validation_settings({})


# The server's own checks (TLS, archiving, roles) are test_validation_security.py's: the shared
# test server is a plain development one (ssl off, no archiving), which they find.
SERVER_CHECKS = {name for kind in VALIDATION_TYPES for name, _ in server_audit.checks_of(kind)}


def validate(dsn: str, settings: ValidationSettings = DEFAULTS) -> list[Finding]:
    """Every finding of every validation type but the server's own (a finding two types share
    is listed once)."""
    async def run() -> list[Finding]:
        pool = PgPool(dsn, size=1, statement_timeout=10)
        try:
            found: dict[tuple[str | None, str], Finding] = {}
            for kind in VALIDATION_TYPES:
                for finding in await pool.run(
                        lambda conn, k=kind: validate_database(conn, target(dsn), k, settings)):
                    if finding.check not in SERVER_CHECKS:
                        found.setdefault((finding.check, finding.message), finding)
            return list(found.values())
        finally:
            await pool.close()

    return asyncio.run(run())


def checks(findings: list[Finding]) -> list[str]:
    return sorted(f.check or "" for f in findings)


@pytest.fixture(scope="session")
def api_roles(pg_server) -> None:
    """Supabase's API roles (cluster-wide; the server is throwaway)."""
    pg_server.execute("""DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN CREATE ROLE anon; END IF;
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
          CREATE ROLE authenticated; END IF; END $$""")


@pytest.fixture
def database(pg_server, wedsync_database, api_roles) -> tuple[PostgresServer, str, str]:
    return pg_server, wedsync_database, pg_server.dsn(dbname=wedsync_database)


def test_a_clean_copy_of_the_reference_schema_has_no_findings(database) -> None:
    assert validate(database[2]) == []


DEFINER = ("CREATE FUNCTION public.client_count() RETURNS bigint LANGUAGE sql SECURITY DEFINER "
           "SET search_path = '' AS 'SELECT count(*) FROM public.couples'; "
           "REVOKE EXECUTE ON FUNCTION public.client_count() FROM PUBLIC; ")

DEFECTS = {
    "rls_disabled_in_public": (
        "CREATE TABLE public.supplier_notes (id int PRIMARY KEY, body text)",
        "public.supplier_notes"),
    "policy_exists_rls_disabled": (
        "ALTER TABLE public.core_fields DISABLE ROW LEVEL SECURITY", "public.core_fields"),
    "rls_enabled_no_policy": (
        "DROP POLICY own_couple ON public.form_submissions", "public.form_submissions"),
    "anon_security_definer_function_executable": (
        DEFINER + "GRANT EXECUTE ON FUNCTION public.client_count() TO anon",
        "public.client_count()"),
    "authenticated_security_definer_function_executable": (
        DEFINER + "GRANT EXECUTE ON FUNCTION public.client_count() TO authenticated",
        "public.client_count()"),
    "function_search_path_mutable": (
        "CREATE FUNCTION public.wedding_count() RETURNS bigint LANGUAGE sql "
        "AS 'SELECT count(*) FROM public.weddings'", "public.wedding_count()"),
    "unindexed_foreign_keys": (
        "DROP INDEX public.weddings_couple_id_idx", "public.weddings"),
    "no_primary_key": (
        "ALTER TABLE public.load_test_results DROP CONSTRAINT load_test_results_pkey",
        "public.load_test_results"),
    "duplicate_index": (
        "CREATE INDEX weddings_date_again ON public.weddings (wedding_date)",
        "weddings_date_again"),
    "required_tables_missing": (
        "DROP TABLE public.core_fields", "core_fields"),
    "slow_statements": ("SELECT pg_sleep(0.6)", "(threshold 500 ms)"),
}


@pytest.mark.parametrize("check", sorted(DEFECTS))
def test_each_check_finds_exactly_its_defect(database, check: str) -> None:
    server, name, dsn = database
    defect, named = DEFECTS[check]
    server.execute(defect, dbname=name)
    findings = validate(dsn)
    assert checks(findings) == [check], [f.message for f in findings]
    assert named in findings[0].message
    assert findings[0].recommendation


def test_low_cache_hit_ratio_is_found_once_there_is_traffic_to_judge(database) -> None:
    server, name, dsn = database
    # A table four times larger than a quarter of shared_buffers is scanned through a small
    # ring of buffers: nearly every block is a read.
    server.execute("CREATE TABLE public.scan_me AS SELECT g AS id, repeat('x', 200) AS pad "
                   "FROM generate_series(1, 150000) g; ALTER TABLE public.scan_me ADD PRIMARY "
                   "KEY (id); ALTER TABLE public.scan_me ENABLE ROW LEVEL SECURITY; CREATE "
                   "POLICY none ON public.scan_me USING (false)", dbname=name)
    for _ in range(3):
        server.execute("SELECT count(*) FROM public.scan_me", dbname=name)
    settings = replace(DEFAULTS, cache_min_blocks=5000)
    findings = validate(dsn, settings)
    assert checks(findings) == ["cache_hit_ratio_low"], [f.message for f in findings]
    # Below the traffic threshold it is not judged at all.
    assert validate(dsn, dataclasses.replace(settings, cache_min_blocks=10**9)) == []


def test_connection_usage_above_the_threshold_is_found() -> None:
    with PostgresServer(stat_statements=False,
                        settings={"max_connections": "6",
                                  "superuser_reserved_connections": "0"}) as server:
        # No schema and no pg_stat_statements here: only an info note about the latter.
        clean = validate(server.dsn(), replace(DEFAULTS, required_tables=()))
        assert [f.check for f in clean] == [None]
        held = [psycopg.connect(server.dsn()) for _ in range(4)]
        try:
            findings = validate(server.dsn(), replace(DEFAULTS, required_tables=()))
        finally:
            for conn in held:
                conn.close()
    found = [f for f in findings if f.check]
    assert [(f.check, f.severity) for f in found] == [("connection_usage_high", "warning")]
    assert "5 of 6 connections" in found[0].message
