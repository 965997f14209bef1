"""The generated parts of docs/alerts.md: the alert table, the recording rules (names and labels,
for dashboards), and the fault-to-notification figures at production settings.

Each part sits between ``<!-- generated:NAME -->`` and ``<!-- end generated:NAME -->``;
``python -m alerts build`` rewrites them and a test fails when they are out of date.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from alerts import durations
from alerts.build import RULE_FILES, all_alerts
from alerts.components import down_policies
from alerts.model import Alert, Recording, Timing
from alerts.notification_time import (
    evaluation_seconds,
    notification_time,
    production_settings,
)
from alerts.routing import deliveries
from alerts.wedding_day import variants

DOC = Path(__file__).resolve().parent.parent / "docs" / "alerts.md"


def _timing(alert: Alert, timing: Timing) -> str:
    parts = []
    if timing.threshold is not None:
        parts.append(f"threshold {timing.threshold:g}")
    hold = durations.seconds(timing.for_)
    parts.append(f"for {timing.for_}" if hold else "at once")
    return ", ".join(parts)


def _receivers(alert: Alert, day: str | None) -> str:
    labels = {"alertname": alert.name, "severity": alert.severity}
    if day is not None:
        labels["wedding_day"] = day
    return " + ".join(d.receiver for d in deliveries(labels))


def alerts_table() -> str:
    """One row per alert: severity, timing and receiver on wedding days and other days."""
    rows = ["| Alert | Severity | Says | Wedding day | Other days |", "|---|---|---|---|---|"]
    for alert in all_alerts():
        by_day = dict(variants(alert))
        link = f"[{alert.name}](runbooks/{alert.name}.md)"
        if alert.urgency == "later":
            same = f"{_timing(alert, alert.other_days)} → {_receivers(alert, None)}"
            rows.append(f"| {link} | {alert.severity} | {alert.summary} | {same} (no "
                        "wedding_day label) | same |")
            continue
        wedding = by_day.get("true", by_day.get(None))
        other = by_day.get("false", by_day.get(None))
        cells = []
        for day, timing in (("true", wedding), ("false", other)):
            cells.append("never" if timing is None
                         else f"{_timing(alert, timing)} → {_receivers(alert, day)}")
        rows.append(f"| {link} | {alert.severity} | {alert.summary} | {cells[0]} | {cells[1]} |")
    return "\n".join(rows)


def _labels(recording: Recording) -> list[str]:
    found = set(recording.labels)
    for clause in re.findall(r"by \(([^)]*)\)", recording.expr):
        found |= {name.strip() for name in clause.split(",")} - {"le", ""}
    found |= set(re.findall(r'label_replace\([^,]+,\s*"(\w+)"', recording.expr))
    return sorted(found)


def recordings_table() -> str:
    """One row per recorded series name: its labels and meaning."""
    rows = ["| Series | Labels | Meaning |", "|---|---|---|"]
    seen: dict[str, list[Recording]] = {}
    for rule_file in RULE_FILES:
        for group in rule_file.groups:
            for recording in group.recordings:
                seen.setdefault(recording.record, []).append(recording)
    for name, recordings in seen.items():
        labels = ", ".join(f"`{label}`" for label in _labels(recordings[0])) or "none"
        values = sorted({r.labels["slo"] for r in recordings if "slo" in r.labels})
        if values:
            labels += " (" + ", ".join(values) + ")"
        rows.append(f"| `{name}` | {labels} | {recordings[0].help} |")
    return "\n".join(rows)


def _span(seconds: float) -> str:
    return durations.text(round(seconds))


def notification_times_table() -> str:
    """Fault to notification for every "down" alert at the committed production settings."""
    rows = ["| Alert | Receiver | Wedding day: best / average / worst | "
            "Other days: best / average / worst |", "|---|---|---|---|"]
    by_name = {a.name: a for a in all_alerts()}
    for policy in down_policies():
        alert = by_name[f"WedSync{policy.title}Down"]
        cells = []
        for wedding_day in (True, False):
            labels = {"alertname": alert.name, "severity": alert.severity,
                      "wedding_day": "true" if wedding_day else "false"}
            times = notification_time(alert, wedding_day, production_settings(labels))
            cells.append(f"{_span(times.best)} / {_span(times.average)} / {_span(times.worst)}")
        receivers = f"{_receivers(alert, 'true')} / {_receivers(alert, 'false')}"
        rows.append(f"| {alert.name} | {receivers} | {cells[0]} | {cells[1]} |")
    settings = production_settings({"severity": "critical"})
    rows.append("")
    down = evaluation_seconds(by_name[f"WedSync{down_policies()[0].title}Down"], settings)
    rows.append(f"Settings: probe interval {_span(settings.probe_interval)}, scrape interval "
                f"{_span(settings.scrape_interval)}, evaluation interval "
                f"{_span(settings.evaluation_interval)} (the down alerts' group: "
                f"{_span(down)}), group_wait of the critical pager route "
                f"{_span(settings.group_wait)} (exporter/example.yaml, prometheus/prometheus.yml, "
                "alerts/components.py, prometheus/alertmanager.yml).")
    return "\n".join(rows)


SECTIONS: dict[str, Callable[[], str]] = {
    "alerts": alerts_table,
    "recordings": recordings_table,
    "notification-times": notification_times_table,
}


def update(text: str) -> str:
    """``text`` with every generated section rewritten."""
    for name, render in SECTIONS.items():
        pattern = re.compile(rf"(<!-- generated:{name} -->\n).*?(<!-- end generated:{name} -->)",
                             re.S)
        if not pattern.search(text):
            raise ValueError(f"docs/alerts.md lacks the markers of section {name}")
        body = render() + "\n"
        text = pattern.sub(lambda match, body=body: match[1] + body + match[2], text)
    return text


def write(doc: Path = DOC) -> Path:
    """Rewrite the generated sections of ``doc``."""
    doc.write_text(update(doc.read_text()))
    return doc


def stale(doc: Path = DOC) -> bool:
    """Whether ``doc``'s generated sections differ from the code."""
    text = doc.read_text()
    return update(text) != text
