"""Counts of Supabase Auth audit-log actions (``auth.audit_log_entries``), as counters.

Each run counts the entries newer than the newest one seen so far, by ``payload->>'action'``,
and adds them to ``wedsync_auth_audit_events_total``; the first run only finds where "now" is,
so a restart never replays history into a rate. Actions outside the known list count as
``other`` (bounded labels). Failed logins are not in this table (GoTrue logs them elsewhere).

The probe user's own rows (its sign-in, token refreshes and sign-outs, by ``actor_id``, the id
its Auth probe learnt from the token answers) are left out: the counters are the users'. They
serve another purpose: every successful token call of the probe writes one row, so when at least
two calls went by since the last count and none of their rows appeared, Auth is not writing its
audit log to PostgreSQL (``GOTRUE_AUDIT_LOG_DISABLE_POSTGRES``) and
``wedsync_auth_audit_log_writing`` says 0 instead of the counters sitting silently at 0. Without
a synthetic sign-in there is nothing to tell by, and that gauge stays absent.

The table has no index on ``created_at`` on a stock Supabase; the scan is of rows newer than
the watermark only if such an index exists, so the job runs on its own, slower interval
(``audit_log.interval``, default 60s).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import structlog

from exporter.db.errors import classify
from exporter.db.pool import PgPool
from exporter.metrics.store import MetricStore, Sample
from exporter.probe_types import ProbeError
from exporter.probes.auth import ProbeUserActivity
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
WRITING = "wedsync_auth_audit_log_writing"
# Probe token calls since the last count that found a row of theirs, none of them in the log
# since, that mean "not written" (one call may straddle two counts: its row counted in the
# earlier, its answer arriving after it).
SILENT_CALLS = 2

log = structlog.get_logger("exporter.audit_log")

START_SQL = "SELECT max(created_at) FROM auth.audit_log_entries"
# ``own``: the row is the probe user's (never true while its id is unknown).
_COUNT = """
SELECT payload->>'action' AS action,
       coalesce(payload->>'actor_id' = ANY(%(probe_users)s), false) AS own,
       count(*) AS n, max(created_at) AS newest
  FROM auth.audit_log_entries
"""
COUNT_SQL = _COUNT + " WHERE created_at > %(after)s GROUP BY 1, 2"
COUNT_ALL_SQL = _COUNT + " WHERE created_at IS NOT NULL GROUP BY 1, 2"


class AuditLogCounter:
    """Remembers the newest entry seen and adds what is new to the counters."""

    def __init__(self, target: str, pool: PgPool, store: MetricStore,
                 probe_user: ProbeUserActivity | None = None,
                 synthetic_users: Callable[[], set[str]] | None = None) -> None:
        self.target = target
        self.pool = pool
        self.store = store
        self.probe_user = probe_user
        # Other probes' synthetic users (the Core Fields probe's), left out like the probe's own.
        self.synthetic_users = synthetic_users or set
        self.started = False
        self.newest: datetime | None = None
        # The probe's token calls at the last count that found a row of its (or the first).
        self.calls_seen = 0
        for action in ACTIONS:
            store.zero(FAMILY, {"target": target, "action": action})

    async def run(self) -> list[Sample]:
        # Taken before the query: every call counted here has written its row already.
        calls = self.probe_user.audited_calls if self.probe_user is not None else 0
        user_id = self.probe_user.user_id if self.probe_user is not None else None
        first = not self.started
        try:
            excluded = sorted(self.synthetic_users() | ({user_id} if user_id else set()))
            rows = await self.pool.run(lambda conn: self._read(conn, excluded))
        except Exception as exc:
            raise classify(exc) from None
        own = 0
        for action, is_own, count, newest in rows:
            if newest is not None and (self.newest is None or newest > self.newest):
                self.newest = newest
            if is_own:
                own += count
                continue
            label = action if action in ACTIONS else "other"
            self.store.inc(FAMILY, {"target": self.target, "action": label}, count)
        if first or own:
            # The probe's calls so far are accounted for (first run: nothing to judge yet).
            self.calls_seen = calls
        if not first and user_id is not None:
            self._judge_writing(own, calls - self.calls_seen)
        return []

    def _judge_writing(self, own_rows: int, silent_calls: int) -> None:
        """``silent_calls``: the probe's token calls since the last count with a row of its."""
        labels = {"target": self.target}
        if own_rows:
            writing = 1
        elif silent_calls >= SILENT_CALLS:
            writing = 0
        else:
            return
        if writing == 0 and self.store.get(WRITING, labels) != 0:
            log.warning("the probe's token calls are missing from Auth's audit log: audit "
                        "logging to PostgreSQL looks turned off (GOTRUE_AUDIT_LOG_DISABLE_"
                        "POSTGRES), so the audit counters cannot count",
                        target=self.target, silent_calls=silent_calls)
        self.store.set(WRITING, labels, writing)

    async def _read(self, conn, probe_users: list[str]  # noqa: ANN001
                    ) -> list[tuple[str, bool, int, datetime]]:
        async with conn.cursor() as cur:
            if not self.started:
                await cur.execute(START_SQL)
                row = await cur.fetchone()
                self.newest = row[0] if row else None
                self.started = True
                return []
            if self.newest is None:
                await cur.execute(COUNT_ALL_SQL, {"probe_users": probe_users})
            else:
                await cur.execute(COUNT_SQL, {"after": self.newest, "probe_users": probe_users})
            return list(await cur.fetchall())


def audit_log_jobs(runtime: Runtime) -> list[Job]:
    jobs = []
    for target in runtime.config.auth:
        audit = target.audit_log
        pool = runtime.pools.get(audit.database or "")
        if not audit.enabled:
            continue
        probe = next((p for p in runtime.probes
                      if p.component == "auth" and p.target.name == target.name), None)
        activity = getattr(probe, "activity", None)
        others = [p for p in runtime.probes if hasattr(p, "synthetic_user_ids")]

        def synthetic(others: list[object] = others) -> set[str]:
            return set().union(*(getattr(p, "synthetic_user_ids", set()) for p in others))

        counter = AuditLogCounter(target.name, pool, runtime.store, activity, synthetic) \
            if pool is not None else None

        async def run(counter: AuditLogCounter | None = counter) -> list[Sample]:
            if counter is None:
                raise ProbeError("error", "the audit log's database target is switched off")
            return await counter.run()

        jobs.append(query_job(f"auth_audit_{target.name}", audit.interval, target.timeout,
                              run, runtime.store, abort=pool.abort if pool else None))
    return jobs
