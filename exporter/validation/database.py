"""Database checks: Row Level Security, functions, views, extensions, grants to anon, indexes,
keys, required tables, slow statements, connection usage and the buffer cache (the server's
own settings, roles and WAL archiving are in ``server_audit``).

The lint names are those of Supabase's database advisor so that users recognise them; the SQL
is written here from the PostgreSQL catalogues. Object checks look at the schemas the API
exposes (``exposed_schemas`` of the database target, default ``public``) and skip objects that
belong to extensions. Everything runs in one read-only transaction per validation type.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection, sql

from exporter.config.model import DatabaseTarget
from exporter.validation import server_audit
from exporter.validation.findings import Finding
from exporter.validation.settings import ValidationSettings

Row = dict[str, Any]

_NOT_EXTENSION = """NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '{catalog}'::regclass
                              AND d.objid = {oid} AND d.deptype = 'e')"""
_TABLES = f"""
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(%(schemas)s)
   AND {_NOT_EXTENSION.format(catalog="pg_class", oid="c.oid")}"""
_HAS_POLICY = "EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)"
_FUNCTIONS = f"""
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE p.prokind IN ('f', 'p') AND n.nspname = ANY(%(schemas)s)
   AND {_NOT_EXTENSION.format(catalog="pg_proc", oid="p.oid")}"""
_INVOKER = ("coalesce(lower(array_to_string(c.reloptions, ',')) "
            "~ 'security_invoker=(1|true|yes|on)', false)")
_API_CAN_READ = """EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname IN ('anon', 'authenticated')
                            AND has_table_privilege(r.oid, c.oid, 'SELECT'))"""
_SIGNATURE = ("n.nspname || '.' || p.proname || '(' || "
              "pg_get_function_identity_arguments(p.oid) || ')'")


@dataclass(frozen=True)
class CatalogueCheck:
    """A check that is one catalogue query: each row it returns is one finding."""

    name: str
    kind: str
    severity: str
    query: str
    message: str
    recommendation: str
    # Further validation types that report it (every RLS finding is a security finding too).
    also: tuple[str, ...] = ()

    def runs_for(self, kind: str) -> bool:
        return kind == self.kind or kind in self.also


def _definer_check(role: str) -> CatalogueCheck:
    return CatalogueCheck(
        f"{role}_security_definer_function_executable", "security", "warning",
        f"""SELECT {_SIGNATURE} AS function {_FUNCTIONS} AND p.prosecdef
               AND EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = '{role}'
                            AND has_function_privilege(r.oid, p.oid, 'EXECUTE'))""",
        f"SECURITY DEFINER function {{function}} can be executed by the {role} role: it runs "
        f"with its owner's rights and bypasses Row Level Security",
        f"Revoke EXECUTE on it from {role} and PUBLIC, or make it SECURITY INVOKER, unless the "
        f"API must call it that way.",
    )


CATALOGUE_CHECKS: tuple[CatalogueCheck, ...] = (
    CatalogueCheck(
        "rls_disabled_in_public", "permissions", "critical",
        f"SELECT n.nspname || '.' || c.relname AS "
        f"table {_TABLES} AND NOT c.relrowsecurity AND NOT {_HAS_POLICY}",
        "table {table} is exposed to the API with Row Level Security disabled: every API user "
        "can read and change all of its rows",
        "ALTER TABLE ... ENABLE ROW LEVEL SECURITY and add policies that limit each supplier "
        "and couple to their own rows.", also=("security",),
    ),
    CatalogueCheck(
        "policy_exists_rls_disabled", "permissions", "critical",
        f"SELECT n.nspname || '.' || c.relname AS "
        f"table {_TABLES} AND NOT c.relrowsecurity AND {_HAS_POLICY}",
        "table {table} has policies but Row Level Security is disabled, so they are not "
        "enforced",
        "ALTER TABLE ... ENABLE ROW LEVEL SECURITY so that its policies apply.",
        also=("security",),
    ),
    CatalogueCheck(
        "rls_enabled_no_policy", "permissions", "info",
        f"SELECT n.nspname || '.' || c.relname AS "
        f"table {_TABLES} AND c.relrowsecurity AND NOT {_HAS_POLICY}",
        "table {table} has Row Level Security enabled but no policy: the API can read none of "
        "its rows",
        "Add the policies the API needs, or move the table out of the exposed schema.",
        also=("security",),
    ),
    _definer_check("anon"),
    _definer_check("authenticated"),
    CatalogueCheck(
        "function_search_path_mutable", "security", "warning",
        f"""SELECT {_SIGNATURE} AS function {_FUNCTIONS}
               AND NOT EXISTS (SELECT 1 FROM unnest(coalesce(p.proconfig, '{{}}')) setting
                                WHERE setting LIKE 'search_path=%%')""",
        "function {function} does not fix its search_path, so a caller's search_path decides "
        "which objects it uses",
        "Add SET search_path = '' to the function and schema-qualify the objects it uses.",
    ),
    CatalogueCheck(
        "security_definer_view", "security", "error",
        f"""SELECT n.nspname || '.' || c.relname AS view
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind = 'v' AND n.nspname = ANY(%(schemas)s)
               AND {_NOT_EXTENSION.format(catalog="pg_class", oid="c.oid")}
               AND NOT {_INVOKER} AND {_API_CAN_READ}""",
        "view {view} runs with its owner's rights (no security_invoker), so the API's users "
        "read through it past Row Level Security",
        "ALTER VIEW ... SET (security_invoker = on), or revoke SELECT on it from anon and "
        "authenticated.",
    ),
    CatalogueCheck(
        "auth_users_exposed", "security", "error",
        f"""SELECT DISTINCT n.nspname || '.' || c.relname AS view
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              JOIN pg_rewrite rw ON rw.ev_class = c.oid
              JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = rw.oid
                              AND d.refclassid = 'pg_class'::regclass
             WHERE c.relkind IN ('v', 'm') AND n.nspname = ANY(%(schemas)s)
               AND d.refobjid = to_regclass('auth.users')
               AND (c.relkind = 'm' OR NOT {_INVOKER}) AND {_API_CAN_READ}""",
        "{view} exposes auth.users (e-mail addresses, phone numbers, sign-in metadata) to the "
        "API's users",
        "Drop it, or move it out of the exposed schemas and read auth.users only through "
        "functions that return the caller's own row.",
    ),
    CatalogueCheck(
        "extension_in_public", "security", "warning",
        """SELECT e.extname AS extension, n.nspname AS schema
             FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
            WHERE n.nspname = 'public' OR n.nspname = ANY(%(schemas)s)""",
        "extension {extension} is installed in the exposed schema {schema}: its functions and "
        "tables are offered to the API",
        "Install extensions in a schema of their own (Supabase uses extensions): ALTER "
        "EXTENSION ... SET SCHEMA extensions, where the extension allows it.",
    ),
    CatalogueCheck(
        "anon_table_without_rls", "security", "critical",
        f"""SELECT n.nspname || '.' || c.relname AS table
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p') AND NOT c.relrowsecurity
               AND n.nspname NOT IN ('pg_catalog', 'information_schema')
               AND n.nspname NOT LIKE 'pg_toast%%'
               AND {_NOT_EXTENSION.format(catalog="pg_class", oid="c.oid")}
               AND EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = 'anon'
                            AND has_table_privilege(r.oid, c.oid,
                                                    'SELECT, INSERT, UPDATE, DELETE'))""",
        "table {table} is granted to anon (anyone holding the public anon key) and has Row "
        "Level Security disabled: signed-out visitors can read or change every row",
        "REVOKE ALL ON it FROM anon, or ENABLE ROW LEVEL SECURITY with policies for anon.",
    ),
    CatalogueCheck(
        "unindexed_foreign_keys", "performance", "warning",
        f"""SELECT n.nspname || '.' || c.relname AS table, con.conname AS constraint
              FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
              JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE con.contype = 'f' AND n.nspname = ANY(%(schemas)s)
               AND {_NOT_EXTENSION.format(catalog="pg_class", oid="c.oid")}
               AND NOT EXISTS (
                   SELECT 1 FROM pg_index i
                    WHERE i.indrelid = con.conrelid AND i.indpred IS NULL
                      AND cardinality(con.conkey) <= i.indnkeyatts
                      AND (i.indkey::int2[])[0:cardinality(con.conkey) - 1] @> con.conkey)""",
        "foreign key {constraint} on {table} has no index that starts with its columns: "
        "deletes and joins on it scan the whole table",
        "Create an index on the foreign key's columns.",
    ),
    CatalogueCheck(
        "no_primary_key", "schema", "warning",
        f"""SELECT n.nspname || '.' || c.relname AS table {_TABLES}
               AND NOT c.relispartition
               AND NOT EXISTS (SELECT 1 FROM pg_index i
                                WHERE i.indrelid = c.oid AND i.indisprimary)""",
        "table {table} has no primary key",
        "Add a primary key: replication, Realtime and efficient updates need one.",
    ),
    CatalogueCheck(
        "duplicate_index", "schema", "warning",
        f"""SELECT n.nspname || '.' || c.relname AS table,
                   string_agg(ic.relname, ', ' ORDER BY ic.relname) AS indexes
              FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
              JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = ANY(%(schemas)s)
               AND {_NOT_EXTENSION.format(catalog="pg_class", oid="c.oid")}
             GROUP BY n.nspname, c.relname, i.indrelid, i.indkey::text, i.indclass::text,
                      i.indcollation::text, i.indoption::text,
                      coalesce(pg_get_expr(i.indexprs, i.indrelid), ''),
                      coalesce(pg_get_expr(i.indpred, i.indrelid), '')
            HAVING count(*) > 1""",
        "table {table} has identical indexes {indexes}",
        "Drop all but one of them: each slows every write and takes space.",
    ),
)

REQUIRED_SQL = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
"""
STATEMENTS_SCHEMA_SQL = """
SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE e.extname = 'pg_stat_statements'
"""
SLOW_SQL = """
SELECT queryid, calls, mean_exec_time FROM {schema}.pg_stat_statements
 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND mean_exec_time > %(threshold_ms)s
 ORDER BY mean_exec_time DESC
"""
CONNECTIONS_SQL = """
SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend') AS used,
       current_setting('max_connections')::int AS max
"""
CACHE_SQL = """
SELECT blks_hit, blks_read FROM pg_stat_database WHERE datname = current_database()
"""


