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
# Statuspage's own descriptions of the blended status.
DESCRIPTIONS = {"none": "All Systems Operational", "minor": "Minor Service Outage",
                "major": "Partial System Outage", "critical": "Major Service Outage"}


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
    """(indicator, description) of the whole page: the worst grade, where a component that is
    not essential counts at most as minor (as overall_status counts it at most degraded)."""
    worst = 0
    maintenance = False
    for component in components:
        if component.grade is None:
            continue
        rank = RANK[component.grade]
        worst = max(worst, rank if component.essential else min(rank, 1))
        maintenance = maintenance or component.grade == MAINTENANCE
    name = INDICATORS[worst]
    if name == "none" and maintenance:
        return name, "Service Under Maintenance"
    return name, DESCRIPTIONS[name]
