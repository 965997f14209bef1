"""Operators' public updates shared by every exporter replica (``shared_state``).

Each replica derives its incidents from its own probes, so the same outage has an incident on
each, with ids that may differ by the second each replica saw it start. An update posted to
one replica is appended to a shared list with its component and its incident's start; every
replica attaches it to its own incident of that component that started within ``WINDOW`` of
it (or was open when it was written), once. While the shared Redis is away, an update stays on
the replica that took it and is sent when Redis answers.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from exporter.shared_state.state import SharedState
from exporter.statuspage.incidents import Incident, IncidentLog, Update

SHARED_UPDATES = "statuspage:updates"
# Updates kept in the shared list (every incident's, newest last).
KEEP = 500
# How far apart two replicas' starts of one outage may be.
WINDOW = timedelta(minutes=2)


def _iso(moment: datetime) -> str:
    return moment.isoformat()


class SharedUpdates:
    """Publishes this replica's updates and adopts the others'."""

    def __init__(self, shared: SharedState, incidents: IncidentLog) -> None:
        self.shared = shared
        self.incidents = incidents
        shared.watch_list(SHARED_UPDATES)

    async def publish(self, incident: Incident, update: Update) -> None:
        """Share an update just added here."""
        await self.shared.append(SHARED_UPDATES, {
            "component": incident.component, "incident_started_at": _iso(incident.started_at),
            "id": update.id, "body": update.body, "created_at": _iso(update.created_at)},
            keep=KEEP)

    def adopt(self) -> None:
        """Attach every shared update to this replica's incident for it (idempotent)."""
        for item in self.shared.get(SHARED_UPDATES) or []:
            parsed = _parse(item)
            if parsed is None:
                continue
            component, started_at, update = parsed
            incident = self.incidents.matching(component, started_at, update.created_at,
                                               WINDOW)
            if incident is not None:
                self.incidents.adopt_update(incident, update)


def _parse(item: Any) -> tuple[str, datetime, Update] | None:
    try:
        return (str(item["component"]), datetime.fromisoformat(item["incident_started_at"]),
                Update(id=str(item["id"]), body=str(item["body"]),
                       created_at=datetime.fromisoformat(item["created_at"])))
    except (TypeError, KeyError, ValueError):
        return None
