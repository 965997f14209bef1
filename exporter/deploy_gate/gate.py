"""The deploy gate's decision: every blocking condition the exporter knows of, or allowed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import aiohttp
import structlog

from exporter.deploy_gate import conditions
from exporter.deploy_gate.alertmanager import AlertmanagerUnavailable, firing_critical_alerts
from exporter.deploy_gate.override import Override, OverrideRequest, open_override
from exporter.shared_state.state import SharedState
from exporter.summary import not_monitored, summarise

if TYPE_CHECKING:
    from exporter.config.model import Config
    from exporter.runtime import Runtime
    from exporter.web.hooks import Host
    from exporter.wedding_day import WeddingDayState

log = structlog.get_logger("exporter.deploy_gate")

# The shared document holding the open override (exporter.shared_state).
SHARED_OVERRIDE = "deploy_gate:override"


@dataclass
class Decision:
    """The gate's answer."""

    blocks: list[conditions.Block]
    warnings: list[str] = field(default_factory=list)
    override: Override | None = None
    # Essential components with no target: the gate cannot see them (they block nothing).
    not_monitored: list[str] = field(default_factory=list)
    # When it was decided, in the platform's time zone (for retry_at).
    decided_at: datetime | None = None

    @property
    def allowed(self) -> bool:
        return not self.blocks or self.override is not None

    @property
    def retry_after(self) -> int:
        """Seconds until every blocking condition may have cleared (the latest of them)."""
        return max(block.retry_after for block in self.blocks)

    def body(self) -> dict[str, Any]:
        """The JSON answer: ``{"allowed", "reasons"}`` (+ ``retry_after`` when blocked)."""
        reasons = [block.reason for block in self.blocks]
        if not self.allowed:
            out: dict[str, Any] = {"allowed": False, "reasons": reasons,
                                   "retry_after": self.retry_after}
            if self.decided_at is not None and self.decided_at.tzinfo is not None:
                # The same moment for people: local time with its offset and the zone's name.
                # In UTC first: aware arithmetic in a zone is wall-clock, an hour off on the
                # nights clocks change.
                retry_at = (self.decided_at.astimezone(UTC) + timedelta(
                    seconds=self.retry_after)).astimezone(self.decided_at.tzinfo)
                out["retry_at"] = retry_at.isoformat(timespec="seconds")
                out["timezone"] = str(getattr(self.decided_at.tzinfo, "key", "UTC"))
        else:
            out = {"allowed": True, "reasons": []}
        if self.override is not None:
            out["override"] = {**self.override.describe(), "overridden_reasons": reasons}
        out["not_monitored"] = self.not_monitored
        if self.warnings:
            out["warnings"] = self.warnings
        return out


def _weddings_unknown_because(config: Config, wedding_day: WeddingDayState) -> str:
    """Why today's weddings are not known, from how the runtime's weddings queries fared."""
    queries = [q for q in config.queries if q.enabled and q.builtin == "weddings"]
    if not queries:
        return "no built-in weddings query is configured"
    outcomes = [wedding_day.query_outcomes.get(q.name) for q in queries]
    turned_off = sorted(o for o in outcomes if o not in (None, "ok", "failing"))
    if turned_off:
        return f"the weddings query is turned off ({turned_off[0].replace('_', ' ')})"
    if all(outcome is None for outcome in outcomes):
        return "the weddings query has not run yet"
    if "ok" not in outcomes:
        return "the weddings query is failing"
    # It succeeded, but for an earlier date: local midnight passed since its last run.
    return "today's weddings have not been counted yet"


