"""A PostgreSQL with every connection slot taken answers, and says why: the probe reports
reason ``refused`` with its own message, not "cannot reach the database"."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator

import psycopg
import pytest

from exporter.db.errors import classify
from exporter.db.pool import PgPool
from harness.postgres import PostgresServer
from tests.support import exporter_config, value, wait_metrics

MESSAGE = "the database has no free connection slots (max_connections reached)"


@pytest.fixture(scope="module")
def small_pg() -> Iterator[PostgresServer]:
    with PostgresServer(stat_statements=False, settings={
            "max_connections": "5", "superuser_reserved_connections": "2"}) as server:
        server.execute("CREATE ROLE app LOGIN")
        yield server


def _fill(server: PostgresServer, count: int) -> list[psycopg.Connection]:
    return [psycopg.connect(server.dsn(), autocommit=True) for _ in range(count)]


def _connect_error(dsn: str) -> BaseException:
    async def attempt() -> BaseException:
        pool = PgPool(dsn, size=1)
        try:
            await pool.run(lambda conn: conn.execute("SELECT 1"))
        except Exception as exc:  # the driver's own error, as the probe sees it
            return exc
        finally:
            await pool.close()
        raise AssertionError("the connection was not refused")

    return asyncio.run(attempt())


def test_too_many_clients_is_refused_with_its_own_message(small_pg) -> None:
    held = _fill(small_pg, 5)
    try:
        error = classify(_connect_error(small_pg.dsn()))
    finally:
        for conn in held:
            conn.close()
    assert (error.reason, error.message) == ("refused", MESSAGE)
    assert "too many clients" in error.detail


def test_slots_reserved_for_superusers_are_refused_too(small_pg) -> None:
    held = _fill(small_pg, 3)  # 5 slots, 2 kept for superusers: a plain role finds none
    try:
        error = classify(_connect_error(small_pg.dsn(user="app")))
    finally:
        for conn in held:
            conn.close()
    assert (error.reason, error.message) == ("refused", MESSAGE)
    assert "remaining connection slots are reserved" in error.detail


def test_the_probe_counts_it_as_refused(small_pg, make_exporter) -> None:
    exporter = make_exporter(exporter_config(
        database=[{"name": "primary", "dsn": small_pg.dsn(user="app")}]))
    wait_metrics(exporter, lambda t: value(t, "wedsync_up", component="database",
                                           target="primary") == 1)
    held: list[psycopg.Connection] = []
    try:
        # Every slot a plain role may use taken (the exporter holds some of them).
        for _ in range(5):
            try:
                held.append(psycopg.connect(small_pg.dsn(), autocommit=True))
            except psycopg.OperationalError:
                break
        # A pooled connection still works; the probe is refused once it needs a new one,
        # and a reload starts with a fresh pool.
        exporter.signal(signal.SIGHUP)
        text = wait_metrics(exporter, lambda t: (value(
            t, "wedsync_probe_failures_total", component="database", target="primary",
            reason="refused") or 0) >= 1, timeout=15)
    finally:
        for conn in held:
            conn.close()
    assert value(text, "wedsync_probe_failures_total", component="database",
                 target="primary", reason="connect") == 0
