"""Daily availability per component from Prometheus, fetched in the background and cached.

One ``query_range`` asks for the hourly share of successful probes per component
(``avg by (component) (avg_over_time(wedsync_up[1h]))``, one point an hour over up to 90 days:
at most 2,160 points a component, far below Prometheus' 11,000-point limit), plus one instant
query for the hour that is not over yet. Hours that overlap a maintenance window of the
component are left out of its figures: those where ``wedsync_maintenance_active`` was 1
(Prometheus leaves them out of the answer) and those a configured window covers. Days are the
platform's calendar days.

How far back it goes: 90 days, or what Prometheus keeps (``storage.tsdb.retention.time`` from
``/api/v1/status/flags``; 35 days in this stack) if that is less. When Prometheus cannot be
asked the history is unavailable (``None``) and the page says so; the current states do not
depend on it.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import structlog

from exporter.config.model import MaintenanceWindow, PrometheusSettings
from exporter.prometheus_api import PrometheusUnavailable, prometheus_get

log = structlog.get_logger("exporter.statuspage.history")
MAX_DAYS = 90
HOUR = 3600
RETRY = 30.0
# Hours of planned maintenance are left out twice over: by the gauge the exporter exported at
# the time (so a window deleted from the configuration afterwards still does not count) and by
# the configured windows (for history from before the gauge existed).
QUERY = ("avg by (component) (avg_over_time(wedsync_up[{window}])) unless on (component) "
         "(max by (component) (max_over_time(wedsync_maintenance_active[{window}])) == 1)")
_DURATION = re.compile(r"([0-9]+)(ms|y|w|d|h|m|s)")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


class HistoryUnavailable(Exception):
    """Prometheus could not be asked, or answered something that is not a query result."""


@dataclass(frozen=True)
class Day:
    day: date
    # Share of the day's monitored hours the component was up (0-1); None: no data that day.
    availability: float | None


@dataclass(frozen=True)
class History:
    """What the page shows: per component, one entry per day, oldest first."""

    days: int
    # Days Prometheus keeps (None where it did not say).
    retention_days: float | None
    fetched_at: datetime
    by_component: dict[str, list[Day]]
    # Over the whole period, hour-weighted; None without data.
    overall: dict[str, float | None]


def retention_days(flag: str) -> float | None:
    """``35d`` → 35.0, ``1y2w`` → 379.0; None for ``0s``/unknown (size-based retention)."""
    seconds = sum(int(n) * _SECONDS[unit] for n, unit in _DURATION.findall(flag))
    return seconds / 86400 if seconds > 0 else None


def _overlaps(windows: Sequence[MaintenanceWindow], component: str, start: datetime,
              end: datetime) -> bool:
    return any(component in w.components and w.start < end and start < w.end for w in windows)


def assemble(hourly: dict[str, list[tuple[float, float, float]]], days: int,
             retention: float | None, now: datetime, zone: ZoneInfo,
             windows: Sequence[MaintenanceWindow]) -> History:
    """Daily figures from ``(end of interval, seconds it covers, availability)`` points."""
    today = now.astimezone(zone).date()
    first = today - timedelta(days=days - 1)
    by_component: dict[str, list[Day]] = {}
    overall: dict[str, float | None] = {}
    for component, points in hourly.items():
        sums: dict[date, list[float]] = defaultdict(lambda: [0.0, 0.0])
        for end_ts, covers, share in points:
            if math.isnan(share):
                continue
            end = datetime.fromtimestamp(end_ts, UTC)
            start = end - timedelta(seconds=covers)
            if _overlaps(windows, component, start, end):
                continue  # planned work is not downtime, nor uptime
            day = (end - timedelta(seconds=1)).astimezone(zone).date()
            if day < first:
                continue
            sums[day][0] += share * covers
            sums[day][1] += covers
        by_component[component] = [
            Day(d, sums[d][0] / sums[d][1] if d in sums and sums[d][1] else None)
            for d in (first + timedelta(days=i) for i in range(days))]
        weight = sum(s[1] for s in sums.values())
        overall[component] = sum(s[0] for s in sums.values()) / weight if weight else None
    return History(days=days, retention_days=retention, fetched_at=now,
                   by_component=by_component, overall=overall)


class HistoryFetcher:
    """Keeps the last history (or None) for the page; ``run`` refreshes it until cancelled."""

    def __init__(self, settings: Callable[[], PrometheusSettings],
                 windows: Callable[[], Sequence[MaintenanceWindow]], zone: Callable[[], ZoneInfo],
                 clock: Callable[[], datetime]) -> None:
        self._settings = settings
        self._windows = windows
        self._zone = zone
        self._clock = clock
        self.history: History | None = None
        # Why there is no history: "not configured" or "unavailable" (no details: the page
        # is public, and the reason is in the log).
        self.missing = "not configured"
        self.generation = 0
        # Called when the history (or why it is missing) changed: the status page rebuilds.
        self.on_change: Callable[[], None] | None = None

    async def _get(self, session: aiohttp.ClientSession, base: str, path: str,
                   params: dict[str, str] | None = None) -> Any:
        try:
            return await prometheus_get(session, base, path, params)
        except PrometheusUnavailable as exc:
            raise HistoryUnavailable(str(exc)) from None

    async def fetch(self) -> History:
        """Ask Prometheus once (HistoryUnavailable when that fails)."""
        settings = self._settings()
        now = self._clock()
        zone = self._zone()
        timeout = aiohttp.ClientTimeout(total=settings.timeout)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                try:
                    flags = await self._get(session, settings.url, "/api/v1/status/flags")
                    retention = retention_days(str(flags.get("storage.tsdb.retention.time",
                                                             "")))
                except HistoryUnavailable:
                    retention = None  # an older or locked-down Prometheus: ask for 90 days
                days = MAX_DAYS if retention is None else max(1, min(MAX_DAYS,
                                                                     math.floor(retention)))
                first_day = now.astimezone(zone).date() - timedelta(days=days - 1)
                first = datetime.combine(first_day, datetime.min.time(), zone).timestamp()
                last_hour = math.floor(now.timestamp() / HOUR) * HOUR
                start = math.floor(first / HOUR) * HOUR + HOUR
                hourly: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
                if last_hour >= start:
                    data = await self._get(session, settings.url, "/api/v1/query_range", {
                        "query": QUERY.format(window="1h"), "start": str(start),
                        "end": str(last_hour), "step": str(HOUR)})
                    for series in data.get("result", []):
                        component = series.get("metric", {}).get("component")
                        for ts, share in series.get("values", []):
                            hourly[component].append((float(ts), HOUR, float(share)))
                partial = int(now.timestamp() - last_hour)
                if partial >= 1:
                    data = await self._get(session, settings.url, "/api/v1/query", {
                        "query": QUERY.format(window=f"{partial}s"),
                        "time": str(now.timestamp())})
                    for series in data.get("result", []):
                        component = series.get("metric", {}).get("component")
                        ts, share = series.get("value", [now.timestamp(), "NaN"])
                        hourly[component].append((float(ts), partial, float(share)))
        except (TimeoutError, aiohttp.ClientError, ValueError, TypeError, AttributeError) as exc:
            raise HistoryUnavailable(type(exc).__name__) from None
        hourly.pop(None, None)  # type: ignore[call-overload]
        return assemble(dict(hourly), days, retention, now, zone, self._windows())

    async def refresh(self) -> None:
        """Fetch once and keep the result; on failure the history is unavailable."""
        if not self._settings().url:
            found, missing = None, "not configured"
        else:
            try:
                found, missing = await self.fetch(), ""
            except HistoryUnavailable as exc:
                # The reason goes to the log only (the page is public), once per failure spell.
                if self.missing != "unavailable":
                        log.warning("uptime history unavailable", reason=str(exc),
                                hint="check prometheus.url and that Prometheus is running")
                found, missing = None, "unavailable"
        if (found, missing) != (self.history, self.missing):
            self.history, self.missing = found, missing
            self.generation += 1
            if self.on_change is not None:
                self.on_change()

    async def run(self) -> None:
        """Refresh now and then every ``prometheus.refresh`` (sooner after a failure) until
        cancelled."""
        while True:
            await self.refresh()
            wait = self._settings().refresh
            # After a failure ask again within 30 s: Prometheus often starts after the exporter.
            await asyncio.sleep(min(wait, RETRY) if self.missing == "unavailable" else wait)
