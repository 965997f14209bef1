"""The status page and its API, built at most once a second and served from memory.

A background task looks at what a visitor must never see out of date (every target's status,
which maintenance windows are open, incidents, history) whenever the metric store changes (a
probe result, the maintenance gauge: in the same wake-up as the metrics rendering, once the
burst of changes it gathers has settled) or the uptime history does, at most once a second, and
rebuilds the snapshot when that changed — so incidents open and close on time even when nobody
looks. It looks on a timer as well only where something changes with time alone: every
``REFRESH`` seconds where maintenance windows are configured, every ``TICK`` where replicas
share operators' updates. A snapshot older than ``REFRESH`` seconds (the page's clock and
durations) is rebuilt in the background when someone asks for it, and by the request itself
when it is older than ``STALE``. It refreshes the uptime history every ``prometheus.refresh``.
Rebuilding every second whether or not anything changed was the largest part of an idle
exporter's CPU; looking every second, rebuilding every ten seconds for nobody, and then
waking every ten seconds to look, the rest of it (issue 25).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

import structlog

from exporter.config.model import Config
from exporter.metrics.store import MetricStore
from exporter.runtime import Runtime
from exporter.statuspage import documents
from exporter.statuspage.grades import indicator
from exporter.statuspage.history import HistoryFetcher
from exporter.statuspage.incidents import IncidentLog
from exporter.statuspage.shared_updates import SharedUpdates
from exporter.statuspage.snapshot import Snapshot, graded
from exporter.summary import summarise
from exporter.yielding import step_aside

log = structlog.get_logger("exporter.statuspage")
TICK = 1.0
# A snapshot with nothing a visitor must see changed is rebuilt this often (its clock moves on).
REFRESH = 10.0
STALE = REFRESH + 2.0


class Source(Protocol):
    """What the publisher reads of the running exporter (web.hooks.Host is one)."""

    config: Config
    runtime: Runtime | None
    store: MetricStore

    def clock(self) -> datetime:
        ...


@dataclass(frozen=True)
class Published:
    """Encoded answers of one snapshot."""

    snapshot: Snapshot
    page: bytes
    summary: bytes
    status: bytes
    incidents: bytes
    built: float
    signature: tuple[object, ...]


def _encode(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


class StatusPublisher:
    """Builds snapshots from the host's current state and keeps the last one encoded."""

    def __init__(self, host: Source, render_page: Callable[[Snapshot], str]) -> None:
        self.host = host
        self.render_page = render_page
        self.incidents = IncidentLog()
        self.history = HistoryFetcher(
            settings=lambda: host.config.prometheus,
            windows=lambda: host.config.maintenance,
            zone=lambda: ZoneInfo(host.config.timezone), clock=host.clock)
        # Statuspage's components carry a created_at: when this exporter started publishing.
        self.since: datetime = host.clock()
        self._published: Published | None = None
        self._tasks: list[asyncio.Task[None]] = []
        # Other replicas' operator updates (exporter.statuspage.shared_updates), if shared.
        self.shared_updates: SharedUpdates | None = None
        # Someone asked for the page or the API since the last build.
        self._requested = False
        self._nudged: asyncio.Event | None = None

    def snapshot(self) -> Snapshot:
        """What is true now; opens and resolves incidents as a side effect."""
        host = self.host
        now = host.clock()
        runtime = host.runtime
        states = dict(runtime.states) if runtime is not None else {}
        _, summaries = summarise(states, host.config.essential)
        windows = list(host.config.maintenance)
        components = graded(summaries, windows, now)
        self.incidents.observe(components, now)
        if self.shared_updates is not None:
            self.shared_updates.adopt()
        level, description = indicator(components)
        wedding = runtime is not None and runtime.wedding_day is not None and bool(
            runtime.wedding_day.evaluate(now))
        return Snapshot(
            now=now, zone=ZoneInfo(host.config.timezone), title=host.config.status_page_title,
            components=components, indicator=level, description=description,
            open_incidents=self.incidents.open(), resolved_incidents=self.incidents.resolved(),
            maintenance=[w for w in windows if w.end > now], wedding_day=wedding,
            history=self.history.history, history_missing=self.history.missing)

    def _signature(self) -> tuple[object, ...]:
        """What a visitor must never see out of date: every target's status (a few tuples, so
        checking it costs microseconds), the configuration, incidents, history and which
        maintenance windows are open."""
        runtime = self.host.runtime
        states = runtime.states if runtime is not None else {}
        now = self.host.clock()
        windows = tuple(w.open_at(now) for w in self.host.config.maintenance)
        return (id(self.host.config), self.incidents.generation, self.history.generation, windows,
                *((key, state.status, state.up) for key, state in sorted(states.items())))

    def _building(self) -> Iterator[None]:
        """Build and publish a snapshot in steps of a fraction of a millisecond each (the
        snapshot, the page, the documents), yielding between them."""
        self._requested = False
        signature = self._signature()
        snapshot = self.snapshot()
        yield
        page = self.render_page(snapshot).encode()
        yield
        summary = _encode(documents.summary(snapshot, self.since))
        yield
        self._published = Published(
            snapshot=snapshot, page=page, summary=summary,
            status=_encode(documents.status_document(snapshot)),
            incidents=_encode(documents.incidents_document(snapshot, self.since)),
            built=time.monotonic(), signature=signature)

    def rebuild(self) -> Published:
        """Build and publish a snapshot now, in one go."""
        for _ in self._building():
            pass
        assert self._published is not None
        return self._published

    async def _rebuild_in_steps(self) -> None:
        """As ``rebuild``, handing the event loop back between the steps: the whole build
        takes 1-2 ms, which a scrape would otherwise wait for."""
        for _ in self._building():
            await step_aside()

    def current(self) -> Published:
        """The last build; a new one if there is none, a status changed since (so the page
        never contradicts the health document), or the background task stalled."""
        self._requested = True
        found = self._published
        if found is None or time.monotonic() - found.built > STALE or \
                found.signature != self._signature():
            return self.rebuild()
        if time.monotonic() - found.built >= REFRESH and self._nudged is not None:
            self._nudged.set()  # the background task rebuilds it for the clock
        return found

    async def _check(self) -> None:
        try:
            if self.shared_updates is not None:
                # Other replicas' updates count as a change a visitor must see at once.
                self.shared_updates.adopt()
            found = self._published
            if found is None or found.signature != self._signature() or (
                    self._requested and time.monotonic() - found.built >= REFRESH):
                await self._rebuild_in_steps()
        except Exception as exc:  # a bad build must not stop the page from updating
            log.error("status page build failed", error=repr(exc))

    async def _tick(self, nudged: asyncio.Event) -> None:
        while True:
            checked = time.monotonic()
            await self._check()
            nudged.clear()
            if self.shared_updates is not None:
                wait: float | None = TICK
            else:
                wait = REFRESH if self.host.config.maintenance else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(nudged.wait(), wait)
            # At most one look a second, however often the store changes (ingestion).
            rest = TICK - (time.monotonic() - checked)
            if rest > 0:
                await asyncio.sleep(rest)

    async def start(self) -> None:
        self._nudged = nudged = asyncio.Event()
        self.host.store.watchers.append(nudged.set)
        self.history.on_change = nudged.set
        self._tasks = [asyncio.create_task(self._tick(nudged)),
                       asyncio.create_task(self.history.run())]

    async def close(self) -> None:
        if self._nudged is not None:
            with contextlib.suppress(ValueError):
                self.host.store.watchers.remove(self._nudged.set)
            self.history.on_change = None
            self._nudged = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
