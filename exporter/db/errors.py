"""Map psycopg failures to the catalogue's failure reasons and short, safe messages."""

from __future__ import annotations

import psycopg

from exporter.probe_types import ProbeError

_AUTH_SQLSTATES = {"28000", "28P01", "42501"}

# The server answered but has no connection slot left (max_connections or the slots reserved
# for superusers): a capacity problem with its own runbook, not an unreachable database.
_NO_SLOTS_SQLSTATES = {"53300"}
_NO_SLOTS_TEXT = ("remaining connection slots are reserved", "too many clients already",
                  "too many connections for role", "too many connections for database")

_TIMEOUT_TEXT = ("timeout expired", "timed out", "canceling statement due to statement timeout")


def classify(exc: BaseException) -> ProbeError:
    """A ProbeError for a psycopg (or socket) failure; raw text is kept for debug logs only."""
    if isinstance(exc, ProbeError):
        return exc
    text = str(exc)
    lowered = text.lower()
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(exc, TimeoutError) or sqlstate == "57014" or any(
            t in lowered for t in _TIMEOUT_TEXT):
        return ProbeError("timeout", "the database did not answer in time", text)
    if sqlstate in _NO_SLOTS_SQLSTATES or any(t in lowered for t in _NO_SLOTS_TEXT):
        return ProbeError("refused", "the database has no free connection slots "
                          "(max_connections reached)", text)
    if sqlstate == "42501":
        return ProbeError("auth", "permission denied", text)
    if sqlstate in _AUTH_SQLSTATES:
        return ProbeError("auth", "authentication failed", text)
    if isinstance(exc, psycopg.Error) and not isinstance(exc, psycopg.OperationalError):
        return ProbeError("error", f"query failed ({sqlstate or type(exc).__name__})", text)
    if isinstance(exc, psycopg.OperationalError) and (
            "password" in lowered or "pg_hba.conf" in lowered
            or ("role" in lowered and "does not exist" in lowered)):
        return ProbeError("auth", "authentication failed", text)
    if isinstance(exc, psycopg.OperationalError | OSError | ConnectionError):
        if "database" in lowered and "does not exist" in lowered:
            return ProbeError("connect", "the database does not exist", text)
        if "refused" in lowered:
            return ProbeError("connect", "connection refused", text)
        if "the database system is starting up" in lowered or "shutting down" in lowered:
            return ProbeError("connect", "the server is starting up or shutting down", text)
        return ProbeError("connect", "cannot reach the database", text)
    return ProbeError("error", f"unexpected {type(exc).__name__}", text)
