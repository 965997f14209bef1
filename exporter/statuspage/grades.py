"""Component states in Statuspage's four grades, from our statuses and how many targets are down.

A component with no configured target, or whose targets have not been checked yet, has no grade
(``None``): it is "not monitored", never shown as operational.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from exporter.status import UNKNOWN, TargetState

OPERATIONAL = "operational"
DEGRADED = "degraded_performance"
PARTIAL = "partial_outage"
MAJOR = "major_outage"
MAINTENANCE = "under_maintenance"
OUTAGES = (PARTIAL, MAJOR)

TEXT = {OPERATIONAL: "Operational", DEGRADED: "Degraded performance",
        PARTIAL: "Partial outage", MAJOR: "Major outage", MAINTENANCE: "Under maintenance",
        None: "Not monitored"}
# How bad a grade is for the page's indicator (maintenance is planned, so it counts as none).
RANK = {OPERATIONAL: 0, MAINTENANCE: 0, DEGRADED: 1, PARTIAL: 2, MAJOR: 3}
INDICATORS = ("none", "minor", "major", "critical")
# The page's headline in the words of Statuspage's top-level status (Atlassian, "Top-level status
# and incident impact calculations"); summary.json's status.description is the same text.
ALL_OPERATIONAL = "All Systems Operational"
UNDER_MAINTENANCE = "Service Under Maintenance"
PARTIALLY_DEGRADED = "Partially Degraded Service"
DEGRADED_SYSTEM = "Degraded System Service"
MINOR_OUTAGE = "Minor Service Outage"
PARTIAL_OUTAGE = "Partial System Outage"
MAJOR_OUTAGE = "Major System Outage"
DESCRIPTIONS = {"none": ALL_OPERATIONAL, "minor": MINOR_OUTAGE, "major": PARTIAL_OUTAGE,
                "critical": MAJOR_OUTAGE}


def grade(targets: Sequence[TargetState]) -> str | None:
    """Every checked target down: major outage; some down (or one past its critical latency):
    partial outage; one degraded: degraded performance; else operational."""
    checked = [t for t in targets if t.status != UNKNOWN]
    if not checked:
        return None
    down = sum(1 for t in checked if t.up is False)
    if down == len(checked):
        return MAJOR
    if down or any(t.status == "critical" for t in checked):
        return PARTIAL
    if any(t.status == "degraded" for t in checked):
        return DEGRADED
    return OPERATIONAL


@dataclass(frozen=True)
class GradedComponent:
    """One component as the public sees it."""

    name: str
    label: str
    essential: bool
    # None: not monitored. MAINTENANCE while a maintenance window covers it.
    grade: str | None
    # What the probes say, maintenance or not (for incidents: none is opened for planned work).
    measured: str | None
    position: int


def indicator(components: Iterable[GradedComponent]) -> tuple[str, str]:
    """(indicator, headline) of the whole page: the worst grade, where a component that is not
    essential counts at most as minor (as overall_status counts it at most degraded).

    The headline: "All Systems Operational"; "Service Under Maintenance" when nothing is worse
    than a window; "Partially Degraded Service" (some) or "Degraded System Service" (all) when
    the worst is degraded performance; "Minor Service Outage" for an outage of a component that
    is not essential; "Partial System Outage" (major); "Major System Outage" (critical)."""
    graded = [c for c in components if c.grade is not None]
    worst = 0
    for component in graded:
        rank = RANK[component.grade]  # type: ignore[index]
        worst = max(worst, rank if component.essential else min(rank, 1))
    name = INDICATORS[worst]
    if name == "none":
        maintenance = any(c.grade == MAINTENANCE for c in graded)
        return name, UNDER_MAINTENANCE if maintenance else ALL_OPERATIONAL
    if name == "minor" and not any(c.grade in OUTAGES for c in graded):
        every = all(c.grade == DEGRADED for c in graded)
        return name, DEGRADED_SYSTEM if every else PARTIALLY_DEGRADED
    return name, DESCRIPTIONS[name]
