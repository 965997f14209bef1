"""Fixtures shared by the suite: throwaway servers and exporter processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.exporter import ExporterProcess
from harness.postgres import PostgresServer
from harness.redis import RedisServer
from harness.stack import Stack, StackOptions

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


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
        server.execute("CREATE EXTENSION pg_stat_statements", dbname="wedsync")
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
