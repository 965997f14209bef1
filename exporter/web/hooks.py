"""What the HTTP layer sees of the running exporter, and the shape of a feature's routes.

Route modules (health, status page, ingestion, validation, deploy gate) take a ``Host``, not
the service itself, so nothing in web/ or the features imports ``exporter.service``: the
service imports them (the list is exporter.features.ROUTES) and hands itself over.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from aiohttp import web

from exporter.config.model import Config
from exporter.metrics.exposition import Renderer
from exporter.metrics.store import MetricStore
from exporter.runtime import Runtime
from exporter.web.security import Guard


class Host(Protocol):
    """The running exporter, as route handlers use it."""

    config: Config
    store: MetricStore
    guard: Guard
    renderer: Renderer
    runtime: Runtime | None

    def clock(self) -> datetime:
        """Now (the service's clock, which tests may set to a Saturday in June)."""
        ...

    @property
    def ready(self) -> bool:
        """Every configured probe has run once."""
        ...

    async def reload(self) -> tuple[bool, str]:
        """Re-read the configuration: (applied, what happened)."""
        ...

    def performance_summary(self) -> dict[str, float] | None:
        """Ingestion's last-5-minute summary for the health document (None without data)."""
        ...


# ``hook(app, host)`` adds one feature's routes to the application.
RouteHook = Callable[[web.Application, Host], None]
