"""The connection-pooler probe against a real PgBouncer (Debian's) in front of a throwaway
PostgreSQL, with real clients holding and waiting for its two server connections."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from exporter.config.model import PoolerTarget
from exporter.probes.base import ProbeError, ProbeOutcome
from exporter.probes.pgbouncer import PgBouncerProbe
from harness.pgbouncer import PgBouncerServer, available
from harness.postgres import PostgresServer
from tests.probes_support import TIMING, probe_once
from tests.support import eventually

pytestmark = pytest.mark.skipif(not available(), reason="Debian's pgbouncer is not installed")

SECRET = "pooler-s3cret"


@pytest.fixture(scope="module")
def backend() -> Iterator[PostgresServer]:
    with PostgresServer(stat_statements=False) as server:
        for db in ("app", "billing"):
            server.execute(f"CREATE DATABASE {db}")
        server.execute("CREATE ROLE app_user LOGIN")
        yield server


@pytest.fixture(scope="module")
def pgbouncer(backend: PostgresServer) -> Iterator[PgBouncerServer]:
    with PgBouncerServer(backend.port, databases=("postgres", "app", "billing"), pool_size=2,
                         max_client_conn=40, password=SECRET,
                         users=("postgres", "app_user", "nobody_stats")) as server:
        yield server


def target(url: str, **kw: Any) -> PoolerTarget:
    return PoolerTarget(name="pgbouncer", url=url, **{**TIMING, **kw})


def series(outcome: ProbeOutcome | ProbeError, name: str) -> dict[tuple[str, ...], float]:
    """``name``'s samples keyed by their label values other than target."""
    assert isinstance(outcome, ProbeOutcome), outcome
    return {tuple(v for k, v in s.labels.items() if k != "target"): s.value
            for s in outcome.samples if s.name == name}


def probe_when(probe_target: PoolerTarget, key: tuple[str, str],
               clients: float) -> ProbeOutcome | None:
    """One probe's outcome if it shows ``clients`` pooler clients under ``key``, else None."""
    outcome = probe_once(PgBouncerProbe(probe_target))
    return outcome if series(outcome, "wedsync_pooler_clients")[key] == clients else None


@contextmanager
def clients_in_transactions(server: PgBouncerServer, count: int,
                            dbname: str = "postgres") -> Iterator[list[psycopg.Connection]]:
    """``count`` clients that each open a transaction and hold it until the block ends; with a
    pool of two, the others wait inside their first query for a server connection."""
    release = threading.Event()
    started: list[psycopg.Connection] = []
    lock = threading.Lock()

    def client() -> None:
        with psycopg.connect(server.dsn(dbname=dbname), connect_timeout=5) as conn:
            with lock:
                started.append(conn)
            conn.execute("SELECT 1")  # BEGIN + SELECT: the transaction holds a server
            release.wait(30)
            conn.rollback()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    try:
        eventually(lambda: len(started) == count, timeout=10)
        yield started
    finally:
        release.set()
        for thread in threads:
            thread.join(15)


def test_five_clients_on_a_pool_of_two_show_three_waiting(pgbouncer: PgBouncerServer) -> None:
    probe_target = target(pgbouncer.admin_dsn())
    with clients_in_transactions(pgbouncer, 5):
        outcome = eventually(lambda: probe_when(probe_target, ("postgres", "waiting"), 3))
        clients = series(outcome, "wedsync_pooler_clients")
        servers = series(outcome, "wedsync_pooler_server_connections")
        assert clients[("postgres", "active")] == 2
        assert servers[("postgres", "active")] == 2
        assert series(outcome, "wedsync_pooler_pool_size")[("postgres",)] == 2
        assert series(outcome, "wedsync_pooler_max_wait_seconds")[("postgres",)] > 0
        assert series(outcome, "wedsync_pooler_max_client_connections")[()] == 40
        assert outcome.details["clients_waiting"] == 3

    # Once the holders commit, nobody waits and the transactions have been counted.
    after = eventually(lambda: probe_when(probe_target, ("postgres", "waiting"), 0))
    assert series(after, "wedsync_pooler_max_wait_seconds")[("postgres",)] == 0
    assert series(after, "wedsync_pooler_transactions_total")[("postgres",)] >= 5
    assert series(after, "wedsync_pooler_queries_total")[("postgres",)] >= 5
    # The three that waited add their wait to the counter (PgBouncer counts microseconds).
    assert series(after, "wedsync_pooler_client_wait_seconds_total")[("postgres",)] > 0


