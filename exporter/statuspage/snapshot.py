"""One consistent picture of what the status page and its API show at one moment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from exporter.config.model import MaintenanceWindow
from exporter.status import TargetState
from exporter.statuspage.grades import MAINTENANCE, GradedComponent, grade
from exporter.statuspage.history import History
from exporter.statuspage.incidents import Incident
from exporter.summary import ComponentSummary


@dataclass(frozen=True)
class Snapshot:
    now: datetime
    zone: ZoneInfo
    title: str
    components: list[GradedComponent]
    indicator: str
    description: str
    open_incidents: list[Incident]
    resolved_incidents: list[Incident]
    # Windows not over yet, in start order.
    maintenance: list[MaintenanceWindow]
    wedding_day: bool
    history: History | None
    # Why history is missing: "not configured" or "unavailable" ("" when there is history).
    history_missing: str

    @property
    def monitored(self) -> list[GradedComponent]:
        return [c for c in self.components if c.grade is not None]

    @property
    def not_monitored(self) -> list[GradedComponent]:
        return [c for c in self.components if c.grade is None]


def graded(summaries: list[ComponentSummary], windows: list[MaintenanceWindow],
           now: datetime) -> list[GradedComponent]:
    """Each component's grade; a monitored component inside an open window is under
    maintenance (a component nobody monitors stays "not monitored")."""
    out = []
    for position, summary in enumerate(summaries, start=1):
        targets: list[TargetState] = summary.targets
        measured = grade(targets)
        shown = measured
        if measured is not None and any(
                w.open_at(now) and summary.component in w.components for w in windows):
            shown = MAINTENANCE
        out.append(GradedComponent(name=summary.component, label=summary.label,
                                   essential=summary.essential, grade=shown, measured=measured,
                                   position=position))
    return out

