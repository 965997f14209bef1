"""Which components nobody monitors: an essential component without a configured target is
left out of ``overall_status`` (unknown does not count), so it must be said out loud — in a
metric for the dashboard and a warning in the log at every (re)load."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from exporter.catalogue import COMPONENTS
from exporter.metrics.store import Sample

if TYPE_CHECKING:
    from exporter.config import Config
    from exporter.metrics.store import MetricStore

log = structlog.get_logger("exporter.coverage")
FAMILY = "wedsync_component_monitored"
OWNER = ("coverage",)


def unmonitored_essentials(config: Config) -> list[str]:
    """Essential components (component labels, catalogue order) with no configured target."""
    return [c for c in COMPONENTS if c in config.essential and not config.targets(c)]


def record_coverage(config: Config, store: MetricStore) -> list[str]:
    """Set ``wedsync_component_monitored`` for every component, warn about the essential ones
    nobody monitors, and return them."""
    store.replace_owned(OWNER, [
        Sample(FAMILY, {"component": c, "essential": str(c in config.essential).lower()},
               1.0 if config.targets(c) else 0.0) for c in COMPONENTS])
    missing = unmonitored_essentials(config)
    if missing:
        log.warning("essential components are not monitored", components=",".join(missing),
                    hint="configure a target for each (or take it out of components.essential); "
                         "overall_status does not cover them")
    return missing
