"""``GET /``: the public status page (unless ``status_page.enabled`` is false).

Statuses (with Statuspage's grades), latencies and last-check times, and below them the
incidents, maintenance and uptime of ``exporter.statuspage``: no error text, no host names, no
target URLs. It needs no token, and refreshes itself with a meta refresh, so it works without
JavaScript on any phone. It is built by the publisher and served from memory.
"""

from __future__ import annotations

import html
from datetime import datetime
from importlib import resources
from string import Template

from aiohttp import web

from exporter.components import REGISTRY
from exporter.human_time import duration_text
from exporter.statuspage import sections
from exporter.statuspage.grades import (
    ALL_OPERATIONAL,
    MAJOR_OUTAGE,
    PARTIALLY_DEGRADED,
    TEXT,
    UNDER_MAINTENANCE,
)
from exporter.statuspage.publisher import StatusPublisher
from exporter.statuspage.shared_updates import SharedUpdates
from exporter.statuspage.snapshot import Snapshot
from exporter.summary import (
    ComponentSummary,
    milliseconds,
    not_monitored,
    summarise,
)
from exporter.web.hooks import Host
from exporter.web.statuspage_api import add_statuspage_api_routes

# The headline without a snapshot (never while the publisher runs): the health document's
# overall status in Statuspage's words.
FALLBACK = {"healthy": ("none", ALL_OPERATIONAL), "degraded": ("minor", PARTIALLY_DEGRADED),
            "critical": ("critical", MAJOR_OUTAGE), "unknown": ("none", ALL_OPERATIONAL)}
TEMPLATE = Template(resources.files("exporter.web").joinpath("status_page.html").read_text())
ROW = Template('    <li data-component="$key" data-status="$status" data-grade="$grade">'
               '<span class="name">$label</span>'
               '<span class="status $status">$status_text</span>'
               '<span class="meta">$latency · $checked</span></li>')


def _ago(now: datetime, moment: datetime | None) -> str:
    if moment is None:
        return "not checked yet"
    seconds = max(0, int((now - moment).total_seconds()))
    return f"checked {duration_text(seconds)} ago"


def _row(summary: ComponentSummary, now: datetime, grades: dict[str, str | None]) -> str:
    latency = milliseconds(summary.latency)
    status = summary.status
    # Statuspage's grade (issue 23) where the snapshot has one; "not monitored" stays distinct.
    grade = grades.get(summary.component)
    return ROW.substitute(
        key=summary.key, status=status, label=html.escape(summary.label),
        grade=grade or "not_monitored",
        status_text="not monitored" if status == "unknown" and not summary.targets
        else TEXT[grade] if grade else status.capitalize(),
        latency="–" if latency is None else f"{latency:g} ms",
        checked=_ago(now, summary.checked_at))


def not_monitored_note(components: list[ComponentSummary]) -> str:
    """The headline's second line when essential components are not monitored, else ''."""
    keys = not_monitored(components)
    if not keys:
        return ""
    names = ", ".join(s.label for s in components if s.key in keys)
    return (f'<div class="note" id="not-monitored" data-components="{" ".join(keys)}">'
            f"Not monitored: {html.escape(names)}. The overall status does not cover "
            f"{'it' if len(keys) == 1 else 'them'}.</div>")


def refresh_seconds(service: Host) -> int:
    """As often as the fastest probe, but between 2 s and 60 s."""
    intervals = [t.interval for c in REGISTRY for t in service.config.targets(c.name)]
    return int(max(2, min(60, min(intervals, default=15))))


def render(service: Host, snapshot: Snapshot | None = None) -> str:
    """The page for the current state (with the snapshot's banner, incidents, maintenance and
    uptime when given)."""
    runtime = service.runtime
    states = dict(runtime.states) if runtime is not None else {}
    status, components = summarise(states, service.config.essential)
    now = service.clock()
    grades = {c.name: c.grade for c in snapshot.components} if snapshot else {}
    level, headline = (snapshot.indicator, snapshot.description) if snapshot \
        else FALLBACK[status]
    return TEMPLATE.substitute(
        title=html.escape(service.config.status_page_title),
        refresh=refresh_seconds(service), overall=status, headline=headline,
        indicator=level, tone="maintenance" if headline == UNDER_MAINTENANCE else level,
        not_monitored=not_monitored_note(components),
        rows="\n".join(_row(s, now, grades) for s in components),
        banner=sections.banner(snapshot) if snapshot else "",
        sections=sections.all_sections(snapshot) if snapshot else "",
        updated=now.strftime("%H:%M:%S"))


def add_status_page_routes(app: web.Application, service: Host) -> None:
    # Built once a second in the background and served from memory (issue 23).
    publisher = StatusPublisher(service, lambda snapshot: render(service, snapshot))
    shared = getattr(service, "shared_state", None)
    if shared is not None:
        # Several replicas: operators' updates posted to any of them show on every one.
        publisher.shared_updates = SharedUpdates(shared, publisher.incidents)
    add_statuspage_api_routes(app, service, publisher)

    async def page(_: web.Request) -> web.Response:
        if not service.config.status_page_enabled:
            raise web.HTTPNotFound(text="The status page is turned off.\n")
        return web.Response(body=publisher.current().page, content_type="text/html",
                            charset="utf-8", headers={"Cache-Control": "no-store"})

    app.router.add_get("/", page)
