"""The performance_logs tailer starts at "now", counts every committed row exactly once — even
rows committed out of order or many with one created_at — and never double-counts after a
restart."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import psycopg
import pytest

from exporter.db.pool import PgPool
from exporter.ingestion.recorder import Ingestion
from exporter.ingestion.settings import ingestion_settings
from exporter.ingestion.tail import Tailer, TailPosition
from exporter.metrics.store import MetricStore
from tests.support import exporter_config, value, wait_metrics

INSERT = ("INSERT INTO performance_logs (endpoint, method, response_time_ms, status_code) "
          "VALUES ('/api/clients/' || %s, 'GET', %s, 200)")


class Harness:
    """A tailer on one database, with the rows it has recorded so far (no settle margin:
    out-of-order commits must be caught by the open-transaction horizon alone)."""

    def __init__(self, dsn: str, batch_size: int = 5000) -> None:
        self.dsn = dsn
        self.store = MetricStore()
        self.ingestion = Ingestion(self.store)
        self.batch_size = batch_size
        self.position = TailPosition()

    def restart(self) -> None:
        """A new process: new metrics, and a position that starts at "now"."""
        self.store = MetricStore()
        self.ingestion = Ingestion(self.store)
        self.position = TailPosition()

    def run_pass(self) -> int:
        async def once() -> int:
            pool = PgPool(self.dsn, size=1)
            try:
                tailer = Tailer(pool, self.ingestion, replace(
                    ingestion_settings({}).tail, enabled=True, batch_size=self.batch_size,
                    settle=0.0), self.position,
                    budget=5.0)
                return (await tailer.run_pass()).counted
            finally:
                await pool.close()

        return asyncio.run(once())

    def recorded(self) -> float:
        return self.store.get("wedsync_ingest_events_total", {"result": "accepted"}) or 0


def insert(dsn: str, *numbers: int, elapsed: int = 50) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for n in numbers:
            conn.execute(INSERT, (str(n), elapsed))


@pytest.fixture
def dsn(pg_server, wedsync_database) -> str:
    return pg_server.dsn(dbname=wedsync_database)


def test_rows_already_there_at_start_are_not_counted(dsn: str) -> None:
    insert(dsn, 1, 2, 3)
    tail = Harness(dsn)
    assert tail.run_pass() == 0
    insert(dsn, 4, 5)
    assert tail.run_pass() == 2
    assert tail.run_pass() == 0
    assert tail.recorded() == 2
    histogram = tail.store.histogram("wedsync_http_request_duration_seconds")
    # (A route's 5xx series is created at zero with the route; only counted series matter.)
    assert [(s.key, s.count) for s in histogram.snapshot() if s.count] == [
        (("/api/clients/:id", "GET", "2xx"), 2)]


def test_a_restart_never_counts_a_row_twice(dsn: str) -> None:
    tail = Harness(dsn)
    tail.run_pass()
    insert(dsn, 1, 2)
    assert tail.run_pass() == 2
    tail.restart()
    # The new process sees the same recent rows but starts at "now".
    assert tail.run_pass() == 0
    insert(dsn, 3)
    assert tail.run_pass() == 1


def test_a_row_committed_after_later_rows_is_counted_once(dsn: str) -> None:
    tail = Harness(dsn)
    tail.run_pass()
    late = psycopg.connect(dsn)  # a transaction: its row's created_at is its start time
    try:
        late.execute(INSERT, ("100", 900))
        insert(dsn, 101)  # a later row, committed first
        assert tail.run_pass() == 1
        late.commit()
    finally:
        late.close()
    with psycopg.connect(dsn) as conn:
        early, later = conn.execute(
            "SELECT created_at FROM performance_logs ORDER BY endpoint").fetchall()
    assert early < later  # it really was committed out of order
    assert tail.run_pass() == 1
    assert tail.run_pass() == 0
    assert tail.recorded() == 2


def test_many_rows_with_one_created_at_are_all_read_in_batches(dsn: str) -> None:
    tail = Harness(dsn, batch_size=10)
    tail.run_pass()
    with psycopg.connect(dsn) as conn:  # one transaction: one now() for every row
        for n in range(25):
            conn.execute(INSERT, (str(n), 20))
    assert tail.run_pass() == 25
    assert tail.run_pass() == 0


def test_invalid_rows_are_rejected_and_counted_like_posted_events(dsn: str) -> None:
    tail = Harness(dsn)
    tail.run_pass()
    insert(dsn, 1, elapsed=-5)
    insert(dsn, 2)
    assert tail.run_pass() == 2
    assert tail.recorded() == 1
    assert tail.store.get("wedsync_ingest_rejected_total", {"reason": "invalid_value"}) == 1


def test_the_exporter_tails_when_configured(make_exporter: Callable[..., Any], pg_server,
                                            wedsync_database: str, dsn: str) -> None:
    exporter = make_exporter(exporter_config(
        database=[{"name": "primary", "dsn": "${PG_DSN}"}],
        ingestion={"performance_logs": {"enabled": True, "interval": "1s"}}),
        env={"PG_DSN": dsn})
    exporter.wait_ready()
    insert(dsn, 7, 8, 9)
    text = wait_metrics(exporter, lambda t: value(
        t, "wedsync_ingest_events_total", result="accepted") == 3)
    assert value(text, "wedsync_http_request_duration_seconds_count", route="/api/clients/:id",
                 method="GET", status_class="2xx") == 3
    assert value(text, "wedsync_ingest_tail_last_row_timestamp_seconds") > 0
    assert value(text, "wedsync_ingest_tail_last_run_success") == 1


def test_a_missing_table_shows_as_a_failing_tail(make_exporter: Callable[..., Any], pg_server,
                                                 wedsync_database: str, dsn: str) -> None:
    pg_server.execute("DROP TABLE performance_logs", dbname=wedsync_database)
    exporter = make_exporter(exporter_config(
        database=[{"name": "primary", "dsn": "${PG_DSN}"}],
        ingestion={"performance_logs": {"enabled": True, "interval": "1s"}}),
        env={"PG_DSN": dsn})
    wait_metrics(exporter, lambda t: value(t, "wedsync_ingest_tail_last_run_success") == 0)
    assert "performance_logs tail primary" in exporter.logs()
