"""Incidents derived from component grades, and operators' public updates, kept in memory.

While a component is in partial or major outage it has an open incident: which component, when
the outage was first seen, the worst grade so far, and its resolved time once it is over. The
text is made from the component's label and grade only, never from alerts or probe errors. An
operator may add short updates (``add_update``); they are public and shown escaped.
"""

from __future__ import annotations

import unicodedata
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from exporter.statuspage.grades import MAJOR, OUTAGES, RANK, TEXT, GradedComponent

MAX_UPDATE_CHARS = 500
MAX_UPDATES_PER_INCIDENT = 20
# Resolved incidents stay on the page for a week, at most 50 of them (memory is bounded).
KEEP_RESOLVED = timedelta(days=7)
MAX_RESOLVED = 50


class UpdateRefused(ValueError):
    """An operator's update is empty, too long, or names no open or recent incident."""


@dataclass(frozen=True)
class Update:
    id: str
    body: str
    created_at: datetime


@dataclass
class Incident:
    id: str
    component: str
    label: str
    started_at: datetime
    grade: str
    worst: str
    updated_at: datetime
    resolved_at: datetime | None = None
    updates: list[Update] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.label}: {TEXT[self.worst].lower()}"

    @property
    def status(self) -> str:
        """Statuspage's incident status: investigating until it is over, then resolved."""
        return "resolved" if self.resolved_at is not None else "investigating"

    @property
    def impact(self) -> str:
        return "critical" if self.worst == MAJOR else "major"


def clean_update(body: object) -> str:
    """The update's text, or UpdateRefused saying what is wrong with it."""
    if not isinstance(body, str):
        raise UpdateRefused("the update needs a 'body' string")
    # Control characters (other than line breaks) have no place on a public page.
    text = "".join(c for c in body if c in "\n" or unicodedata.category(c)[0] != "C").strip()
    if not text:
        raise UpdateRefused("the update's body is empty")
    if len(text) > MAX_UPDATE_CHARS:
        raise UpdateRefused(f"the update is {len(text)} characters; the limit is "
                            f"{MAX_UPDATE_CHARS}")
    return text


class IncidentLog:
    """Open and recently resolved incidents, opened and resolved by ``observe``."""

    def __init__(self) -> None:
        self._open: dict[str, Incident] = {}
        self._resolved: deque[Incident] = deque(maxlen=MAX_RESOLVED)
        # Moves whenever something shown changes (the publisher's cache key).
        self.generation = 0

    def observe(self, components: list[GradedComponent], now: datetime) -> None:
        """Open an incident for each component newly in outage, follow the open ones, resolve
        those whose outage is over (or that are no longer monitored)."""
        for component in components:
            measured = component.measured
            # Planned maintenance is not an outage; neither is a component nobody checks.
            outage = measured in OUTAGES and component.grade in OUTAGES
            incident = self._open.get(component.name)
            if outage and incident is None:
                self._open[component.name] = Incident(
                    id=f"{component.name}-{int(now.timestamp())}", component=component.name,
                    label=component.label, started_at=now, grade=str(measured),
                    worst=str(measured), updated_at=now)
                self.generation += 1
            elif outage and incident is not None and incident.grade != measured:
                incident.grade = str(measured)
                if RANK[incident.grade] > RANK[incident.worst]:
                    incident.worst = incident.grade
                incident.updated_at = now
                self.generation += 1
            elif not outage and incident is not None:
                incident.resolved_at = incident.updated_at = now
                self._resolved.appendleft(self._open.pop(component.name))
                self.generation += 1
        while self._resolved and now - self._resolved[-1].resolved_at > KEEP_RESOLVED:  # type: ignore[operator]
            self._resolved.pop()
            self.generation += 1

    def open(self) -> list[Incident]:
        """Open incidents, newest first."""
        return sorted(self._open.values(), key=lambda i: i.started_at, reverse=True)

    def resolved(self) -> list[Incident]:
        """Resolved incidents of the last week, newest first."""
        return list(self._resolved)

    def matching(self, component: str, started_at: datetime, written_at: datetime,
                 window: timedelta) -> Incident | None:
        """This log's incident of ``component`` that is the same outage as one another replica
        saw start at ``started_at``: it started within ``window`` of it, or it was open when
        the update was written (another replica's copy of an incident, shared updates)."""
        for incident in [*self._open.values(), *self._resolved]:
            if incident.component != component:
                continue
            if abs(incident.started_at - started_at) <= window or (
                    incident.started_at <= written_at
                    and (incident.resolved_at is None or written_at <= incident.resolved_at)):
                return incident
        return None

    def adopt_update(self, incident: Incident, update: Update) -> bool:
        """Attach another replica's update to ``incident`` unless it is there already."""
        if any(u.id == update.id and u.created_at == update.created_at
               for u in incident.updates):
            return False
        if len(incident.updates) >= MAX_UPDATES_PER_INCIDENT:
            return False
        incident.updates.append(update)
        incident.updates.sort(key=lambda u: u.created_at)
        incident.updated_at = max(incident.updated_at, update.created_at)
        self.generation += 1
        return True

    def find(self, incident_id: str, window: timedelta = timedelta(minutes=2)
             ) -> Incident | None:
        """The incident ``incident_id`` names: this log's own id, or another replica's id
        (``<component>-<unix start>``) of the same outage."""
        for incident in [*self._open.values(), *self._resolved]:
            if incident.id == incident_id:
                return incident
        component, _, started = incident_id.rpartition("-")
        if not started.isdigit():
            return None
        moment = datetime.fromtimestamp(int(started), tz=UTC)
        return self.matching(component, moment, moment, window)

    def add_update(self, incident_id: str, body: object, now: datetime) -> Update:
        """Add an operator's public update to an open or recently resolved incident."""
        text = clean_update(body)
        incident = self.find(incident_id)
        if incident is None:
            raise UpdateRefused(f"no open or recent incident {incident_id!r}; GET "
                                f"/api/v2/incidents.json lists them")
        if len(incident.updates) >= MAX_UPDATES_PER_INCIDENT:
            raise UpdateRefused(f"incident {incident_id} already has "
                                f"{MAX_UPDATES_PER_INCIDENT} updates, the limit")
        update = Update(id=f"{incident.id}-u{len(incident.updates) + 1}", body=text,
                        created_at=now)
        incident.updates.append(update)
        incident.updated_at = now
        self.generation += 1
        return update
