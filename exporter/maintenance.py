"""``wedsync_maintenance_active{component}``: planned maintenance as Prometheus sees it.

The status page knows the configured windows; Prometheus does not. The uptime recording rules
(``wedsync:component_up:ratio_avg5m`` and the 30-day figure built on it) and the page's own
history query leave out the time this gauge was 1, so that planned work counts as neither
downtime nor uptime, also after the window has been deleted from the configuration. Nothing
else reads it: maintenance silences no alert and opens no gate.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from exporter.components import REGISTRY
from exporter.config.model import MaintenanceWindow
from exporter.metrics.store import MetricStore

METRIC = "wedsync_maintenance_active"
# Windows open and close on the minute in practice; checking every 5 s keeps the gauge within a
# scrape of the configured times at the cost of a comparison per window.
INTERVAL = 5.0
# With no window configured the gauge is 0 until a reload (which builds a new runtime), so the
# job runs once at start and then rarely: not twelve wake-ups a minute for nothing (issue 25).
IDLE_INTERVAL = 3600.0


def interval(windows: Iterable[MaintenanceWindow]) -> float:
    """How often the gauge needs checking with these windows configured."""
    return INTERVAL if any(True for _ in windows) else IDLE_INTERVAL


def under_maintenance(windows: Iterable[MaintenanceWindow], now: datetime) -> frozenset[str]:
    """Components an open window covers at ``now``."""
    return frozenset(c for w in windows if w.open_at(now) for c in w.components)


def export(store: MetricStore, windows: Iterable[MaintenanceWindow], now: datetime) -> None:
    """Set the gauge for every registered component (0 outside maintenance, so that no series
    appears out of nowhere when a window opens)."""
    active = under_maintenance(windows, now)
    for name in REGISTRY.names():
        value = 1.0 if name in active else 0.0
        if store.get(METRIC, (name,)) != value:
            store.set(METRIC, (name,), value)
