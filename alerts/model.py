"""What an alert or recording rule is, before wedding-day mode turns it into Prometheus rules.

An ``Alert`` is written once, with its expression and, where wedding days differ, a second
``Timing`` (a tighter threshold, a shorter ``for:``). ``alerts.wedding_day`` expands it into the
rules Prometheus loads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["critical", "warning", "info"]
SEVERITIES: tuple[str, ...] = ("critical", "warning", "info")

# "now": the alert is about harm to today's weddings — it carries the wedding_day label, so a
# warning pages on a wedding day. "later": planning work (certificates, capacity, slow drift)
# that never pages because of the day; it goes to the ticket receiver every day.
Urgency = Literal["now", "later"]

# Alerts sort themselves into these for dashboards and inhibitions ("category" label).
CATEGORIES: tuple[str, ...] = (
    "down", "latency", "saturation", "errors", "freshness", "security", "slo", "capacity",
    "monitoring", "data",
)

THRESHOLD = "$threshold"


@dataclass(frozen=True)
class Timing:
    """How long a condition must hold (``for:``) and the threshold put in for ``$threshold``."""

    for_: str = "0s"
    threshold: float | None = None


@dataclass(frozen=True)
class Alert:
    """One alert as written by hand; ``expr`` may contain ``$threshold``."""

    name: str
    expr: str
    severity: Severity
    category: str
    summary: str
    description: str
    other_days: Timing = Timing()
    # None: wedding days use the same timing as other days.
    wedding_days: Timing | None = None
    urgency: Urgency = "now"
    wedding_day_only: bool = False
    labels: dict[str, str] = field(default_factory=dict)

    def expression(self, timing: Timing) -> str:
        """The expression with ``timing``'s threshold filled in."""
        if THRESHOLD in self.expr:
            if timing.threshold is None:
                raise ValueError(f"{self.name}: the expression needs a threshold")
            return self.expr.replace(THRESHOLD, format(timing.threshold, "g"))
        return self.expr


@dataclass(frozen=True)
class Recording:
    """One recording rule."""

    record: str
    expr: str
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Group:
    """A rule group: recording rules and alerts evaluated together, in order."""

    name: str
    recordings: tuple[Recording, ...] = ()
    alerts: tuple[Alert, ...] = ()
    interval: str | None = None


@dataclass(frozen=True)
class RuleFile:
    """One file under prometheus/rules/."""

    name: str
    groups: tuple[Group, ...]
