"""Renders /metrics in the background when the store changed, so a scrape only sends bytes."""

from __future__ import annotations

import asyncio
import gzip
import time
from dataclasses import dataclass

from prometheus_client import generate_latest

from exporter.metrics.store import MetricStore

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class Rendered:
    """One rendering of /metrics, plain and gzipped."""

    plain: bytes
    gzipped: bytes
    version: int


class Renderer:
    """Keeps an up-to-date rendering of the store, at most every ``period`` seconds."""

    def __init__(self, store: MetricStore, period: float = 0.25) -> None:
        self.store = store
        self.period = period
        self.current = self._render()
        self._task: asyncio.Task[None] | None = None

    def _render(self) -> Rendered:
        started = time.perf_counter()
        version = self.store.version
        plain = generate_latest(self.store.registry)
        rendered = Rendered(plain=plain, gzipped=gzip.compress(plain, 5, mtime=0), version=version)
        self.store.set("wedsync_metrics_render_duration_seconds", (),
                       time.perf_counter() - started, bump=False)
        return rendered

    def refresh(self) -> Rendered:
        """Render now if anything changed since the last rendering."""
        if self.store.version != self.current.version:
            self.current = self._render()
        return self.current

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            self.refresh()

    def start(self) -> None:
        """Start re-rendering in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="metrics-renderer")

    async def stop(self) -> None:
        """Stop re-rendering."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
