"""Runs the checks of one component and validation type, or all of them for the metrics.

The background run (every ``validation.interval``, default 5 minutes) exports
``wedsync_validation_findings{check,severity}`` as counts — names of tables and functions only
ever appear in the JSON answer — with a 0 for every check that ran and found nothing, and its
last run time and success.
"""

from __future__ import annotations

import time
from collections import Counter

from exporter.config.model import AuthTarget, HttpTarget, RedisTarget
from exporter.db.errors import classify
from exporter.deploy_gate.gate import DeployGate
from exporter.metrics.store import Sample
from exporter.runtime import Runtime
from exporter.scheduler import Job
from exporter.validation import database, deployment, reachability, redis, services
from exporter.validation.findings import (
    DEPLOYMENT,
    VALIDATION_TYPES,
    Finding,
    note,
    validated_components,
)
from exporter.validation.settings import ValidationSettings

FINDINGS = "wedsync_validation_findings"
LAST_RUN = "wedsync_validation_last_run_timestamp_seconds"
LAST_SUCCESS = "wedsync_validation_last_run_success"
OWNER = ("validation",)


# Security checks of the components other than the database (which has its own).
_SECURITY_CHECKS: dict[str, tuple[tuple[str, str], ...]] = {
    "redis": redis.SECURITY_CHECKS, "auth": services.AUTH_CHECKS, "api": services.API_CHECKS}


def _nothing(component: str, kind: str) -> list[Finding]:
    return [note(f"there is no {kind} check for {component}; nothing to check")]


class Validator:
    """Validates the components of one runtime (its pools, targets and probe results);
    ``gate`` is the service's deploy gate where there is one (its open override included)."""

    def __init__(self, runtime: Runtime, settings: ValidationSettings,
                 gate: DeployGate | None = None) -> None:
        self.runtime = runtime
        self.settings = settings
        self.gate = gate
        # Database targets found unreachable in this run: not tried again for the other
        # types, so a hung database costs one connect timeout per run, not four.
        self._unreachable: set[str] = set()

    def checks_run(self, component: str, kind: str) -> list[tuple[str, str]]:
        """(check, default severity) of the checks ``validate`` runs for this pair."""
        if component == DEPLOYMENT:
            return deployment.deployment_checks(kind)
        config = self.runtime.config
        if not config.targets(component):
            return []
        if component == "database":
            return [*database.checks_of(kind, self.settings),
                    ("database_unreachable", "critical")]
        if kind == "security":
            return list(_SECURITY_CHECKS.get(component, ()))
        if kind != "performance":
            return []
        if component == "redis":
            return list(redis.CHECKS)
        return reachability.checks_of(component)

    async def validate(self, component: str, kind: str) -> list[Finding]:
        """Every finding for one component and validation type."""
        config = self.runtime.config
        if component == DEPLOYMENT:
            return await deployment.DeploymentValidator(self.runtime, self.gate).validate(kind)
        if component == "database":
            return await self._database(kind)
        if kind == "security" and component in _SECURITY_CHECKS:
            return await self._security(component)
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

    async def _security(self, component: str) -> list[Finding]:
        targets = self.runtime.config.targets(component)
        if not targets:
            return [note(f"no {component} target is configured; nothing to check")]
        findings: list[Finding] = []
        for target in targets:
            if isinstance(target, RedisTarget):
                findings += await redis.validate_redis_security(target)
            elif isinstance(target, AuthTarget):
                findings += await services.validate_auth(target)
            elif isinstance(target, HttpTarget):
                findings += await services.validate_api(target)
        return findings

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
    """The background validation run, unless validation.enabled is false (deployment is judged
    from the runtime: the service's open override is the HTTP answer's to report)."""
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
