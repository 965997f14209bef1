"""Optional history: each run as a row of ``load_test_results`` (DESIGN.md; the reference
schema is ``sandbox/schema.sql``).

The database URL comes from the environment only (``LOADTEST_DATABASE_URL``), never from the
command line. The table has Row Level Security with no client policy, so the role writing must
bypass RLS (Supabase's ``service_role``, or the table's owner).
"""

from __future__ import annotations

from typing import Any

import psycopg

DATABASE_URL_VARIABLE = "LOADTEST_DATABASE_URL"

INSERT_SQL = """
INSERT INTO public.load_test_results (
    test_name, test_type, virtual_users, duration_seconds, total_requests, successful_requests,
    failed_requests, average_response_time_ms, p95_response_time_ms, p99_response_time_ms,
    throughput_rps, error_rate_percent, started_at, completed_at)
VALUES (%(test_name)s, %(test_type)s, %(virtual_users)s, %(duration_seconds)s,
        %(total_requests)s, %(successful_requests)s, %(failed_requests)s,
        %(average_response_time_ms)s, %(p95_response_time_ms)s, %(p99_response_time_ms)s,
        %(throughput_rps)s, %(error_rate_percent)s, %(started_at)s, %(completed_at)s)
RETURNING id
"""


class HistoryError(RuntimeError):
    """The row could not be written; the message is safe to print (no URL, no password)."""


def history_row(summary: dict[str, Any]) -> dict[str, Any]:
    """The ``load_test_results`` columns of a run summary."""
    overall = summary["overall"]
    requests = int(overall.get("requests") or 0)
    failed = int(overall.get("failed_requests") or 0)
    failure_rate = overall.get("failure_rate")
    duration = summary.get("duration_seconds")
    return {
        "test_name": summary.get("testid") or "unnamed",
        "test_type": summary.get("test_type") or "load",
        "virtual_users": overall.get("vus_max"),
        "duration_seconds": None if duration is None else round(duration),
        "total_requests": requests,
        "successful_requests": requests - failed,
        "failed_requests": failed,
        "average_response_time_ms": overall.get("avg_ms"),
        "p95_response_time_ms": overall.get("p95_ms"),
        "p99_response_time_ms": overall.get("p99_ms"),
        "throughput_rps": overall.get("throughput_rps"),
        "error_rate_percent": None if failure_rate is None else failure_rate * 100,
        "started_at": summary.get("started_at"),
        "completed_at": summary.get("finished_at"),
    }


def record(summary: dict[str, Any], database_url: str) -> str:
    """Insert the run; the new row's id."""
    try:
        with psycopg.connect(database_url, connect_timeout=10,
                             application_name="wedsync-loadtest") as connection:
            row = connection.execute(INSERT_SQL, history_row(summary)).fetchone()
    except psycopg.Error as exc:
        # Driver messages can carry the host and user; the class name and SQLSTATE do not.
        state = f", SQLSTATE {exc.sqlstate}" if exc.sqlstate else ""
        raise HistoryError(f"could not record the run in load_test_results "
                           f"({type(exc).__name__}{state}); is the table there "
                           f"(sandbox/schema.sql) and may this role insert into it?") from None
    if row is None:
        raise HistoryError("could not record the run in load_test_results (no id returned)")
    return str(row[0])
