"""Statuses: a target's from its last probe and thresholds; a component's from its targets;
the overall status from the essential components."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from exporter.catalogue import STATUSES
from exporter.config.model import Thresholds

# healthy < degraded < critical: the catalogue's status set, in order, is the one definition.
ORDER = {status: rank for rank, status in enumerate(STATUSES)}
UNKNOWN = "unknown"


def worst(statuses: Iterable[str]) -> str:
    """The worst of ``statuses`` (healthy < degraded < critical); unknown when empty."""
    known = [s for s in statuses if s in ORDER]
    return max(known, key=ORDER.__getitem__) if known else UNKNOWN


def judge(up: bool, latency: float | None, thresholds: Thresholds,
          probe_status: str | None = None) -> str:
    """A target's status: critical when down or above the critical latency, degraded above the
    degraded latency (or when the probe itself judged it degraded), else healthy."""
    if not up:
        return "critical"
    status = "healthy"
    if latency is not None:
        if thresholds.critical is not None and latency > thresholds.critical:
            status = "critical"
        elif thresholds.degraded is not None and latency > thresholds.degraded:
            status = "degraded"
    if probe_status is not None:
        status = worst((status, probe_status))
    return status


@dataclass
class TargetState:
    """What the last probe of one target found, for the health document and status page."""

    component: str
    target: str
    status: str = UNKNOWN
    up: bool | None = None
    latency: float | None = None
    checked_at: datetime | None = None
    last_success: datetime | None = None
    last_error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def overall(component_statuses: dict[str, str], essential: Iterable[str]) -> str:
    """The worst essential status; a non-essential component makes it at most degraded.

    Components whose status is unknown (nothing configured or not yet probed) do not count.
    """
    essential = set(essential)
    statuses = []
    for component, status in component_statuses.items():
        if status == UNKNOWN:
            continue
        if component not in essential and status == "critical":
            status = "degraded"
        statuses.append(status)
    return worst(statuses) if statuses else UNKNOWN
