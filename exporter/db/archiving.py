"""WAL archiving as PostgreSQL reports it: ``archive_mode``, ``pg_stat_archiver`` and the
segments still waiting for the archiver (``pg_ls_archive_statusdir``, which needs
``pg_monitor``). Read by the database probe (metrics) and by validation (findings)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, errors

# One pass over the settings for the three (the function behind pg_settings, which shows the
# same rows to the same roles), not a scan of the view each: a validation run's dearest
# statement before (issue 25: idle cost).
ARCHIVER_SQL = """
SELECT s.mode, s.command, s.library,
       pg_is_in_recovery() AS replica, now() AS now,
       a.archived_count, a.last_archived_wal, a.last_archived_time,
       a.failed_count, a.last_failed_wal, a.last_failed_time
  FROM pg_stat_get_archiver() a,
       (SELECT max(setting) FILTER (WHERE name = 'archive_mode') AS mode,
               max(setting) FILTER (WHERE name = 'archive_command') AS command,
               max(setting) FILTER (WHERE name = 'archive_library') AS library
          FROM pg_show_all_settings()
         WHERE name IN ('archive_mode', 'archive_command', 'archive_library')) s
"""
# The probe's version, every interval: without the archive destination, which only pg_settings
# says without superuser rights, and which costs PostgreSQL a scan of every setting per
# subquery (1 ms of the server's CPU each run, the dearest statement of a probe run).
ARCHIVER_PROBE_SQL = """
SELECT current_setting('archive_mode') AS mode, NULL AS command, NULL AS library,
       pg_is_in_recovery() AS replica, now() AS now,
       a.archived_count, a.last_archived_wal, a.last_archived_time,
       a.failed_count, a.last_failed_wal, a.last_failed_time
  FROM pg_stat_archiver a
"""
PENDING_SQL = """
SELECT count(*) AS pending, min(modification) AS oldest
  FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'
"""


@dataclass(frozen=True)
class Archiver:
    """What PostgreSQL says about WAL archiving on one server."""

    mode: str
    # archive_command or archive_library is set (None: this role may not read them).
    destination_set: bool | None
    replica: bool
    archived: int
    last_archived_wal: str | None
    last_archived: datetime | None
    failed: int
    last_failed_wal: str | None
    last_failed: datetime | None
    # Finished segments waiting for the archiver, and the age of the oldest (None: unknown).
    pending: int | None
    oldest_pending_age: float | None

    @property
    def enabled(self) -> bool:
        """This server archives: archive_mode ``always``, or ``on`` on a primary."""
        return self.mode == "always" or (self.mode == "on" and not self.replica)

    @property
    def failing(self) -> bool:
        """The archiver's last attempt failed (no success since the last failure)."""
        return self.last_failed is not None and (
            self.last_archived is None or self.last_failed > self.last_archived)


async def _one(conn: AsyncConnection, query: str) -> dict[str, Any]:
    async with conn.cursor() as cur:
        await cur.execute(query)  # type: ignore[arg-type]
        row = await cur.fetchone()
        names = [d.name for d in cur.description or []]
    return dict(zip(names, row or (), strict=False))


async def read_archiver(conn: AsyncConnection, *, destination: bool = True) -> Archiver:
    """The archiver's state; segments pending only where the role may list them (inside a
    savepoint, so a refusal leaves the caller's transaction usable). Without ``destination``
    (the probe), ``destination_set`` is None and the query is cheaper."""
    row = await _one(conn, ARCHIVER_SQL if destination else ARCHIVER_PROBE_SQL)
    pending: int | None = None
    oldest_age: float | None = None
    try:
        async with conn.transaction():
            waiting = await _one(conn, PENDING_SQL)
        pending = int(waiting["pending"])
        if waiting["oldest"] is not None:
            oldest_age = max(0.0, (row["now"] - waiting["oldest"]).total_seconds())
        else:
            oldest_age = 0.0
    except (errors.InsufficientPrivilege, errors.UndefinedFunction):
        pass
    command, library = row["command"], row["library"]
    destination = None if command is None and library is None else bool(command or library)
    return Archiver(
        mode=str(row["mode"] or "off"), destination_set=destination, replica=bool(row["replica"]),
        archived=int(row["archived_count"] or 0), last_archived_wal=row["last_archived_wal"],
        last_archived=row["last_archived_time"], failed=int(row["failed_count"] or 0),
        last_failed_wal=row["last_failed_wal"], last_failed=row["last_failed_time"],
        pending=pending, oldest_pending_age=oldest_age)
