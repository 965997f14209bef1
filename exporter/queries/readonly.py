"""Run one query in a read-only transaction with its own statement_timeout."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection


async def fetch_readonly(conn: AsyncConnection, query: Any, params: dict[str, Any] | None,
                         timeout: float, row_limit: int | None = None) -> tuple[list[str],
                                                                                 list[tuple]]:
    """Column names and rows of ``query``, run READ ONLY; at most ``row_limit`` rows."""
    async with conn.transaction():
        await conn.execute("SET TRANSACTION READ ONLY")
        await conn.execute(f"SET LOCAL statement_timeout = {max(1, int(timeout * 1000))}")
        async with conn.cursor() as cur:
            await cur.execute(query, params)
            names = [d.name for d in cur.description or []]
            rows = await (cur.fetchmany(row_limit) if row_limit else cur.fetchall())
    return names, rows
