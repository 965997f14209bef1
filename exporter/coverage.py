"""Which components nobody monitors: an essential component without a configured target is
left out of ``overall_status`` (unknown does not count), so it must be said out loud — in a
metric for the dashboard and a warning in the log at every (re)load."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from exporter.metrics.store import Sample
from exporter.summary import summarise

if TYPE_CHECKING:
    from exporter.config import Config
    from exporter.metrics.store import MetricStore

log = structlog.get_logger("exporter.coverage")
FAMILY = "wedsync_component_monitored"
OWNER = ("coverage",)


def record_coverage(config: Config, store: MetricStore) -> list[str]:
    """Set ``wedsync_component_monitored`` for every component, warn about the essential ones
    nobody monitors, and return them (component labels)."""
    components = summarise({}, config.essential)[1]
    store.replace_owned(OWNER, [
        Sample(FAMILY, {"component": s.component, "essential": str(s.essential).lower()},
               1.0 if config.targets(s.component) else 0.0) for s in components])
    missing = [s.component for s in components
               if s.essential and not config.targets(s.component)]
    if missing:
        log.warning("essential components are not monitored", components=",".join(missing),
                    hint="configure a target for each (or take it out of components.essential); "
                         "overall_status does not cover them")
    return missing
