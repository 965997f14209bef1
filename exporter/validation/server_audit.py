"""The database server's own security: encryption in transit, password hashing, roles that
bypass Row Level Security, and WAL archiving (backups).

Unlike the object checks these look at the server, not the schema: a clean copy of the
reference schema on a server without TLS or archiving still has findings here. The probe's
own role (the target's login) is always allowed its privileges; others must be in
``validation.privileged_roles``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from exporter.config.model import DatabaseTarget
from exporter.db.archiving import read_archiver
from exporter.validation.findings import Finding
from exporter.validation.settings import ValidationSettings

Check = Callable[[AsyncConnection, DatabaseTarget, ValidationSettings], Awaitable[list[Finding]]]

TRANSPORT_SQL = """
SELECT current_setting('ssl') AS ssl, current_setting('password_encryption') AS hashing,
       coalesce((SELECT s.ssl FROM pg_stat_ssl s WHERE s.pid = pg_backend_pid()), false)
         AS encrypted,
       (SELECT a.client_addr IS NULL FROM pg_stat_activity a WHERE a.pid = pg_backend_pid())
         AS unix_socket
"""
ROLES_SQL = """
SELECT rolname, rolsuper, rolbypassrls FROM pg_roles
 WHERE rolcanlogin AND (rolsuper OR rolbypassrls)
   AND rolname <> ALL(%(allowed)s) AND rolname NOT IN (current_user, session_user)
 ORDER BY rolname
"""


async def _one(conn: AsyncConnection, query: str, params: dict[str, Any] | None = None
               ) -> list[dict[str, Any]]:
    async with conn.cursor() as cur:
        await cur.execute(query, params)  # type: ignore[arg-type]
        names = [d.name for d in cur.description or []]
        return [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]


async def transport(conn: AsyncConnection, target: DatabaseTarget,
                    settings: ValidationSettings) -> list[Finding]:
    """ssl off; the probe's own TCP connection not encrypted; password hashing not scram."""
    row = (await _one(conn, TRANSPORT_SQL))[0]
    findings = []
    if row["ssl"] != "on":
        findings.append(Finding(
            "ssl_off", "error",
            f"{target.name}: the server has ssl = off: every connection, passwords and wedding "
            f"data included, crosses the network unencrypted",
            "Turn ssl on (ssl_cert_file, ssl_key_file) and make clients use sslmode=require "
            "or verify-full; on hostssl-only pg_hba.conf plain TCP logins are refused."))
    elif not row["encrypted"] and not row["unix_socket"]:
        findings.append(Finding(
            "connection_not_encrypted", "warning",
            f"{target.name}: the server offers TLS but the exporter's own connection is not "
            f"encrypted (pg_stat_ssl), so other clients may not be either",
            "Add sslmode=require (or verify-full) to the DSN, and use hostssl lines in "
            "pg_hba.conf so that the server refuses plain TCP logins."))
    if row["hashing"] != "scram-sha-256":
        findings.append(Finding(
            "password_encryption_weak", "warning",
            f"{target.name}: password_encryption is {row['hashing']}, so new passwords are "
            f"stored as {row['hashing']} hashes, not scram-sha-256",
            "SET password_encryption = 'scram-sha-256', re-set every login role's password, "
            "and use scram-sha-256 in pg_hba.conf."))
    return findings


async def privileged_roles(conn: AsyncConnection, target: DatabaseTarget,
                           settings: ValidationSettings) -> list[Finding]:
    """Login roles that are superuser or bypass RLS, other than the allowed and the probe's."""
    rows = await _one(conn, ROLES_SQL, {"allowed": list(settings.privileged_roles)})
    findings = []
    for row in rows:
        powers = " and ".join(p for p, has in (("superuser", row["rolsuper"]),
                                                 ("BYPASSRLS", row["rolbypassrls"])) if has)
        findings.append(Finding(
            "login_role_bypasses_rls", "error",
            f"{target.name}: login role {row['rolname']} is {powers}: whoever holds its "
            f"password reads every supplier's and couple's rows past Row Level Security",
            "ALTER ROLE ... NOBYPASSRLS NOSUPERUSER (or NOLOGIN), or list it in "
            "validation.privileged_roles if it must keep them."))
    return findings


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


async def archiving(conn: AsyncConnection, target: DatabaseTarget,
                    settings: ValidationSettings) -> list[Finding]:
    """WAL archiving off, failing or behind (what PostgreSQL's archiver reports)."""
    state = await read_archiver(conn)
    name = target.name
    if state.replica and state.mode != "always":
        return []  # a replica's WAL is archived by its primary
    if not state.enabled or state.destination_set is False:
        saw = (f"archive_mode = {state.mode}" if not state.enabled
               else f"archive_mode = {state.mode} but neither archive_command nor "
                    f"archive_library is set")
        return [Finding(
            "wal_archiving_off", settings.archiving_off_severity,
            f"{name}: PostgreSQL does not archive WAL ({saw}): without archived WAL there is "
            f"no point-in-time recovery, only the last base backup",
            "Set archive_mode = on and an archive_command (e.g. WAL-G or pgBackRest). Where "
            "WAL is archived another way (a managed platform, pg_receivewal), lower "
            "validation.archiving_off_severity.")]
    findings = []
    if state.failing:
        findings.append(Finding(
            "wal_archiving_failing", "error",
            f"{name}: WAL archiving is failing: the last attempt (segment "
            f"{state.last_failed_wal}) failed and nothing was archived since; {state.failed} "
            f"failures since the archiver's statistics were reset",
            "Read the server log for the archive_command's error (disk full, credentials, "
            "network) and fix it: finished WAL stays on the server's disk until it is "
            "archived."))
    age = state.oldest_pending_age
    if age is not None and age > settings.archive_max_pending_age:
        findings.append(Finding(
            "wal_archiving_behind", "warning",
            f"{name}: {state.pending} finished WAL segments wait for the archiver, the oldest "
            f"for {_ago(age)} (limit {_ago(settings.archive_max_pending_age)})",
            "The archive_command is too slow for the write rate, or stuck: check its "
            "destination and run it in parallel (WAL-G, pgBackRest async)."))
    return findings


@dataclass(frozen=True)
class ServerCheck:
    """One function, the checks (name, default severity) it reports, and the validation
    types that run it."""

    checks: tuple[tuple[str, str], ...]
    run: Check
    kinds: tuple[str, ...]


# Archiving is both a security (backups) and a performance (WAL piling up on disk) concern.
SERVER_CHECKS: tuple[ServerCheck, ...] = (
    ServerCheck((("ssl_off", "error"), ("connection_not_encrypted", "warning"),
                 ("password_encryption_weak", "warning")), transport, ("security",)),
    ServerCheck((("login_role_bypasses_rls", "error"),), privileged_roles, ("security",)),
    ServerCheck((("wal_archiving_off", "error"), ("wal_archiving_failing", "error"),
                 ("wal_archiving_behind", "warning")), archiving, ("security", "performance")),
)


def checks_of(kind: str, settings: ValidationSettings | None = None) -> list[tuple[str, str]]:
    """(check, severity) of the server checks of a validation type."""
    found = []
    for check in SERVER_CHECKS:
        if kind in check.kinds:
            for name, severity in check.checks:
                if name == "wal_archiving_off" and settings is not None:
                    severity = settings.archiving_off_severity
                found.append((name, severity))
    return found


def runs_of(kind: str) -> list[Check]:
    """The functions to run for a validation type."""
    return [check.run for check in SERVER_CHECKS if kind in check.kinds]
