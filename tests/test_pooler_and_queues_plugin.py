"""The stack's sandbox slot gains a PgBouncer and demo queues in front of the PostgreSQL and
Redis a stand-in platform starts itself, and leaves a plugin without servers of its own alone."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from exporter.config import parse_config
from harness.pgbouncer import available
from harness.pooler_and_queues import WithPoolerAndQueues
from harness.postgres import PostgresServer
from harness.redis import RedisServer

pytestmark = pytest.mark.skipif(not available(), reason="Debian's pgbouncer is not installed")


class Platform:
    """A stand-in platform plugin with servers of its own, as the stack's sandbox slot has."""

    database = "wedsync"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.postgres: PostgresServer | None = None
        self.redis: RedisServer | None = None
        self.stopped = False

    def start(self) -> Platform:
        self.postgres = PostgresServer(stat_statements=False, password="pg-secret-1").start()
        self.postgres.execute(f"CREATE DATABASE {self.database}")
        self.redis = RedisServer(password="redis-secret-1").start()
        return self

    def stop(self) -> None:
        for server in (self.redis, self.postgres):
            if server is not None:
                server.cleanup()
        self.stopped = True

    def exporter_sections(self) -> dict[str, Any]:
        return {"api": [{"name": "health", "url": "http://127.0.0.1:9/health"}]}

    def secret_file(self, name: str, value: str) -> str:
        path = self.directory / name
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(value)
        return str(path)

    def urls(self) -> dict[str, str]:
        return {"api": "http://127.0.0.1:9"}


def test_a_platform_with_its_own_servers_gains_a_pooler_and_queues(tmp_path: Path) -> None:
    plugin = WithPoolerAndQueues(Platform(tmp_path))
    plugin.start()
    try:
        sections = plugin.exporter_sections()
        assert sections["api"] and plugin.urls() == {"api": "http://127.0.0.1:9"}
        config = parse_config(yaml.safe_dump(sections), {})
        (pooler,) = config.targets("pooler")
        (queues,) = config.targets("queues")
        assert pooler.databases == ("wedsync",)  # type: ignore[attr-defined]
        assert queues.names == ("emails", "notifications", "exports")  # type: ignore[attr-defined]
        for name in ("pooler-url", "queues-url"):
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
        assert "pg-secret-1" not in yaml.safe_dump(sections)
        # The pooler really pools the platform's database, with its password.
        assert plugin.extras is not None and plugin.extras.pgbouncer is not None
        with psycopg.connect(plugin.extras.pgbouncer.dsn(dbname="wedsync")) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("wedsync",)
        # The demo queues are busy in a queue Redis of their own, not the platform's cache
        # (a worker's polling would count as cache misses).
        assert plugin.queue_redis is not None
        assert plugin.queue_redis.port != plugin.inner.redis.port
        assert plugin.inner.redis.client().exists("bull:emails:meta") == 0
        client = plugin.queue_redis.client()
        deadline = time.monotonic() + 10
        while client.zcard("bull:emails:completed") == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert client.zcard("bull:emails:completed") > 0
        assert client.hget("bull:exports:meta", "paused") == b"1"
        assert "pgbouncer" in plugin.describe()
    finally:
        plugin.stop()
    assert plugin.inner.stopped and plugin.extras is None and plugin.queue_redis is None


def test_a_plugin_without_servers_of_its_own_is_left_alone(tmp_path: Path) -> None:
    class Bare:
        def start(self) -> None:
            return None

        def stop(self) -> None:
            return None

        def exporter_sections(self) -> dict[str, Any]:
            return {"api": []}

    plugin = WithPoolerAndQueues(Bare())
    plugin.start()
    assert plugin.exporter_sections() == {"api": []} and plugin.extras is None
    plugin.stop()
