"""A connection pooler and job queues for a stand-in platform: a PgBouncer (Debian's) in front of
a PostgreSQL the caller started, with a little traffic through it, and real BullMQ queues
(``harness.demo_queues``) in a Redis the caller started — so the pooler and queue panels, rules
and probes have something real to watch.

Used by the dashboard tests and by the stack's sandbox platform; nothing here touches a server
it did not start. The admin-console and Redis URLs reach the exporter in files (0600) written
by the caller's ``secret_file``; they are never printed.
"""

from __future__ import annotations

import contextlib
import secrets
import sys
import threading
from collections.abc import Callable
from typing import Any

import psycopg

from harness.demo_queues import QUEUES, DemoQueues
from harness.pgbouncer import PgBouncerServer
from harness.postgres import PostgresServer
from harness.redis import RedisServer

SecretFile = Callable[[str, str], str]


class PoolerAndQueues:
    """PgBouncer (pool ``pool_size``) before ``postgres``'s ``database``; demo queues in
    ``redis_url``."""

    def __init__(self, postgres: PostgresServer, redis_url: str, *, database: str = "postgres",
                 pool_size: int = 2, traffic_interval: float = 1.0) -> None:
        self.postgres = postgres
        self.redis_url = redis_url
        self.database = database
        self.pool_size = pool_size
        self.traffic_interval = traffic_interval
        self.pgbouncer: PgBouncerServer | None = None
        self.queues: DemoQueues | None = None
        self._stop = threading.Event()
        self._traffic: threading.Thread | None = None

    def start(self) -> PoolerAndQueues:
        """Start PgBouncer, its traffic and the queues; on failure stop what started."""
        try:
            # PgBouncer logs in to PostgreSQL with the client's own credentials (auth_type
            # plain), so its users share the superuser's password where there is one.
            self.pgbouncer = PgBouncerServer(
                self.postgres.port, databases=(self.database,), pool_size=self.pool_size,
                password=self.postgres.password or secrets.token_urlsafe(16))
            self.pgbouncer.start()
            self._traffic = threading.Thread(target=self._run_traffic, daemon=True,
                                             name="pooler-traffic")
            self._traffic.start()
            self.queues = DemoQueues(self.redis_url).start()
        except BaseException:
            self.stop()
            raise
        return self

    def _run_traffic(self) -> None:
        # One short transaction per interval, as a serverless function would run it.
        assert self.pgbouncer is not None
        dsn = self.pgbouncer.dsn(dbname=self.database)
        while not self._stop.wait(self.traffic_interval):
            with contextlib.suppress(psycopg.Error), psycopg.connect(
                    dsn, connect_timeout=2) as conn:
                conn.execute("SELECT count(*) FROM pg_class")

    def stop(self) -> None:
        """Stop the queues, the traffic and PgBouncer."""
        self._stop.set()
        if self.queues is not None:
            self.queues.stop()
        if self._traffic is not None:
            self._traffic.join(5)
        if self.pgbouncer is not None:
            self.pgbouncer.cleanup()
        self.queues = self.pgbouncer = self._traffic = None

    def exporter_sections(self, secret_file: SecretFile) -> dict[str, Any]:
        """The exporter's pooler and queues targets (their URLs in files)."""
        assert self.pgbouncer is not None, "start() first"
        return {
            "pooler": [{"name": "pgbouncer", "databases": [self.database],
                        "url_file": secret_file("pooler-url", self.pgbouncer.admin_dsn())}],
            "queues": [{"name": "queue", "names": list(QUEUES),
                        "url_file": secret_file("queues-url", self.redis_url)}],
        }

    def __enter__(self) -> PoolerAndQueues:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


class WithPoolerAndQueues:
    """A stack sandbox plugin plus a pooler and queues in front of its own servers.

    Wraps the plugin ``wedsync-stack up --sandbox`` uses: once it has started, if it has a
    PostgreSQL and a Redis of its own (``postgres``, ``redis`` and optionally ``database``
    attributes, as a stand-in platform that starts its own servers has), a PgBouncer goes in
    front of that PostgreSQL and demo queues into a queue Redis of their own (as platforms keep
    the job queue apart from the cache: a worker's polling would count as cache misses and
    lower the cache's hit ratio), and the exporter's ``pooler`` and ``queues`` sections point
    at them. A plugin without servers of its own is left as it is:
    nothing here touches a server the stack did not start. Everything else is the wrapped
    plugin's (``prepare``, ``urls``, ``describe``, …).
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.extras: PoolerAndQueues | None = None
        self.queue_redis: RedisServer | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def start(self) -> WithPoolerAndQueues:
        self.inner.start()
        postgres = getattr(self.inner, "postgres", None)
        redis = getattr(self.inner, "redis", None)
        if isinstance(postgres, PostgresServer) and redis is not None:
            # The platform's database: its ``database`` attribute, or its module's DATABASE.
            module = sys.modules.get(type(self.inner).__module__)
            database = (getattr(self.inner, "database", None)
                        or getattr(module, "DATABASE", None) or "postgres")
            try:
                self.queue_redis = RedisServer(password=secrets.token_urlsafe(24))
                self.queue_redis.start()
                self.extras = PoolerAndQueues(postgres, self.queue_redis.url(),
                                              database=str(database)).start()
            except BaseException:
                self._stop_own()
                self.inner.stop()
                raise
        return self

    def _stop_own(self) -> None:
        if self.extras is not None:
            self.extras.stop()
            self.extras = None
        if self.queue_redis is not None:
            self.queue_redis.cleanup()
            self.queue_redis = None

    def stop(self) -> None:
        self._stop_own()
        self.inner.stop()

    def exporter_sections(self) -> dict[str, Any]:
        sections = dict(self.inner.exporter_sections())
        if self.extras is not None:
            secret_file = getattr(self.inner, "secret_file", None) or getattr(
                getattr(self.inner, "sandbox", None), "secret_file", None)
            if secret_file is None:
                raise RuntimeError("the sandbox plugin has no secret_file() to hand the pooler "
                                   "and queue URLs over in files")
            sections.update(self.extras.exporter_sections(secret_file))
        return sections

    def describe(self) -> str:
        lines = [getattr(self.inner, "describe", lambda: "")()]
        if self.extras is not None and self.extras.pgbouncer is not None:
            lines.append(f"{'pgbouncer':<13} 127.0.0.1:{self.extras.pgbouncer.port}   (the "
                         f"stack's own, before its PostgreSQL)")
        if self.queue_redis is not None:
            lines.append(f"{'queue redis':<13} 127.0.0.1:{self.queue_redis.port}   (demo BullMQ "
                         f"queues, apart from the cache)")
        return "\n".join(line for line in lines if line)
