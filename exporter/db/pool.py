"""A small PostgreSQL connection pool for probing.

Why not psycopg_pool: its background workers reconnect on their own and a caller only sees
``PoolTimeout``, so the probe could not tell a refused connection from a wrong password or a
hung server — and those are the reasons on-call needs. This pool connects in the caller's task
(so the driver's own error reaches the probe), never holds more than ``size`` connections, and
closes any connection that saw an error or a cancellation instead of reusing it, so a hung
server cannot make it leak connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import select
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import psycopg
from psycopg import AsyncConnection
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import TransactionStatus

T = TypeVar("T")
APPLICATION_NAME = "wedsync-exporter"
# An idle connection unused this long is closed (the pool hands out the most recently used
# one first, so with one caller at a time the others would otherwise idle indefinitely).
MAX_IDLE_SECONDS = 300.0


class PgPool:
    """At most ``size`` autocommit connections with a statement_timeout on every query."""

    def __init__(self, dsn: str, *, size: int = 2, statement_timeout: float = 2.0,
                 connect_timeout: float = 5.0, application_name: str = APPLICATION_NAME) -> None:
        self._dsn = dsn
        self._size = size
        self._statement_timeout_ms = max(1, int(statement_timeout * 1000))
        self._connect_timeout = max(1, math.ceil(connect_timeout))
        self._application_name = application_name
        self._idle: list[AsyncConnection] = []
        # When each idle connection was returned (by id), to let long-unused ones go.
        self._returned: dict[int, float] = {}
        self._in_use: dict[asyncio.Task[Any], AsyncConnection] = {}
        self._slots = asyncio.Semaphore(size)
        self._closed = False

    async def _connect(self) -> AsyncConnection:
        params = conninfo_to_dict(self._dsn)
        options = params.get("options") or ""
        options = f"{options} -c statement_timeout={self._statement_timeout_ms}".strip()
        return await AsyncConnection.connect(
            self._dsn, autocommit=True, application_name=self._application_name,
            options=options, connect_timeout=self._connect_timeout, prepare_threshold=None,
        )

    @staticmethod
    async def _discard(conn: AsyncConnection) -> None:
        # Closing a broken connection may fail; it is gone either way. The socket is closed
        # here and now, not when the object is collected: a socket the server has closed
        # would otherwise sit in CLOSE-WAIT.
        with contextlib.suppress(Exception):
            await conn.close()
        with contextlib.suppress(Exception):
            conn.pgconn.finish()

    def _closed_by_server(self, conn: AsyncConnection) -> bool:
        """An idle connection has nothing to read unless the server ended it (a FIN, or a
        FATAL message such as a terminated backend or idle_session_timeout)."""
        if conn.closed:
            return True
        try:
            poller = select.poll()  # any descriptor number, unlike select()
            poller.register(conn.fileno(), select.POLLIN)
            return bool(poller.poll(0))
        except (OSError, ValueError, psycopg.Error):
            return True

    async def _prune_idle(self) -> None:
        """Close idle connections the server has ended or that went unused too long."""
        now = time.monotonic()
        keep = []
        for conn in self._idle:
            stale = now - self._returned.get(id(conn), now) > MAX_IDLE_SECONDS
            if stale or self._closed_by_server(conn):
                self._returned.pop(id(conn), None)
                await self._discard(conn)
            else:
                keep.append(conn)
        self._idle = keep

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """A connection for one unit of work; returned to the pool only if it ended cleanly."""
        async with self._slots:
            await self._prune_idle()
            conn = self._idle.pop() if self._idle else await self._connect()
            self._returned.pop(id(conn), None)
            task = asyncio.current_task()
            if task is not None:
                self._in_use[task] = conn
            clean = False
            try:
                yield conn
                clean = True
            finally:
                if task is not None:
                    self._in_use.pop(task, None)
                reusable = (clean and not self._closed and not conn.closed
                            and conn.info.transaction_status == TransactionStatus.IDLE)
                if reusable:
                    self._idle.append(conn)
                    self._returned[id(conn)] = time.monotonic()
                else:
                    await self._discard(conn)

    async def run(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``work`` on a connection; retry once on a fresh one if a reused one was dead."""
        await self._prune_idle()
        reused = bool(self._idle)
        broken = False
        try:
            async with self.connection() as conn:
                try:
                    return await work(conn)
                except psycopg.OperationalError:
                    broken = conn.broken
                    raise
        except psycopg.OperationalError:
            if not (reused and broken):
                raise
        # The server went away since the connection was pooled (a restart, say): every idle
        # connection is as dead as this one, so start afresh.
        await self._drain_idle()
        async with self.connection() as conn:
            return await work(conn)

    async def _drain_idle(self) -> None:
        idle, self._idle = self._idle, []
        self._returned.clear()
        for conn in idle:
            await self._discard(conn)

    def abort(self, task: asyncio.Task[Any]) -> bool:
        """Break the connection ``task`` is using, so the task fails at once.

        Cancelling a task that waits on a hung server is not enough: psycopg answers a
        cancellation by sending the server a cancel request and waiting for it (up to ten
        seconds), which would hold the probe. Shutting the socket down (without closing the
        file descriptor, which the event loop still watches) makes the pending read fail now.
        The connection is then discarded, never reused. False if ``task`` holds no connection.
        """
        conn = self._in_use.get(task)
        if conn is None or conn.closed:
            return False
        try:
            with socket.fromfd(conn.fileno(), socket.AF_INET, socket.SOCK_STREAM) as dup:
                dup.shutdown(socket.SHUT_RDWR)
        except OSError:
            return False
        return True

    async def close(self) -> None:
        """Close every idle connection; connections in use close when returned."""
        self._closed = True
        await self._drain_idle()