class DeployGate:
    """Decides; holds the open override and the HTTP session to Alertmanager. With ``shared``
    state the override is the shared one (every replica's), else this replica's own."""

    def __init__(self, service: Host, shared: SharedState | None = None) -> None:
        self.service = service
        self.shared = shared
        self.override: Override | None = None
        self._session: aiohttp.ClientSession | None = None
        if shared is not None:
            shared.watch(SHARED_OVERRIDE)

    # --- settings (read on every question, so a reload applies at once) -------------------
    @property
    def alertmanager_timeout(self) -> float:
        return self.service.config.deploy_gate.alertmanager_timeout

    @property
    def longest_override(self) -> float:
        """Seconds; 0 when overrides are turned off."""
        return self.service.config.deploy_gate.override_max_duration

    # --- deciding -------------------------------------------------------------------------
    def _local_blocks(self, runtime: Runtime | None) -> list[conditions.Block]:
        service = self.service
        if runtime is None or runtime.wedding_day is None:
            return [conditions.starting()]
        blocks: list[conditions.Block | None] = []
        if not runtime.ready:
            blocks.append(conditions.starting())
        now = service.clock()
        blocks.append(conditions.wedding_day(
            now, runtime.timezone, runtime.wedding_day.weddings_today(now),
            _weddings_unknown_because(service.config, runtime.wedding_day)))
        blocks.append(conditions.overall_status(runtime.states.values(),
                                                service.config.essential))
        return [block for block in blocks if block is not None]

    async def _alert_blocks(self, warnings: list[str]) -> list[conditions.Block]:
        config = self.service.config
        if not config.alertmanager_url:
            return []
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            firing = await firing_critical_alerts(self._session, config.alertmanager_url,
                                                  self.alertmanager_timeout)
        except AlertmanagerUnavailable as exc:
            if config.deploy_gate_fail_open:
                log.warning("alertmanager could not be asked; allowed by fail_open",
                            cause=exc.cause)
                warnings.append(conditions.alertmanager_unreachable_warning(exc.cause))
                return []
            return [conditions.alertmanager_unreachable(exc.cause)]
        block = conditions.firing_alerts(firing)
        return [block] if block else []

    async def decide(self) -> Decision:
        """Every blocking condition now, and the override if one is open."""
        warnings: list[str] = []
        blocks = self._local_blocks(self.service.runtime)
        blocks += await self._alert_blocks(warnings)
        runtime = self.service.runtime
        _, components = summarise(dict(runtime.states) if runtime else {},
                                  self.service.config.essential)
        zone = runtime.timezone if runtime is not None else None
        now = self.service.clock()
        return Decision(blocks=blocks, warnings=warnings, override=self.current_override(),
                        not_monitored=not_monitored(components),
                        decided_at=now.astimezone(zone) if zone is not None else None)

    # --- overrides ------------------------------------------------------------------------
    def current_override(self) -> Override | None:
        """The open override, if it has not expired (an expired one is logged and dropped)."""
        if self.shared is not None:
            # The shared one (as last read, or as written here while Redis is away).
            self.override = Override.from_document(self.shared.get(SHARED_OVERRIDE))
        if self.override is not None and not self.override.active(self.service.clock()):
            log.warning("deploy gate override expired", reason=self.override.reason,
                        by=self.override.by, expires_at=self.override.describe()["expires_at"])
            self.override = None
        return self.override

    def open(self, request: OverrideRequest, client: str) -> Override:
        """Open (or replace) the override; logged with its reason and counted."""
        replaced = self.current_override()
        self.override = open_override(request, self.service.clock())
        self.service.store.inc("wedsync_deploy_gate_overrides_total")
        log.warning("deploy gate override opened", reason=self.override.reason,
                    by=self.override.by, expires_at=self.override.describe()["expires_at"],
                    duration_seconds=request.duration, client=client,
                    replaced=replaced is not None)
        return self.override

    def end(self, client: str) -> Override | None:
        """End the open override early; the one ended, if any."""
        ended = self.current_override()
        self.override = None
        if ended is not None:
            log.warning("deploy gate override ended early", reason=ended.reason, by=ended.by,
                        client=client)
        return ended

    async def share(self) -> None:
        """Write the override as it is now to the shared state (no-op without it); when Redis
        cannot take it, this replica honours it alone and sends it once Redis answers."""
        if self.shared is None:
            return
        override = self.override
        if override is None:
            await self.shared.put(SHARED_OVERRIDE, None)
            return
        left = (override.expires_at - self.service.clock()).total_seconds()
        await self.shared.put(SHARED_OVERRIDE, override.describe(), ttl=max(0.001, left))

    async def close(self) -> None:
        """Close the HTTP session (the service calls this on stop)."""
        if self._session is not None:
            await self._session.close()
            self._session = None
