"""Fixtures shared by the suite: throwaway servers and exporter processes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.exporter import ExporterProcess
from harness.postgres import EXTENSIONS_SQL, PostgresServer
from harness.redis import RedisServer
from harness.sandbox import SandboxServer
from harness.stack import Stack, StackOptions
from tests import scheduling
from tests.support import CANARY_ANON_KEY, CANARY_PASSWORD, PROBE_EMAIL

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist: the longest work first, a module with a module-scoped fixture on one worker
    (tests/scheduling.py)."""
    scheduling.arrange(config, items)


@pytest.fixture(scope="session")
def schema_sql() -> str:
    return (REPO / "sandbox" / "schema.sql").read_text()


@pytest.fixture(scope="session")
def pg_server(schema_sql: str) -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL (pg_stat_statements preloaded) with the reference schema in
    database ``wedsync``; tests may add roles and rows but must not stop or pause it."""
    with PostgresServer() as server:
        server.execute("CREATE DATABASE wedsync")
        server.execute(schema_sql, dbname="wedsync")
        server.execute(EXTENSIONS_SQL, dbname="wedsync")
        yield server


@pytest.fixture
def make_exporter() -> Iterator[Callable[..., ExporterProcess]]:
    """Start exporter processes that are stopped when the test ends."""
    started: list[ExporterProcess] = []

    def start(config: dict[str, Any], env: dict[str, str] | None = None,
              wait: bool = True) -> ExporterProcess:
        exporter = ExporterProcess(config, env=env)
        started.append(exporter)
        return exporter.start(wait=wait)

    yield start
    for exporter in started:
        exporter.stop()


@pytest.fixture
def breakable_pg() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL that the test may stop, pause or restart."""
    with PostgresServer(stat_statements=False) as server:
        yield server


@pytest.fixture
def breakable_redis() -> Iterator[RedisServer]:
    """A throwaway Redis that the test may stop, pause or restart."""
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    """One sandbox process for the session, with the canary anon key and probe password."""
    with SandboxServer(anon_key=CANARY_ANON_KEY, probe_email=PROBE_EMAIL,
                       probe_password=CANARY_PASSWORD) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> Iterator[SandboxServer]:
    """The session's sandbox with no faults at the start and the end of the test."""
    sandbox_server.clear_faults()
    yield sandbox_server
    sandbox_server.clear_faults()


@pytest.fixture(scope="session")
def wedsync_template(pg_server: PostgresServer, schema_sql: str) -> str:
    """A template database holding the reference schema (with RLS on) and pg_stat_statements,
    from which tests clone a fresh database each."""
    pg_server.execute("CREATE DATABASE wedsync_template")
    pg_server.execute(schema_sql, dbname="wedsync_template")
    pg_server.execute(EXTENSIONS_SQL, dbname="wedsync_template")
    return "wedsync_template"


@pytest.fixture
def wedsync_database(pg_server: PostgresServer, wedsync_template: str,
                     request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh copy of the reference schema in its own database (its name); dropped after."""
    name = "t_" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:16]
    pg_server.execute(f'DROP DATABASE IF EXISTS "{name}"')
    pg_server.execute(f'CREATE DATABASE "{name}" TEMPLATE {wedsync_template}')
    yield name
    pg_server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def make_stack() -> Iterator[Callable[..., Stack]]:
    """Start whole stacks (harness.stack.Stack: exporter, Prometheus, Alertmanager, webhook)
    that are stopped when the test ends: ``make_stack(scrape_interval="1s", ...)`` takes the
    fields of StackOptions."""
    started: list[Stack] = []

    def start(**options: Any) -> Stack:
        stack = Stack(StackOptions(**options))
        started.append(stack)
        return stack.start()

    yield start
    for stack in reversed(started):
        stack.stop()