def test_the_admin_console_itself_is_not_a_pooled_database(pgbouncer: PgBouncerServer) -> None:
    outcome = probe_once(PgBouncerProbe(target(pgbouncer.admin_dsn())))
    databases = {k[0] for k in series(outcome, "wedsync_pooler_clients")}
    assert databases == {"postgres", "app", "billing"}


def test_pools_of_several_users_are_summed_and_their_capacity_added(
        pgbouncer: PgBouncerServer) -> None:
    with clients_in_transactions(pgbouncer, 1, dbname="app"), psycopg.connect(
            pgbouncer.dsn(dbname="app", user="app_user"), autocommit=False) as other:
        other.execute("SELECT 1")
        outcome = probe_once(PgBouncerProbe(target(pgbouncer.admin_dsn())))
        other.rollback()
    assert series(outcome, "wedsync_pooler_clients")[("app", "active")] == 2
    assert series(outcome, "wedsync_pooler_server_connections")[("app", "active")] == 2
    # Two users, a pool of two each.
    assert series(outcome, "wedsync_pooler_pool_size")[("app",)] == 4


def test_only_configured_databases_keep_their_label(pgbouncer: PgBouncerServer) -> None:
    with clients_in_transactions(pgbouncer, 1, dbname="billing"):
        outcome = probe_once(PgBouncerProbe(target(pgbouncer.admin_dsn(),
                                                   databases=("postgres", "app"))))
    clients = series(outcome, "wedsync_pooler_clients")
    assert {k[0] for k in clients} == {"postgres", "app", "other"}
    assert clients[("other", "active")] == 1
    assert series(outcome, "wedsync_pooler_databases_folded")[()] == 1
    assert series(outcome, "wedsync_pooler_pool_size")[("other",)] == 2


def test_without_configured_databases_a_cap_keeps_the_first_by_name(
        pgbouncer: PgBouncerServer) -> None:
    outcome = probe_once(PgBouncerProbe(target(pgbouncer.admin_dsn(), max_databases=1)))
    assert {k[0] for k in series(outcome, "wedsync_pooler_clients")} == {"app", "other"}
    assert series(outcome, "wedsync_pooler_databases_folded")[()] == 2


@pytest.mark.parametrize(("user", "password", "reason", "message"), [
    ("wedsync_stats", "wrong", "auth", "authentication failed"),
    ("app_user", SECRET, "auth", "stats_users"),
])
def test_credentials_the_console_refuses_are_auth_failures(
        pgbouncer: PgBouncerServer, user: str, password: str, reason: str,
        message: str) -> None:
    error = probe_once(PgBouncerProbe(target(pgbouncer.admin_dsn(user=user,
                                                                 password=password))))
    assert isinstance(error, ProbeError)
    assert (error.reason, message in error.message) == (reason, True)
    assert password not in error.message and "127.0.0.1" not in error.message


def test_a_postgresql_instead_of_the_console_is_a_protocol_failure(
        backend: PostgresServer) -> None:
    error = probe_once(PgBouncerProbe(target(backend.dsn())))
    assert isinstance(error, ProbeError)
    assert error.reason == "protocol" and "pgbouncer" in error.message


def test_a_stopped_pgbouncer_is_a_connect_failure_and_the_probe_recovers(
        backend: PostgresServer) -> None:
    with PgBouncerServer(backend.port) as server:
        probe = PgBouncerProbe(target(server.admin_dsn()))

        async def run() -> ProbeOutcome | ProbeError:
            try:
                return await probe.run()
            except ProbeError as exc:
                return exc

        async def story() -> list[ProbeOutcome | ProbeError]:
            results = [await run()]
            server.stop()
            results.append(await run())
            server.start()
            results.append(await run())
            await probe.close()
            return results

        up, down, again = asyncio.run(story())
    assert isinstance(up, ProbeOutcome) and isinstance(again, ProbeOutcome)
    assert isinstance(down, ProbeError) and down.reason == "connect"


def test_max_db_connections_caps_the_pool_size_of_several_users(backend: PostgresServer) -> None:
    server = PgBouncerServer(backend.port, databases=("app",), pool_size=2,
                             users=("postgres", "app_user"),
                             settings={"max_db_connections": "3"})
    with server, psycopg.connect(server.dsn(dbname="app")) as one, psycopg.connect(
            server.dsn(dbname="app", user="app_user")) as two:
        one.execute("SELECT 1")
        two.execute("SELECT 1")
        outcome = probe_once(PgBouncerProbe(target(server.admin_dsn())))
    # Two user pools of two would be four; max_db_connections allows three.
    assert series(outcome, "wedsync_pooler_pool_size")[("app",)] == 3
