"""The Statuspage-shaped JSON documents (``/api/v2/summary.json``, ``status.json``,
``incidents.json``), in the public shape Atlassian Statuspage documents, so that tools that
read a Statuspage page read ours. The fields are listed in docs/status-page.md.

What is ours: unmonitored components are left out of ``components`` and listed by id in a
top-level ``not_monitored`` array (Statuspage readers ignore unknown keys); ``page.url`` and
``shortlink`` are the page's path ("/"), because the exporter does not know the public host
name and a host name must never appear on the page or in the API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from exporter.config.model import MaintenanceWindow
from exporter.statuspage.grades import GradedComponent
from exporter.statuspage.incidents import Incident
from exporter.statuspage.snapshot import Snapshot
from exporter.summary import iso

PAGE_ID = "wedsync"


def page(snapshot: Snapshot) -> dict[str, Any]:
    return {"id": PAGE_ID, "name": snapshot.title, "url": "/",
            "time_zone": snapshot.zone.key, "updated_at": iso(snapshot.now)}


def status(snapshot: Snapshot) -> dict[str, Any]:
    return {"indicator": snapshot.indicator, "description": snapshot.description}


def component(item: GradedComponent, since: datetime, now: datetime) -> dict[str, Any]:
    return {"id": item.name, "name": item.label, "status": item.grade,
            "created_at": iso(since), "updated_at": iso(now), "position": item.position,
            "description": None, "showcase": True, "start_date": None, "group_id": None,
            "page_id": PAGE_ID, "group": False, "only_show_if_degraded": False}


def incident(item: Incident, by_name: dict[str, GradedComponent], since: datetime,
             now: datetime) -> dict[str, Any]:
    updates = [{"id": u.id, "status": item.status, "body": u.body, "incident_id": item.id,
                "created_at": iso(u.created_at), "updated_at": iso(u.created_at),
                "display_at": iso(u.created_at), "affected_components": None}
               for u in reversed(item.updates)]
    affected = [component(by_name[item.component], since, now)] \
        if item.component in by_name else []
    return {"id": item.id, "name": item.name, "status": item.status,
            "created_at": iso(item.started_at), "updated_at": iso(item.updated_at),
            "monitoring_at": None, "resolved_at": iso(item.resolved_at), "impact": item.impact,
            "shortlink": "/", "started_at": iso(item.started_at), "page_id": PAGE_ID,
            "incident_updates": updates, "components": affected}


def maintenance(window: MaintenanceWindow, by_name: dict[str, GradedComponent],
                since: datetime, now: datetime) -> dict[str, Any]:
    ident = f"maintenance-{int(window.start.timestamp())}"
    state = "in_progress" if window.open_at(now) else "scheduled"
    return {"id": ident, "name": window.message, "status": state,
            "created_at": iso(since), "updated_at": iso(since), "monitoring_at": None,
            "resolved_at": None, "impact": "maintenance", "shortlink": "/",
            "started_at": iso(window.start), "page_id": PAGE_ID,
            "incident_updates": [{"id": f"{ident}-u1", "status": "scheduled",
                                  "body": window.message, "incident_id": ident,
                                  "created_at": iso(since), "updated_at": iso(since),
                                  "display_at": iso(since), "affected_components": None}],
            "components": [component(by_name[c], since, now) for c in window.components
                           if c in by_name],
            "scheduled_for": iso(window.start), "scheduled_until": iso(window.end)}


def summary(snapshot: Snapshot, since: datetime) -> dict[str, Any]:
    """``/api/v2/summary.json``: page, status, components, unresolved incidents, upcoming
    and in-progress maintenance, and our ``not_monitored``."""
    now = snapshot.now
    by_name = {c.name: c for c in snapshot.monitored}
    return {
        "page": page(snapshot),
        "status": status(snapshot),
        "components": [component(c, since, now) for c in snapshot.monitored],
        "incidents": [incident(i, by_name, since, now) for i in snapshot.open_incidents],
        "scheduled_maintenances": [maintenance(w, by_name, since, now)
                                   for w in snapshot.maintenance],
        "not_monitored": [c.name for c in snapshot.not_monitored],
    }


def status_document(snapshot: Snapshot) -> dict[str, Any]:
    """``/api/v2/status.json``: page and status only."""
    return {"page": page(snapshot), "status": status(snapshot)}


def incidents_document(snapshot: Snapshot, since: datetime) -> dict[str, Any]:
    """``/api/v2/incidents.json``: open and recently resolved incidents, newest first."""
    by_name = {c.name: c for c in snapshot.monitored}
    items = [*snapshot.open_incidents, *snapshot.resolved_incidents]
    return {"page": page(snapshot),
            "incidents": [incident(i, by_name, since, snapshot.now) for i in items]}