async def _rows(conn: AsyncConnection, query: Any, params: dict[str, Any] | None = None) -> list[
        Row]:
    async with conn.cursor() as cur:
        await cur.execute(query, params)
        names = [d.name for d in cur.description or []]
        return [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]


async def required_tables(conn: AsyncConnection, target: DatabaseTarget,
                          settings: ValidationSettings) -> list[Finding]:
    """Required tables: a bare name may be in any exposed schema, ``schema.table`` exactly."""
    present = {(r["nspname"], r["relname"]) for r in await _rows(conn, REQUIRED_SQL)}
    exposed = set(target.exposed_schemas)
    missing = []
    for name in settings.required_tables:
        schema, _, table = name.rpartition(".")
        found = ((schema, table) in present if schema
                 else any((s, table) in present for s in exposed))
        if not found:
            missing.append(name)
    return [Finding("required_tables_missing", "error",
                    f"{target.name}: required table {name} does not exist",
                    "Run the platform's migrations, or correct validation.required_tables.")
            for name in missing]


async def slow_statements(conn: AsyncConnection, target: DatabaseTarget,
                          settings: ValidationSettings) -> list[Finding]:
    """Statements whose mean time is above the target's slow_statement_threshold (only ids
    and timings: statement text may hold literals and is never shown)."""
    schema = await _rows(conn, STATEMENTS_SCHEMA_SQL)
    if not schema:
        return [Finding(None, "info", f"{target.name}: pg_stat_statements is not installed, "
                        "so slow statements cannot be checked",
                        "Preload pg_stat_statements and CREATE EXTENSION pg_stat_statements.")]
    query = sql.SQL(SLOW_SQL).format(schema=sql.Identifier(schema[0]["nspname"]))
    threshold_ms = target.slow_statement_threshold * 1000
    rows = await _rows(conn, query, {"threshold_ms": threshold_ms})
    return [Finding("slow_statements", "warning",
                    f"{target.name}: statement {r['queryid']} takes {r['mean_exec_time']:.0f} ms "
                    f"on average over {r['calls']} calls (threshold {threshold_ms:.0f} ms)",
                    "Look the statement up in pg_stat_statements by its queryid and add an "
                    "index or rewrite it.") for r in rows[:10]]


