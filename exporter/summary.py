"""What the health document and the status page both show: each component's status from its
targets' last probes, and the overall status from the essential components."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from exporter.components import REGISTRY, Component
from exporter.status import ORDER, UNKNOWN, TargetState, overall, worst


@dataclass
class ComponentSummary:
    """One component: its worst target decides."""

    declaration: Component
    essential: bool
    targets: list[TargetState] = field(default_factory=list)

    @property
    def component(self) -> str:
        return self.declaration.name

    @property
    def key(self) -> str:
        """The health document's key (DESIGN.md: `external` appears as `external_services`)."""
        return self.declaration.document_key

    @property
    def label(self) -> str:
        """What the status page shows."""
        return self.declaration.label

    @property
    def status(self) -> str:
        return worst(t.status for t in self.targets)

    @property
    def latency(self) -> float | None:
        """The slowest target's latency (seconds)."""
        known = [t.latency for t in self.targets if t.latency is not None]
        return max(known) if known else None

    @property
    def checked_at(self) -> datetime | None:
        """The oldest of the targets' last checks (a stale target shows)."""
        known = [t.checked_at for t in self.targets if t.checked_at is not None]
        return min(known) if known else None

    @property
    def last_error(self) -> str | None:
        """The worst failing target's error, named by target when there are several."""
        failing = sorted((t for t in self.targets if t.last_error),
                         key=lambda t: -ORDER.get(t.status, -1))
        if not failing:
            return None
        first = failing[0]
        return first.last_error if len(self.targets) == 1 else \
            f"{first.target}: {first.last_error}"


def summarise(states: dict[tuple[str, str], TargetState],
              essential: tuple[str, ...]) -> tuple[str, list[ComponentSummary]]:
    """(overall status, every registered component in the registry's order)."""
    components = [ComponentSummary(c, c.name in essential) for c in REGISTRY]
    by_name = {s.component: s for s in components}
    for (component, _), state in sorted(states.items()):
        # The runtime only keeps states of registered components: one without a summary
        # here is a bug to see, not to skip.
        by_name[component].targets.append(state)
    status = overall({s.component: s.status for s in components}, essential)
    return status, components


def not_monitored(components: list[ComponentSummary]) -> list[str]:
    """Document keys of the essential components with no configured target: nothing checks
    them, and ``overall_status`` (which leaves unknown components out) cannot show it."""
    return [s.key for s in components if s.essential and not s.targets]


def iso(moment: datetime | None) -> str | None:
    """``2026-06-06T14:00:00Z`` (UTC, whole seconds)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def milliseconds(seconds: float | None) -> float | None:
    """Seconds as milliseconds, to 0.1 ms."""
    return None if seconds is None else round(seconds * 1000, 1)


__all__ = ["UNKNOWN", "ComponentSummary", "iso", "milliseconds", "not_monitored",
           "summarise"]
