"""Run SQL in a read-only transaction with its own statement_timeout.

READ ONLY is the real guard of configured queries: whatever a statement hides (a function that
writes, say), PostgreSQL refuses every write in such a transaction. SET LOCAL keeps the
timeout and the time zone inside the transaction, so a pooled connection is left as it was.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from psycopg import AsyncConnection


@asynccontextmanager
async def readonly_transaction(conn: AsyncConnection, timeout: float,
                               timezone: str | None = None) -> AsyncIterator[AsyncConnection]:
    """A READ ONLY transaction whose statements time out after ``timeout`` seconds; with
    ``timezone``, the session's TimeZone for the transaction (date casts, day arithmetic)."""
    async with conn.transaction():
        await conn.execute("SET TRANSACTION READ ONLY")
        await conn.execute(f"SET LOCAL statement_timeout = {max(1, int(timeout * 1000))}")
        if timezone:
            await conn.execute("SELECT set_config('TimeZone', %s, true)", (timezone,))
        yield conn


async def fetch_readonly(conn: AsyncConnection, query: Any, params: dict[str, Any] | None,
                         timeout: float, row_limit: int | None = None) -> tuple[list[str],
                                                                                 list[tuple]]:
    """Column names and rows of ``query``, run READ ONLY; at most ``row_limit`` rows."""
    async with readonly_transaction(conn, timeout), conn.cursor() as cur:
        await cur.execute(query, params)
        names = [d.name for d in cur.description or []]
        rows = await (cur.fetchmany(row_limit) if row_limit else cur.fetchall())
    return names, rows
