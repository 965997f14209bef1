"""The ``deployment`` validation component: is the platform in a state to take a deploy, and is
the machinery that guards deploys sound?

- permissions: the deploy gate's decision (each reason it would refuse a deploy now) and
  weddings within the next 24 hours;
- performance: critical alerts firing in Alertmanager, probes that stopped reporting;
- schema: the exporter's configuration reload state, and Prometheus' own (its configuration
  and rule files loaded, every rule evaluating, the WedSync rules present) where
  ``prometheus.url`` is set;
- security: the gate's own safety (fails open, blind to alerts, an emergency override open).

``valid`` says whether something is wrong; that a deploy must wait (a wedding day) is the gate
working, so its reasons are warnings: the gate's own answer is the one that refuses a deploy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import aiohttp

from exporter.clock import Clock
from exporter.config.model import Config
from exporter.deploy_gate.alertmanager import AlertmanagerUnavailable, firing_critical_alerts
from exporter.deploy_gate.conditions import firing_alerts
from exporter.deploy_gate.gate import DeployGate
from exporter.metrics.store import MetricStore
from exporter.prometheus_api import PrometheusUnavailable, prometheus_get
from exporter.validation.findings import Finding, note
from exporter.wedding_day import SATURDAY, local_date

if TYPE_CHECKING:
    from exporter.runtime import Runtime

COMPONENT = "deployment"
# Rule groups this repository ships start with this (prometheus/rules/*.yml).
RULE_GROUP_PREFIX = "wedsync"
# A probe is stale when its last result is older than this many intervals (plus its timeout).
STALE_INTERVALS = 3
MOST_NAMED = 10

CHECKS: dict[str, tuple[tuple[str, str], ...]] = {
    "permissions": (("deploy_blocked", "warning"), ("deploy_weddings_next_24h", "warning")),
    "performance": (("deploy_critical_alerts_firing", "error"),
                    ("deploy_alertmanager_unreachable", "warning"),
                    ("deploy_probes_stale", "error")),
    "schema": (("exporter_config_reload_failed", "error"),
               ("prometheus_unreachable", "warning"),
               ("prometheus_config_reload_failed", "error"),
               ("prometheus_rules_failing", "error"),
               ("prometheus_rules_missing", "warning")),
    "security": (("deploy_gate_fails_open", "warning"),
                 ("deploy_gate_blind_to_alerts", "warning"),
                 ("deploy_gate_override_open", "warning")),
}


@dataclass
class _GateView:
    """The parts of the running exporter a DeployGate reads (for the background run, which has
    the runtime but not the service: it sees no override, which only the service holds)."""

    config: Config
    runtime: Runtime
    store: MetricStore
    clock: Clock


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:MOST_NAMED])
    return shown + (f" and {len(items) - MOST_NAMED} more" if len(items) > MOST_NAMED else "")


class DeploymentValidator:
    """The deployment checks of one runtime; ``gate`` is the service's deploy gate (its open
    override included), or None to decide from the runtime alone."""

    def __init__(self, runtime: Runtime, gate: DeployGate | None = None) -> None:
        self.runtime = runtime
        self.gate = gate

    @property
    def config(self) -> Config:
        return self.runtime.config

    async def validate(self, kind: str) -> list[Finding]:
        runs: dict[str, Callable[[], Awaitable[list[Finding]]]] = {
            "permissions": self.permissions, "performance": self.performance,
            "schema": self.schema, "security": self.security}
        return await runs[kind]()

    # --- permissions -----------------------------------------------------------------------
    async def permissions(self) -> list[Finding]:
        gate = self.gate
        own = gate is None
        if gate is None:
            runtime = self.runtime
            gate = DeployGate(_GateView(runtime.config, runtime, runtime.store,  # type: ignore[arg-type]
                                        runtime.clock))
        try:
            decision = await gate.decide()
        finally:
            if own:
                await gate.close()
        refused = ("a deploy now would be refused" if decision.override is None else
                   "a deploy now goes through only because an emergency override is open")
        findings = [Finding(
            "deploy_blocked", "warning", f"{refused}: {block.reason}",
            "Wait until the gate allows it (GET /api/system/deploy-gate says when), or open an "
            "emergency override if the deploy is the fix.") for block in decision.blocks]
        return findings + self._weddings_ahead()

    def _weddings_ahead(self) -> list[Finding]:
        """Weddings within a day when today is not (yet) a wedding day: a deploy now leaves
        less than a day to notice and fix what it breaks."""
        runtime = self.runtime
        if runtime.wedding_day is None:
            return []
        now = runtime.clock()
        zone = runtime.timezone
        today = runtime.wedding_day.weddings_today(now)
        if local_date(now, zone).weekday() == SATURDAY or today:
            return []  # a wedding day: the gate already refuses
        tomorrow = local_date(now + timedelta(days=1), zone)
        reasons = []
        if tomorrow.weekday() == SATURDAY:
            reasons.append(f"tomorrow ({tomorrow.isoformat()}) is a Saturday")
        counted = runtime.store.get("wedsync_weddings", {"window": "tomorrow"})
        if today is not None and counted:
            reasons.append(f"{counted:.0f} wedding{'' if counted == 1 else 's'} tomorrow")
        if not reasons:
            return []
        return [Finding(
            "deploy_weddings_next_24h", "warning",
            f"weddings within 24 hours in {zone.key}: {' and '.join(reasons)}",
            "Deploy only what can be rolled back within the hour, and watch it; bigger "
            "changes wait until after the weekend.")]

    # --- performance -----------------------------------------------------------------------
    async def performance(self) -> list[Finding]:
        return await self._alerts() + self._stale_probes()

    async def _alerts(self) -> list[Finding]:
        settings = self.config.deploy_gate
        if not settings.alertmanager_url:
            return [note("alertmanager.url is not set: firing alerts cannot be checked")]
        try:
            async with aiohttp.ClientSession() as session:
                firing = await firing_critical_alerts(session, settings.alertmanager_url,
                                                      settings.alertmanager_timeout)
        except AlertmanagerUnavailable as exc:
            return [Finding("deploy_alertmanager_unreachable", "warning",
                            f"Alertmanager could not be asked about firing alerts ({exc.cause})",
                            "Check alertmanager.url and that Alertmanager runs.")]
        block = firing_alerts(firing)
        if block is None:
            return []
        return [Finding("deploy_critical_alerts_firing", "error", block.reason,
                        "Resolve the incident (or silence an alert that is wrong) before "
                        "deploying anything but its fix.")]

    def _stale_probes(self) -> list[Finding]:
        runtime = self.runtime
        if not runtime.ready:
            return [note("the exporter has not finished its first round of probes")]
        now = runtime.clock()
        stale = []
        for component in self.config.components:
            for target in self.config.targets(component):
                state = runtime.states.get((component, target.name))
                if state is None:
                    continue
                limit = STALE_INTERVALS * target.interval + target.timeout
                age = None if state.checked_at is None else (
                    now - state.checked_at).total_seconds()
                if age is None or age > limit:
                    seen = "never" if age is None else f"{age:.0f} s ago"
                    stale.append(f"{component}/{target.name} (last result {seen}, "
                                 f"expected every {target.interval:g} s)")
        if not stale:
            return []
        return [Finding("deploy_probes_stale", "error",
                        f"probes stopped reporting: {_names(stale)}; the deploy gate and the "
                        f"alerts judge those components from old results",
                        "Look for overruns and timeouts in the exporter's log "
                        "(wedsync_probe_overruns_total), and restart it if its loop is stuck.")]

    # --- schema ----------------------------------------------------------------------------
    async def schema(self) -> list[Finding]:
        findings = []
        if self.runtime.store.get("wedsync_config_last_reload_successful") == 0:
            findings.append(Finding(
                "exporter_config_reload_failed", "error",
                "the exporter's last configuration reload was refused: it runs an older "
                "configuration than the file says",
                "Run wedsync-exporter check-config on the file, fix what it names and reload "
                "again (SIGHUP or POST /-/reload)."))
        return findings + await self._prometheus()

    async def _prometheus(self) -> list[Finding]:
        settings = self.config.prometheus
        if not settings.url:
            return [note("prometheus.url is not set: Prometheus' rules cannot be checked")]
        try:
            async with aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=settings.timeout)) as session:
                info = await prometheus_get(session, settings.url, "/api/v1/status/runtimeinfo")
                rules = await prometheus_get(session, settings.url, "/api/v1/rules")
        except PrometheusUnavailable as exc:
            return [Finding("prometheus_unreachable", "warning",
                            f"Prometheus could not be asked about its rules ({exc})",
                            "Check prometheus.url and that Prometheus runs.")]
        findings = []
        if isinstance(info, dict) and info.get("reloadConfigSuccess") is False:
            findings.append(Finding(
                "prometheus_config_reload_failed", "error",
                "Prometheus' last configuration reload failed (a rule file that does not "
                "load fails it): it evaluates the rules it had before",
                "Run promtool check config and promtool check rules on the files, fix them "
                "and reload Prometheus."))
        groups = rules.get("groups", []) if isinstance(rules, dict) else []
        failing = [f"{group.get('name')}/{rule.get('name')}"
                   for group in groups if isinstance(group, dict)
                   for rule in group.get("rules", []) or []
                   if isinstance(rule, dict) and rule.get("health") == "err"]
        if failing:
            findings.append(Finding(
                "prometheus_rules_failing", "error",
                f"Prometheus fails to evaluate {len(failing)} rules: {_names(failing)}",
                "Read each rule's lastError at /api/v1/rules or on Prometheus' Rules page "
                "and fix the expression."))
        if not any(str(g.get("name", "")).startswith(RULE_GROUP_PREFIX)
                   for g in groups if isinstance(g, dict)):
            findings.append(Finding(
                "prometheus_rules_missing", "warning",
                "Prometheus has no WedSync rule group loaded: no WedSync alert can fire",
                "Add prometheus/rules/*.yml to rule_files in prometheus.yml and reload."))
        return findings

    # --- security --------------------------------------------------------------------------
    async def security(self) -> list[Finding]:
        settings = self.config.deploy_gate
        findings = []
        if settings.fail_open:
            findings.append(Finding(
                "deploy_gate_fails_open", "warning",
                "deploy_gate.fail_open is set: when Alertmanager cannot be asked, deploys are "
                "allowed in the middle of an incident nobody can see",
                "Unset deploy_gate.fail_open; use a time-boxed override when Alertmanager is "
                "down and a deploy must go."))
        if not settings.alertmanager_url:
            findings.append(Finding(
                "deploy_gate_blind_to_alerts", "warning",
                "alertmanager.url is not set: the deploy gate allows deploys while critical "
                "alerts fire",
                "Set alertmanager.url to the Alertmanager that receives WedSync's alerts."))
        override = self.gate.current_override() if self.gate is not None else None
        if override is not None:
            described = override.describe()
            findings.append(Finding(
                "deploy_gate_override_open", "warning",
                f"an emergency override of the deploy gate is open until "
                f"{described.get('expires_at')} (by {described.get('by') or 'unknown'}): "
                f"deploys go through whatever the gate would say",
                "End it (DELETE /api/system/deploy-gate/override) as soon as the emergency "
                "deploy is out."))
        return findings


def deployment_checks(kind: str) -> list[tuple[str, str]]:
    """(check, default severity) of the deployment checks of a validation type."""
    return list(CHECKS.get(kind, ()))
