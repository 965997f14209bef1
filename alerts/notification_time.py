"""Time from a fault to the notification, computed from the settings the stack runs with.

A fault is seen by the next probe (up to one probe interval later), the next scrape (up to one
scrape interval), the next rule evaluation (up to one evaluation interval); the alert then
waits its ``for:`` and Alertmanager its route's ``group_wait``. Best case the first three are
zero; on average each is half its interval. A fault that makes a probe hang rather than fail
fast adds up to the probe's timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from alerts import durations
from alerts.build import all_alerts
from alerts.model import Alert
from alerts.wedding_day import variants

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    """The intervals a fault travels through (seconds)."""

    probe_interval: float
    scrape_interval: float
    evaluation_interval: float
    group_wait: float
    for_scale: float = 1.0


@dataclass(frozen=True)
class NotificationTime:
    """Best, average and worst seconds from fault to notification."""

    best: float
    average: float
    worst: float


def alert_named(name: str) -> Alert:
    """The alert definition called ``name``."""
    for alert in all_alerts():
        if alert.name == name:
            return alert
    raise KeyError(f"no alert is called {name}")


def for_seconds(alert: Alert, wedding_day: bool, for_scale: float = 1.0) -> float:
    """The alert's for: on a wedding day or another day, scaled as the stack scales it."""
    by_day = dict(variants(alert))
    timing = by_day.get("true" if wedding_day else "false", by_day.get(None))
    if timing is None:
        raise ValueError(f"{alert.name} has no rule for {'wedding' if wedding_day else 'other'} "
                         "days")
    return durations.seconds(durations.scaled(timing.for_, for_scale))


def notification_time(alert: Alert, wedding_day: bool, settings: Settings) -> NotificationTime:
    """How long a fault takes to reach the receiver as ``alert``."""
    hold = for_seconds(alert, wedding_day, settings.for_scale) + settings.group_wait
    travel = settings.probe_interval + settings.scrape_interval + settings.evaluation_interval
    return NotificationTime(best=hold, average=hold + travel / 2, worst=hold + travel)


def _group_wait(route: dict[str, Any], labels: dict[str, str], inherited: str) -> str | None:
    """group_wait of the first route that matches ``labels`` (simple ``a="b"`` matchers)."""
    wait = route.get("group_wait", inherited)
    for child in route.get("routes", []):
        matchers = dict(m.replace('"', "").split("=", 1) for m in child.get("matchers", []))
        if all(labels.get(k) == v for k, v in matchers.items()):
            return _group_wait(child, labels, wait) or wait
    return wait


def production_settings(labels: dict[str, str]) -> Settings:
    """The committed configs' intervals, with the group_wait of the route ``labels`` take."""
    prometheus = yaml.safe_load((REPO / "prometheus" / "prometheus.yml").read_text())["global"]
    alertmanager = yaml.safe_load((REPO / "prometheus" / "alertmanager.yml").read_text())
    exporter = yaml.safe_load((REPO / "exporter" / "example.yaml").read_text())
    # "${WEDSYNC_PROBE_INTERVAL_SECONDS:-15}s": the default the example runs with.
    probe = str(exporter["probe_defaults"]["interval"])
    if probe.startswith("${"):
        probe = probe.split(":-", 1)[1].split("}", 1)[0] + probe.rsplit("}", 1)[1]
    wait = _group_wait(alertmanager["route"], labels, "30s") or "30s"
    return Settings(probe_interval=durations.seconds(probe),
                    scrape_interval=durations.seconds(prometheus["scrape_interval"]),
                    evaluation_interval=durations.seconds(prometheus["evaluation_interval"]),
                    group_wait=durations.seconds(wait))
