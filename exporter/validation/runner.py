"""Runs the checks of one component and validation type, or all of them for the metrics.

The background run (every ``validation.interval``, default 5 minutes) exports
``wedsync_validation_findings{check,severity}`` as counts — names of tables and functions only
ever appear in the JSON answer — with a 0 for every check that ran and found nothing, and its
last run time and success.
"""

from __future__ import annotations

import time
from collections import Counter

from exporter.db.errors import classify
from exporter.metrics.store import Sample
from exporter.runtime import Runtime
from exporter.scheduler import Job
from exporter.validation import database, reachability, redis
from exporter.validation.findings import VALIDATION_TYPES, Finding, note, validated_components
from exporter.validation.settings import ValidationSettings

FINDINGS = "wedsync_validation_findings"
LAST_RUN = "wedsync_validation_last_run_timestamp_seconds"
LAST_SUCCESS = "wedsync_validation_last_run_success"
OWNER = ("validation",)


def _nothing(component: str, kind: str) -> list[Finding]:
    return [note(f"there is no {kind} check for {component}; nothing to check")]


class Validator:
    """Validates the components of one runtime (its pools, targets and probe results)."""

    def __init__(self, runtime: Runtime, settings: ValidationSettings) -> None:
        self.runtime = runtime
        self.settings = settings
        # Database targets found unreachable in this run: not tried again for the other
        # types, so a hung database costs one connect timeout per run, not four.
        self._unreachable: set[str] = set()

    def checks_run(self, component: str, kind: str) -> list[tuple[str, str]]:
        """(check, default severity) of the checks ``validate`` runs for this pair."""
        config = self.runtime.config
        if not config.targets(component):
            return []
        if component == "database":
            return [*database.checks_of(kind, self.settings), ("database_unreachable", "critical")]
        if kind != "performance":
            return []
        if component == "redis":
            return list(redis.CHECKS)
        return reachability.checks_of(component)

    async def validate(self, component: str, kind: str) -> list[Finding]:
        """Every finding for one component and validation type."""
        config = self.runtime.config
        if component == "database":
            return await self._database(kind)
        if kind != "performance":
            return _nothing(component, kind)
        if component == "redis":
            if not config.redis:
                return [note("no redis target is configured; nothing to check")]
            findings = []
            for target in config.redis:
                findings += await redis.validate_redis(target, self.settings)
            return findings
        return reachability.validate_probed(component, config.targets(component),
                                            self.runtime.states)

    async def _database(self, kind: str) -> list[Finding]:
        targets = self.runtime.config.database
        if not targets:
            return [note("no database target is configured; nothing to check")]
        findings: list[Finding] = []
        for target in targets:
            if target.name in self._unreachable:
                continue
            pool = self.runtime.pools[target.name]
            try:
                findings += await pool.run(lambda conn, t=target: database.validate_database(
                    conn, t, kind, self.settings))
            except Exception as exc:
                error = classify(exc)
                if error.reason in ("timeout", "connect"):
                    self._unreachable.add(target.name)
                findings.append(Finding(
                    "database_unreachable", "critical",
                    f"{target.name}: the database cannot be checked ({error.reason}: "
                    f"{error.message})",
                    "Check that the database runs and that the exporter's role may read the "
                    "catalogues (pg_monitor)."))
        return findings

    async def run_all(self) -> list[Sample]:
        """Validate every component and type; the findings metric's samples."""
        counts: Counter[tuple[str, str]] = Counter()
        seen: set[tuple[str, str]] = set()
        self._unreachable.clear()
        for component in validated_components():
            for kind in VALIDATION_TYPES:
                for check, severity in self.checks_run(component, kind):
                    counts[(check, severity)] += 0
                for finding in await self.validate(component, kind):
                    # An unreachable database is found once per type: count it once.
                    if finding.check is None or (finding.check, finding.message) in seen:
                        continue
                    seen.add((finding.check, finding.message))
                    counts[(finding.check, finding.severity)] += 1
        return [Sample(FINDINGS, {"check": check, "severity": severity}, n)
                for (check, severity), n in sorted(counts.items())]


def validation_jobs(runtime: Runtime) -> list[Job]:
    """The background validation run, unless validation.enabled is false."""
    settings = runtime.config.validation
    if not settings.enabled:
        return []
    validator = Validator(runtime, settings)
    store = runtime.store

    def on_success(samples: list[Sample], _duration: float) -> None:
        store.replace_owned(OWNER, samples)
        store.set(LAST_RUN, (), time.time())
        store.set(LAST_SUCCESS, (), 1)

    def on_failure(_error: object, _duration: float) -> None:
        store.set(LAST_RUN, (), time.time())
        store.set(LAST_SUCCESS, (), 0)

    return [Job(name="architecture validation", interval=settings.interval,
                timeout=settings.timeout, run=validator.run_all, on_success=on_success,
                on_failure=on_failure)]
