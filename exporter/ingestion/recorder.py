"""The ingestion pipeline: check, normalise, cap, record; every event is accounted for.

One ``Ingestion`` per exporter: the service builds it next to the metric store and hands it to
the HTTP route and, through the runtime, to the performance_logs tailer, so both sources obey
the same caps. It outlives reloads, like the store: a reload only changes its settings.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from exporter.config.model import Config
from exporter.ingestion.cache import CacheCounters
from exporter.ingestion.caps import LabelCaps
from exporter.ingestion.check import check_event
from exporter.ingestion.contract import REASONS
from exporter.ingestion.routes import OTHER, RouteNormaliser, method_label
from exporter.ingestion.settings import IngestionSettings, ingestion_settings
from exporter.ingestion.window import SlidingSummary
from exporter.metrics.histogram import Series
from exporter.metrics.store import MetricStore

DURATION = "wedsync_http_request_duration_seconds"
EVENTS = "wedsync_ingest_events_total"
REJECTED = "wedsync_ingest_rejected_total"
FOLDED = "wedsync_ingest_folded_total"
LAST_EVENT = "wedsync_ingest_last_event_timestamp_seconds"
FOLDABLE = ("route", "method")
_ROUTE_FOLDED, _METHOD_FOLDED = 1, 2
# Batches parsed and being recorded at once (the others wait as bytes, see http.py).
PARSED_AT_ONCE = 1
# Events recorded between two looks at the clock when recording against a deadline: about
# 0.1 ms of work (an event costs about 11 microseconds to check, normalise and record).
CLOCK_EVERY = 8
# Raw (endpoint, method, status) triples remembered with their series; starts afresh when full.
TARGET_MEMO_SIZE = 20_000
# Entries of a full memo freed per call to ``record``: freeing all 20,000 in one go held the
# event loop about 1 ms; this many take a few hundredths of that.
RETIRE_EVERY = 500
_STATUS_CLASSES = {n: f"{n}xx" for n in range(1, 6)}


@dataclass
class Outcome:
    """What became of a batch: how many were accepted, and which were rejected and why."""

    accepted: int = 0
    errors: list[tuple[int, str, str]] = field(default_factory=list)
    # Index after the last event looked at (less than len(events) when time ran out).
    end: int = 0

    @property
    def rejected(self) -> int:
        return len(self.errors)


def memo_key(endpoint: str, method: str, status: int | float) -> str:
    """One text per raw (endpoint, method, status): the method's length first, so that no
    two triples give the same text."""
    return f"{len(method)}:{method}{status}:{endpoint}"


def _recent(timestamp: str, horizon: float, horizon_text: str) -> bool:
    """False only for a parseable timestamp older than ``horizon`` (others count as now)."""
    # UTC stamps in the usual layout compare as text: a later second is recent, no parsing.
    if timestamp[10:11] == "T" and timestamp[-1:] == "Z" and timestamp[:19] > horizon_text:
        return True
    try:
        return datetime.fromisoformat(timestamp).timestamp() > horizon
    except (ValueError, OverflowError):
        return True


class Ingestion:
    """Records request timings from any source into the histogram and the 5-minute summary."""

    def __init__(self, store: MetricStore, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self.histogram = store.histogram(DURATION)
        self.window = SlidingSummary(clock=clock)
        self.settings = ingestion_settings({})
        self.normaliser = RouteNormaliser()
        self.caps = LabelCaps(self.settings.route_cap, self.settings.series_cap)
        self._config: Config | None = None
        # Raw (endpoint, method, status), as ``memo_key`` text -> index of its target in
        # _target_list, for endpoints that repeat exactly. Plain values only, which the garbage
        # collector never tracks: with (series, flags) tuples as values they were most of what
        # a full pass walked under ingestion (5 ms passes, several a second), and with tuples
        # as keys (tracked until a pass looks at them) the young generation filled with memo
        # keys while the collector was held off during batches (gc_tuning.collector_paused).
        self._targets: dict[str, int] = {}
        # The last full memo, being freed RETIRE_EVERY entries at a time.
        self._retired: dict[str, int] = {}
        # Every target handed out since the last reset: (series, folded-label flags).
        self._target_list: list[tuple[Series, int]] = []
        self._target_index: dict[tuple[Series, int], int] = {}
        # Admitted (route, method, status_class) -> index in _target_list.
        self._admitted: dict[tuple[str, str, str], int] = {}
        # Bounds how many posted batches are parsed into objects at a time.
        self.parsing = asyncio.Semaphore(PARSED_AT_ONCE)
        # Tailer positions by database target, kept across reloads (see tail.py).
        self.tail_positions: dict[str, Any] = {}
        for result in ("accepted", "rejected"):
            store.zero(EVENTS, {"result": result})
        for reason in REASONS:
            store.zero(REJECTED, {"reason": reason})
        for label in FOLDABLE:
            store.zero(FOLDED, {"label": label})
        # The application's cache counters per layer, posted beside the events.
        self.cache = CacheCounters(store, REJECTED)

    def configure(self, config: Config) -> IngestionSettings:
        """Adopt the settings of ``config`` (cheap when it is the one already adopted)."""
        if config is self._config:
            return self.settings
        new = config.ingestion
        old = self.settings
        if new.route_templates != old.route_templates:
            self.normaliser = RouteNormaliser(new.route_templates)
        self.caps.resize(new.route_cap, new.series_cap)
        self._targets.clear()
        self._retired = {}
        self._admitted.clear()
        self._target_list.clear()
        self._target_index.clear()
        self.settings, self._config = new, config
        return new

    def _target(self, endpoint: str, method: str, status: int | float) -> int:
        """The index in ``_target_list`` of the series an event goes to and which of its
        labels were folded (bit flags)."""
        route = self.normaliser.normalise(endpoint)
        method_value = method_label(method)
        wanted = (route, method_value, _STATUS_CLASSES[int(status) // 100])
        index = self._admitted.get(wanted)
        if index is None:
            labels, route_folded = self.caps.admit(*wanted)
            flags = (_ROUTE_FOLDED if route_folded else 0) | (
                _METHOD_FOLDED if method_value == OTHER else 0)
            index = self._index_of((self.histogram.labels(*labels), flags))
            if not route_folded:  # bounded by the caps
                self._admitted[wanted] = index
                self._zero_errors(route, method_value)
        if len(self._targets) >= TARGET_MEMO_SIZE:
            self._retired, self._targets = self._targets, {}
        self._targets[memo_key(endpoint, method, status)] = index
        return index

    def _index_of(self, target: tuple[Series, int]) -> int:
        index = self._target_index.get(target)
        if index is None:
            index = self._target_index[target] = len(self._target_list)
            self._target_list.append(target)
        return index

    def _zero_errors(self, route: str, method: str) -> None:
        """Create the route's 5xx series at zero when the route is first seen: ``rate()``
        counts a series only from its second sample, so a series born with the route's first
        error would hide that error from the availability SLO."""
        labels, folded = self.caps.admit(route, method, "5xx")
        if not folded:
            self.histogram.labels(*labels)

    def record(self, events: Sequence[Any], *, offset: int = 0,
               times: Sequence[float | None] | None = None,
               now: float | None = None, start: int = 0,
               stop_at: float | None = None) -> Outcome:
        """Record ``events`` from index ``start`` on (errors carry ``offset + index``);
        ``times`` are event times in Unix seconds where known (tailed rows), else each
        event's optional timestamp. With ``stop_at`` (a ``time.perf_counter()`` value) it
        stops once that moment has passed, looking at the clock every ``CLOCK_EVERY``
        events; ``Outcome.end`` says where it stopped."""
        now = self.clock() if now is None else now
        horizon = now - self.window.window
        # The horizon's second, plus one: text after it is surely later.
        horizon_text = datetime.fromtimestamp(int(horizon) + 1, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        outcome = Outcome()
        errors = outcome.errors
        targets = self._targets
        target_list = self._target_list
        window_times: list[float] = []
        server_errors = 0
        folded = [0, 0, 0, 0]
        end = len(events)
        clock = time.perf_counter
        for index in range(start, end):
            if stop_at is not None and not index % CLOCK_EVERY and index > start \
                    and clock() >= stop_at:
                end = index
                break
            event = events[index]
            problem = check_event(event)
            if problem is not None:
                errors.append((offset + index, *problem))
                continue
            status = event["status_code"]
            elapsed = event["response_time_ms"]
            index = targets.get(f"{len(event['method'])}:{event['method']}{status}:"
                                f"{event['endpoint']}")  # memo_key, inlined
            if index is None:
                index = self._target(event["endpoint"], event["method"], status)
            series, flags = target_list[index]
            series.observe(elapsed / 1000.0)
            folded[flags] += 1
            if times is not None:
                moment = times[index]
                if moment is not None and moment <= horizon:
                    continue
            elif "timestamp" in event and not _recent(event["timestamp"], horizon,
                                                      horizon_text):
                continue
            window_times.append(elapsed)
            if status >= 500:
                server_errors += 1
        outcome.end = end
        outcome.accepted = end - start - len(errors)
        if self._retired:
            self._free_retired()
        self._account(outcome, folded, now)
        if window_times:
            self.window.add(window_times, server_errors, now)
        return outcome

    def _free_retired(self) -> None:
        retired = self._retired
        for _ in range(min(RETIRE_EVERY, len(retired))):
            retired.popitem()

    def _account(self, outcome: Outcome, folded: list[int], now: float) -> None:
        store = self.store
        if outcome.accepted:
            store.inc(EVENTS, {"result": "accepted"}, outcome.accepted)
            store.set(LAST_EVENT, (), now)
        if outcome.errors:
            store.inc(EVENTS, {"result": "rejected"}, len(outcome.errors))
            by_reason: dict[str, int] = {}
            for _, reason, _ in outcome.errors:
                by_reason[reason] = by_reason.get(reason, 0) + 1
            for reason, n in by_reason.items():
                store.inc(REJECTED, {"reason": reason}, n)
        route_folds = folded[_ROUTE_FOLDED] + folded[_ROUTE_FOLDED | _METHOD_FOLDED]
        method_folds = folded[_METHOD_FOLDED] + folded[_ROUTE_FOLDED | _METHOD_FOLDED]
        if route_folds:
            store.inc(FOLDED, {"label": "route"}, route_folds)
        if method_folds:
            store.inc(FOLDED, {"label": "method"}, method_folds)

    def reject_request(self, reason: str, events: int = 0) -> None:
        """Count a whole request refused (and the events in it, where they were counted)."""
        self.store.inc(REJECTED, {"reason": reason})
        if events:
            self.store.inc(EVENTS, {"result": "rejected"}, events)

    def performance_summary(self) -> dict[str, float] | None:
        """Average and p95 response time (ms) and error rate over the last 5 minutes, or
        None when nothing arrived in that time (the health document's performance_metrics)."""
        return self.window.summary()

    async def close(self) -> None:
        """Nothing to release: ingestion holds no connections."""
        return None
