"""The page's parts beyond the component rows, as HTML fragments: the wedding-day banner,
incidents with operators' updates, planned maintenance and the uptime bars. Every text that is
not ours (titles, maintenance messages, operators' updates) is escaped."""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape
from zoneinfo import ZoneInfo

from exporter.statuspage.grades import TEXT
from exporter.statuspage.history import Day
from exporter.statuspage.incidents import Incident
from exporter.statuspage.snapshot import Snapshot

BANNER = "Today is a wedding day: the platform is in wedding-day mode and watched extra closely."


def when(moment: datetime, zone: ZoneInfo) -> str:
    """``Sat 6 Jun 14:05 BST`` in the platform's time zone."""
    local = moment.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b %H:%M %Z}"


def banner(snapshot: Snapshot) -> str:
    if not snapshot.wedding_day:
        return ""
    return f'  <div class="banner" id="wedding-day">{BANNER}</div>\n'


def _incident(item: Incident, zone: ZoneInfo) -> str:
    times = f"Since {when(item.started_at, zone)}"
    if item.resolved_at is not None:
        times = f"{when(item.started_at, zone)} – resolved {when(item.resolved_at, zone)}"
    updates = "".join(
        f'<li class="update"><time>{when(u.created_at, zone)}</time> {escape(u.body)}</li>'
        for u in reversed(item.updates))
    return (f'    <article class="incident {item.status}" data-incident="{escape(item.id)}" '
            f'data-component="{escape(item.component)}" data-state="{item.status}">'
            f'<h3>{escape(item.label)}: {TEXT[item.worst].lower()}</h3>'
            f'<p class="meta">{times}. '
            f'{"Resolved" if item.resolved_at else "Now: " + TEXT[item.grade].lower()}.</p>'
            f'{f"<ul class=updates>{updates}</ul>" if updates else ""}</article>\n')


def incidents(snapshot: Snapshot) -> str:
    items = [*snapshot.open_incidents, *snapshot.resolved_incidents]
    if not items:
        return ('  <section id="incidents"><h2>Incidents</h2>'
                '<p class="meta">No current or recent incidents.</p></section>\n')
    return ('  <section id="incidents"><h2>Incidents</h2>\n'
            + "".join(_incident(i, snapshot.zone) for i in items) + "  </section>\n")


def maintenance(snapshot: Snapshot) -> str:
    if not snapshot.maintenance:
        return ""
    labels = {c.name: c.label for c in snapshot.components}
    rows = []
    for window in snapshot.maintenance:
        state = "in_progress" if window.open_at(snapshot.now) else "scheduled"
        names = ", ".join(labels.get(c, c) for c in window.components)
        rows.append(
            f'    <article class="maintenance {state}" data-state="{state}">'
            f'<h3>{"Maintenance under way" if state == "in_progress" else "Planned maintenance"}'
            f'</h3><p>{escape(window.message)}</p><p class="meta">'
            f'{when(window.start, snapshot.zone)} – {when(window.end, snapshot.zone)} · '
            f'{escape(names)}</p></article>\n')
    return '  <section id="maintenance"><h2>Maintenance</h2>\n' + "".join(rows) + \
        "  </section>\n"


def _shade(availability: float | None) -> str:
    if availability is None:
        return "none"
    if availability >= 0.999:
        return "good"
    if availability >= 0.99:
        return "fair"
    return "poor" if availability >= 0.95 else "bad"


def _bar(day: Day) -> str:
    shown = "no data" if day.availability is None else f"{day.availability * 100:.2f}%"
    return (f'<span class="bar {_shade(day.availability)}" data-day="{day.day.isoformat()}" '
            f'title="{day.day:%d %b}: {shown}"></span>')


def history(snapshot: Snapshot) -> str:
    if snapshot.history is None:
        reason = ("History is unavailable right now; the states above are current."
                  if snapshot.history_missing == "unavailable"
                  else "History is not kept for this page.")
        return (f'  <section id="uptime" data-history="{snapshot.history_missing or "none"}">'
                f'<h2>Uptime</h2><p class="meta">{reason}</p></section>\n')
    found = snapshot.history
    kept = ""
    if found.retention_days is not None and found.retention_days < 90:
        kept = f" (Prometheus keeps {found.retention_days:g} days)"
    rows = []
    today = found.fetched_at.astimezone(snapshot.zone).date()
    empty = [Day(today - timedelta(days=found.days - 1 - i), None) for i in range(found.days)]
    for item in snapshot.components:
        if item.grade is None:
            continue
        # Prometheus answers nothing for a component whose every hour was maintenance (or
        # that it has not scraped yet): its row says "no data" rather than vanishing.
        days = found.by_component.get(item.name, empty)
        share = found.overall.get(item.name)
        figure = "no data" if share is None else f"{share * 100:.2f}% uptime"
        rows.append(f'    <div class="history" data-component="{escape(item.name)}">'
                    f'<div class="history-head"><span class="name">{escape(item.label)}</span>'
                    f'<span class="meta">{figure}</span></div>'
                    f'<div class="bars">{"".join(_bar(d) for d in days)}</div></div>\n')
    return (f'  <section id="uptime" data-history="available" data-days="{found.days}">'
            f'<h2>Uptime, last {found.days} days{kept}</h2>\n' + "".join(rows)
            + '    <p class="meta">Each bar is one day. Planned maintenance does not count.'
              '</p>\n  </section>\n')


def all_sections(snapshot: Snapshot) -> str:
    """Incidents, maintenance and uptime, in that order (below the component rows)."""
    return incidents(snapshot) + maintenance(snapshot) + history(snapshot)
