"""Time from a fault to the notification, computed from the settings the stack runs with.

A fault is seen by the next probe (up to one probe interval later), the next scrape (up to one
scrape interval), the next rule evaluation (up to one evaluation interval: its group's own where
it has one, as the "down" alerts do); the alert then waits its ``for:`` and Alertmanager its
route's ``group_wait``. Best case the first three are
zero; on average each is half its interval. A fault that makes a probe hang rather than fail
fast adds up to the probe's timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from alerts import durations
from alerts.build import RULE_FILES, all_alerts
from alerts.model import Alert
from alerts.routing import deliveries
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


def evaluation_seconds(alert: Alert, settings: Settings) -> float:
    """How often ``alert``'s rule group is evaluated: its own ``interval`` (scaled as the stack
    scales it) where it has one, else the global evaluation interval."""
    for rule_file in RULE_FILES:
        for group in rule_file.groups:
            if group.interval and any(a.name == alert.name for a in group.alerts):
                return durations.seconds(durations.scaled(group.interval, settings.for_scale))
    return settings.evaluation_interval


def notification_time(alert: Alert, wedding_day: bool, settings: Settings) -> NotificationTime:
    """How long a fault takes to reach the receiver as ``alert``."""
    hold = for_seconds(alert, wedding_day, settings.for_scale) + settings.group_wait
    travel = (settings.probe_interval + settings.scrape_interval
              + evaluation_seconds(alert, settings))
    return NotificationTime(best=hold, average=hold + travel / 2, worst=hold + travel)


def production_settings(labels: dict[str, str]) -> Settings:
    """The committed configs' intervals, with the group_wait of the route ``labels`` take."""
    prometheus = yaml.safe_load((REPO / "prometheus" / "prometheus.yml").read_text())["global"]
    exporter = yaml.safe_load((REPO / "exporter" / "example.yaml").read_text())
    # "${WEDSYNC_PROBE_INTERVAL_SECONDS:-15}s": the default the example runs with.
    probe = str(exporter["probe_defaults"]["interval"])
    if probe.startswith("${"):
        probe = probe.split(":-", 1)[1].split("}", 1)[0] + probe.rsplit("}", 1)[1]
    wait = deliveries(labels)[0].group_wait
    return Settings(probe_interval=durations.seconds(probe),
                    scrape_interval=durations.seconds(prometheus["scrape_interval"]),
                    evaluation_interval=durations.seconds(prometheus["evaluation_interval"]),
                    group_wait=durations.seconds(wait))
