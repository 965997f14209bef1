"""Renders /metrics in the background when the store changed, so a scrape only sends bytes.

The renderer sleeps until the store reports a change (it is never polled: an idle exporter
spends nothing between probe runs), waits ``period`` so that a burst of changes costs one
rendering, then renders.

Gauges and counters (a few thousand series with every probe on) are written by
``PlainFamiliesText`` (exporter/metrics/plain_text.py), which formats again only the families
written since the last rendering (``MetricStore.take_changes``) and keeps each series' line
prefix between renderings, 200 series per slice. Histograms are written by their own fast
formatter in slices of ``SLICE`` series, handing the event loop back
between slices, and a text over ``INLINE_GZIP_BYTES`` is gzipped ``GZIP_SLICE`` bytes at a
time the same way, so a full rendering with the request histogram at its caps never holds the
loop for more than a fraction of a millisecond at a time. (Not in a thread: an exporter given
one core runs a thread in the scheduler's slices of several milliseconds, and a scrape would
wait for the slice to end.) The
period stretches when rendering gets expensive so that it stays a small share of one core.

A rendering's cost is the event loop thread's CPU time (``time.thread_time``), not wall time:
on a busy machine a rendering of a few milliseconds can span tens or hundreds of milliseconds
of wall time while the process waits for a core, and a period stretched twenty times that
would leave /metrics seconds behind the store (counters a scrape reads lagging what clients
were already answered).
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from exporter.metrics.plain_text import PlainFamiliesText
from exporter.metrics.store import MetricStore
from exporter.yielding import step_aside

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Series per slice: about 0.3 ms of formatting on these machines.
SLICE = 100
# Below this size gzip takes well under 0.2 ms: done in one go.
INLINE_GZIP_BYTES = 8 * 1024
# Text gzipped per step of a larger rendering: about 0.1 ms at level 1.
GZIP_SLICE = 16 * 1024
# Level 1 (zlib's fastest): on an idle exporter's 24 KB it takes 0.20 ms where level 5 took
# 0.38 ms, for 5.2 KB instead of 4.6 KB; it is done on every rendering (issue 25: idle cost).
GZIP_LEVEL = 1
# Rendering may take at most this share of the time between renderings (CPU time).
RENDER_SHARE = 0.05


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
        self._last_cost = 0.0
        self._plain = PlainFamiliesText()
        self.current = self._render()
        self._task: asyncio.Task[None] | None = None
        self._changed: asyncio.Event | None = None
        # Told how late the wait after a change ended: an event-loop lag reading.
        self.on_lag: Callable[[float], None] | None = None

    def _plain_slices(self) -> Iterator[str]:
        """The gauge and counter text, a slice of series at a time: only the families written
        since the last rendering are formatted again."""
        names, dirty = self.store.take_changes()
        return self._plain.slices(self.store.families, self.store.plain_values(), names, dirty)

    def _slices(self) -> Iterator[str]:
        """The histogram text, one slice of series at a time."""
        for histogram in self.store.histograms():
            series = histogram.snapshot()
            if not series:
                continue
            yield histogram.header
            for start in range(0, len(series), SLICE):
                yield "".join(s.render() for s in series[start:start + SLICE])

    def _finish(self, parts: list[bytes], version: int, gzipped: bytes | None,
                cost: float) -> Rendered:
        plain = b"".join(parts)
        if gzipped is None:
            gzipped = gzip.compress(plain, GZIP_LEVEL, mtime=0)
        self._last_cost = cost
        self.store.set("wedsync_metrics_render_duration_seconds", (), cost, bump=False)
        return Rendered(plain=plain, gzipped=gzipped, version=version)

    def _render(self) -> Rendered:
        """Render everything at once (start-up and reloads)."""
        started = time.thread_time()
        version = self.store.version
        parts = [text.encode() for text in self._plain_slices()]
        parts += [text.encode() for text in self._slices()]
        return self._finish(parts, version, None, time.thread_time() - started)

    async def _render_sliced(self) -> Rendered:
        """Render with the event loop handed back between slices; cost counts CPU only."""
        cost = 0.0
        started = time.thread_time()
        version = self.store.version
        parts: list[bytes] = []
        for text in itertools.chain(self._plain_slices(), self._slices()):
            parts.append(text.encode())
            cost += time.thread_time() - started
            await step_aside()
            started = time.thread_time()
        size = sum(len(p) for p in parts)
        gzipped = None
        if size > INLINE_GZIP_BYTES:
            plain = b"".join(parts)
            parts = [plain]
            # wbits 31: a gzip member (header and trailer), as gzip.compress writes.
            compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
            pieces = []
            view = memoryview(plain)
            for start in range(0, len(plain), GZIP_SLICE):
                pieces.append(compressor.compress(view[start:start + GZIP_SLICE]))
                cost += time.thread_time() - started
                await step_aside()
                started = time.thread_time()
            pieces.append(compressor.flush())
            gzipped = b"".join(pieces)
        return self._finish(parts, version, gzipped, cost + time.thread_time() - started)

    def refresh(self) -> Rendered:
        """Render now if anything changed since the last rendering."""
        if self.store.version != self.current.version:
            self.current = self._render()
        return self.current

    async def _loop(self, changed: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await changed.wait()
            # Let a burst of changes gather; stretch the wait when rendering is expensive (a
            # histogram at its caps under sustained ingestion) so that rendering stays a small
            # share of one core.
            delay = max(self.period, self._last_cost / RENDER_SHARE)
            due = loop.time() + delay
            await asyncio.sleep(delay)
            if self.on_lag is not None:
                self.on_lag(max(0.0, loop.time() - due))
            changed.clear()  # changes from here on (also while rendering) wake it again
            if self.store.version != self.current.version:
                self.current = await self._render_sliced()
            for watcher in self.store.watchers:  # the burst has settled and is rendered
                watcher()

    def start(self) -> None:
        """Start re-rendering in the background."""
        if self._task is None:
            self._changed = changed = asyncio.Event()
            self.store.changed = changed.set
            if self.store.version != self.current.version:
                changed.set()
            self._task = asyncio.create_task(self._loop(changed), name="metrics-renderer")

    async def stop(self) -> None:
        """Stop re-rendering."""
        if self._task is not None:
            self.store.changed = None
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