async def connection_usage(conn: AsyncConnection, target: DatabaseTarget,
                           settings: ValidationSettings) -> list[Finding]:
    """Client connections as a share of max_connections."""
    row = (await _rows(conn, CONNECTIONS_SQL))[0]
    usage = row["used"] / row["max"]
    if usage <= settings.connection_usage:
        return []
    return [Finding("connection_usage_high", "warning",
                    f"{target.name}: {row['used']} of {row['max']} connections in use "
                    f"({usage:.0%}, above {settings.connection_usage:.0%})",
                    "Use a connection pooler (Supavisor/PgBouncer) or raise max_connections "
                    "before peak load.")]


async def cache_hit_ratio(conn: AsyncConnection, target: DatabaseTarget,
                          settings: ValidationSettings) -> list[Finding]:
    """The buffer cache hit ratio of the database, once there is enough traffic to judge."""
    row = (await _rows(conn, CACHE_SQL))[0]
    total = row["blks_hit"] + row["blks_read"]
    if total < settings.cache_min_blocks:
        return []
    ratio = row["blks_hit"] / total
    if ratio >= settings.cache_hit_ratio:
        return []
    return [Finding("cache_hit_ratio_low", "warning",
                    f"{target.name}: buffer cache hit ratio is {ratio:.2%} (below "
                    f"{settings.cache_hit_ratio:.0%})",
                    "Give PostgreSQL more memory (shared_buffers) or find the statements that "
                    "read whole tables.")]


