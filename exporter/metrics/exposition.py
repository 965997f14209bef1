"""Renders /metrics in the background when the store changed, so a scrape only sends bytes.

The renderer sleeps until the store reports a change (it is never polled: an idle exporter
spends nothing between probe runs), waits ``period`` so that a burst of changes costs one
rendering, then renders.

The registry's families (gauges and counters, a few hundred series) go through
prometheus-client's ``generate_latest``, ``FAMILY_SLICE`` families at a time, and only those
written since the last rendering: each family's text is kept and reused while it is unchanged
(a probe round changes a third of them; formatting every family after every round was most of
an idle exporter's rendering cost, issue 25). Histograms are
written by their own fast formatter in slices of ``SLICE`` series, handing the event loop back
between slices. A text up to ``THREAD_GZIP_BYTES`` is gzipped on the loop ``GZIP_SLICE`` bytes
at a time (a fraction of a millisecond each); a larger one (the request histogram at its caps)
in a worker thread (zlib releases the GIL) — so a full rendering never holds the loop for more
than a fraction of a millisecond at a time, and an idle exporter's renderings (about 25 KiB
after each probe round) wake no thread: the hand-over to a worker and back cost more than the
compression itself (issue 25: idle cost). The
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
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from exporter.metrics.store import MetricStore

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Series per slice: about 0.3 ms of formatting on these machines.
SLICE = 100
# Gauge and counter families per call of generate_latest (the probes' families are small).
FAMILY_SLICE = 20
# Below this size gzip takes well under 0.2 ms: one slice.
INLINE_GZIP_BYTES = 8 * 1024
# Up to this size the text is gzipped on the event loop, a slice of input at a time.
THREAD_GZIP_BYTES = 256 * 1024
GZIP_SLICE = 16 * 1024
# Rendering may take at most this share of the time between renderings (CPU time).
RENDER_SHARE = 0.05


@dataclass(frozen=True)
class Rendered:
    """One rendering of /metrics, plain and gzipped."""

    plain: bytes
    gzipped: bytes
    version: int


class _Families(Collector):
    """A few collected families, in the shape ``generate_latest`` reads."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


class Renderer:
    """Keeps an up-to-date rendering of the store, at most every ``period`` seconds."""

    def __init__(self, store: MetricStore, period: float = 0.25) -> None:
        self.store = store
        self.period = period
        self._last_cost = 0.0
        # Each gauge or counter family's text as last rendered (by name).
        self._texts: dict[str, bytes] = {}
        self.current = self._render()
        self._task: asyncio.Task[None] | None = None
        self._changed: asyncio.Event | None = None

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
            gzipped = gzip.compress(plain, 5, mtime=0)
        self._last_cost = cost
        self.store.set("wedsync_metrics_render_duration_seconds", (), cost, bump=False)
        return Rendered(plain=plain, gzipped=gzipped, version=version)

    def _render(self) -> Rendered:
        """Render everything at once (start-up and reloads)."""
        started = time.thread_time()
        version = self.store.version
        names, changed = self.store.take_changes()
        for name, metric in changed.items():
            self._texts[name] = generate_latest(_Families([metric]))
        parts = self._family_texts(names)
        parts += [text.encode() for text in self._slices()]
        return self._finish(parts, version, None, time.thread_time() - started)

    def _family_texts(self, names: list[str]) -> list[bytes]:
        """The kept texts of ``names``, in order (families that hold no series are dropped);
        one this renderer has never rendered (another took the change) is rendered now."""
        self._texts = {name: self._texts.get(name) or generate_latest(
            _Families([self.store.metric(name)])) for name in names}
        return list(self._texts.values())

    async def _render_sliced(self) -> Rendered:
        """Render with the event loop handed back between slices; cost counts CPU only."""
        cost = 0.0
        started = time.thread_time()
        version = self.store.version
        names, changed = self.store.take_changes()
        metrics = list(changed.items())
        for start in range(0, len(metrics), FAMILY_SLICE):
            for name, metric in metrics[start:start + FAMILY_SLICE]:
                self._texts[name] = generate_latest(_Families([metric]))
            cost += time.thread_time() - started
            await asyncio.sleep(0)
            started = time.thread_time()
        parts = self._family_texts(names)
        for text in self._slices():
            parts.append(text.encode())
            cost += time.thread_time() - started
            await asyncio.sleep(0)
            started = time.thread_time()
        size = sum(len(p) for p in parts)
        gzipped = None
        if size > THREAD_GZIP_BYTES:
            plain = b"".join(parts)
            cost += time.thread_time() - started
            gzipped = await asyncio.to_thread(gzip.compress, plain, 5, mtime=0)
            started = time.thread_time()
            parts = [plain]
        elif size > INLINE_GZIP_BYTES:
            plain = b"".join(parts)
            # The gzip container (wbits 31), as gzip.compress writes it with mtime 0.
            compressor = zlib.compressobj(5, zlib.DEFLATED, 31)
            chunks = []
            for start in range(0, len(plain), GZIP_SLICE):
                chunks.append(compressor.compress(plain[start:start + GZIP_SLICE]))
                cost += time.thread_time() - started
                await asyncio.sleep(0)
                started = time.thread_time()
            chunks.append(compressor.flush())
            gzipped = b"".join(chunks)
            parts = [plain]
        return self._finish(parts, version, gzipped, cost + time.thread_time() - started)

    def refresh(self) -> Rendered:
        """Render now if anything changed since the last rendering."""
        if self.store.version != self.current.version:
            self.current = self._render()
        return self.current

    async def _loop(self, changed: asyncio.Event) -> None:
        while True:
            await changed.wait()
            # Let a burst of changes gather; stretch the wait when rendering is expensive (a
            # histogram at its caps under sustained ingestion) so that rendering stays a small
            # share of one core.
            await asyncio.sleep(max(self.period, self._last_cost / RENDER_SHARE))
            changed.clear()  # changes from here on (also while rendering) wake it again
            if self.store.version != self.current.version:
                self.current = await self._render_sliced()

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
