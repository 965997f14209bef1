"""The PostgreSQL pool closes a connection the server ended as soon as it looks at its idle
connections — a socket the server closed never sits in CLOSE-WAIT until garbage collection."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from exporter.db.pool import PgPool
from harness.postgres import PostgresServer

CLOSE_WAIT = "08"


def our_sockets_to(port: int) -> list[str]:
    """TCP states of this process's sockets connected to ``port``."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    states = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[2].split(":")[1], 16) == port and fields[9] in inodes:
            states.append(fields[3])
    return states


def test_connections_the_server_ended_are_closed_at_once() -> None:
    # idle_session_timeout ends a backend idle for 1 s: the pool's second connection, which a
    # one-at-a-time caller never reuses (most recently used first), is ended by the server.
    with PostgresServer(stat_statements=False,
                        settings={"idle_session_timeout": "1s"}) as server:
        asyncio.run(asyncio.wait_for(_exercise(server), 60))


async def _exercise(server: PostgresServer) -> None:
    pool = PgPool(server.dsn(), size=2)

    async def hold() -> None:
        async with pool.connection() as conn:
            await conn.execute("SELECT pg_sleep(0.2)")

    await asyncio.gather(hold(), hold())  # two connections in the pool
    assert len(our_sockets_to(server.port)) == 2
    for _ in range(10):  # one caller at a time, every 0.3 s, for 3 s
        await pool.run(lambda conn: conn.execute("SELECT 1"))
        await asyncio.sleep(0.3)
    try:
        assert CLOSE_WAIT not in our_sockets_to(server.port)
        assert len(our_sockets_to(server.port)) == 1
    finally:
        await pool.close()
    assert our_sockets_to(server.port) == []
