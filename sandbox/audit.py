"""Writes sign-ins and token refreshes to ``auth.audit_log_entries``, as GoTrue does.

Only when the sandbox is given a database URL; a failing write is logged and never fails the
sign-in (GoTrue's own behaviour differs, but the stand-in must not turn a database test into an
auth outage).
"""

from __future__ import annotations

import asyncio
import logging
import uuid

import psycopg
from psycopg.types.json import Json

log = logging.getLogger("sandbox.audit")

INSERT_SQL = """
INSERT INTO auth.audit_log_entries (instance_id, id, payload, created_at, ip_address)
VALUES ('00000000-0000-0000-0000-000000000000', %s, %s, now(), %s)
"""


class AuditLog:
    """One lazily opened connection, used by one writer at a time."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._conn: psycopg.AsyncConnection | None = None
        self._lock = asyncio.Lock()

    async def record(self, action: str, user_id: str, email: str, address: str) -> None:
        """Insert one entry; failures are logged, not raised."""
        payload = {"action": action, "actor_id": user_id, "actor_username": email,
                   "actor_via_sso": False, "log_type": "token" if action.startswith("token")
                   else "account", "traits": {"provider": "email"}}
        async with self._lock:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = await psycopg.AsyncConnection.connect(
                        self._url, autocommit=True, connect_timeout=5,
                        application_name="wedsync-sandbox")
                await self._conn.execute(INSERT_SQL, (uuid.uuid4(), Json(payload),
                                                      address[:64]))
            except psycopg.Error as exc:
                log.warning("audit log write failed: %s", type(exc).__name__)
                if self._conn is not None:
                    await self._conn.close()
                    self._conn = None

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()