SpecialCheck = Callable[[AsyncConnection, DatabaseTarget, ValidationSettings], Any]
SPECIAL_CHECKS: dict[str, tuple[tuple[str, str, SpecialCheck], ...]] = {
    "schema": (("required_tables_missing", "error", required_tables),),
    "performance": (("slow_statements", "warning", slow_statements),
                    ("connection_usage_high", "warning", connection_usage),
                    ("cache_hit_ratio_low", "warning", cache_hit_ratio)),
}


def checks_of(kind: str, settings: ValidationSettings | None = None) -> list[tuple[str, str]]:
    """(check, default severity) of every database check of a validation type."""
    return [(c.name, c.severity) for c in CATALOGUE_CHECKS if c.runs_for(kind)] + [
        (name, severity) for name, severity, _ in SPECIAL_CHECKS.get(kind, ())] + [
        *server_audit.checks_of(kind, settings)]


async def validate_database(conn: AsyncConnection, target: DatabaseTarget, kind: str,
                            settings: ValidationSettings) -> list[Finding]:
    """Every finding of validation type ``kind`` on one database target."""
    findings: list[Finding] = []
    params = {"schemas": list(target.exposed_schemas)}
    async with conn.transaction():
        await conn.execute("SET TRANSACTION READ ONLY")
        for check in CATALOGUE_CHECKS:
            if not check.runs_for(kind):
                continue
            for row in await _rows(conn, check.query, params):
                findings.append(Finding(check.name, check.severity,
                                        f"{target.name}: {check.message.format(**row)}",
                                        check.recommendation))
        for _name, _severity, special in SPECIAL_CHECKS.get(kind, ()):
            findings += await special(conn, target, settings)
        for run in server_audit.runs_of(kind):
            findings += await run(conn, target, settings)
    return findings
