"""Counts of Supabase Auth audit-log actions (``auth.audit_log_entries``), as counters.

Each run counts the entries newer than the newest one seen so far, by ``payload->>'action'``,
and adds them to ``wedsync_auth_audit_events_total``; the first run only finds where "now" is,
so a restart never replays history into a rate. Actions outside the known list count as
``other`` (bounded labels). Failed logins are not in this table (GoTrue logs them elsewhere).

The table has no index on ``created_at`` on a stock Supabase; the scan is of rows newer than
the watermark only if such an index exists, so the job runs on its own, slower interval
(``audit_log.interval``, default 60s).
"""

from __future__ import annotations

from datetime import datetime

from exporter.db.errors import classify
from exporter.db.pool import PgPool
from exporter.metrics.store import MetricStore, Sample
from exporter.probe_types import ProbeError
from exporter.recording import query_job
from exporter.runtime import Runtime
from exporter.scheduler import Job

ACTIONS: tuple[str, ...] = (
    "login", "logout", "user_signedup", "token_refreshed", "token_revoked",
    "user_recovery_requested", "user_invited", "user_confirmation_requested", "user_modified",
    "user_deleted", "user_reauthenticate_requested", "factor_in_progress",
    "mfa_code_login", "other",
)
FAMILY = "wedsync_auth_audit_events_total"

START_SQL = "SELECT max(created_at) FROM auth.audit_log_entries"
COUNT_SQL = """
SELECT payload->>'action' AS action, count(*) AS n, max(created_at) AS newest
  FROM auth.audit_log_entries
 WHERE created_at > %(after)s
 GROUP BY 1
"""
COUNT_ALL_SQL = """
SELECT payload->>'action' AS action, count(*) AS n, max(created_at) AS newest
  FROM auth.audit_log_entries
 WHERE created_at IS NOT NULL
 GROUP BY 1
"""


class AuditLogCounter:
    """Remembers the newest entry seen and adds what is new to the counters."""

    def __init__(self, target: str, pool: PgPool, store: MetricStore) -> None:
        self.target = target
        self.pool = pool
        self.store = store
        self.started = False
        self.newest: datetime | None = None
        for action in ACTIONS:
            store.zero(FAMILY, {"target": target, "action": action})

    async def run(self) -> list[Sample]:
        try:
            rows = await self.pool.run(self._read)
        except Exception as exc:
            raise classify(exc) from None
        for action, count, newest in rows:
            label = action if action in ACTIONS else "other"
            self.store.inc(FAMILY, {"target": self.target, "action": label}, count)
            if newest is not None and (self.newest is None or newest > self.newest):
                self.newest = newest
        return []

    async def _read(self, conn) -> list[tuple[str, int, datetime]]:  # noqa: ANN001
        async with conn.cursor() as cur:
            if not self.started:
                await cur.execute(START_SQL)
                row = await cur.fetchone()
                self.newest = row[0] if row else None
                self.started = True
                return []
            if self.newest is None:
                await cur.execute(COUNT_ALL_SQL)
            else:
                await cur.execute(COUNT_SQL, {"after": self.newest})
            return list(await cur.fetchall())


def audit_log_jobs(runtime: Runtime) -> list[Job]:
    jobs = []
    for target in runtime.config.auth:
        audit = target.audit_log
        pool = runtime.pools.get(audit.database or "")
        if not audit.enabled:
            continue
        counter = AuditLogCounter(target.name, pool, runtime.store) \
            if pool is not None else None

        async def run(counter: AuditLogCounter | None = counter) -> list[Sample]:
            if counter is None:
                raise ProbeError("error", "the audit log's database target is switched off")
            return await counter.run()

        jobs.append(query_job(f"auth_audit_{target.name}", audit.interval, target.timeout,
                              run, runtime.store, abort=pool.abort if pool else None))
    return jobs
