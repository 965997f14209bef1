"""The health document's performance summary over a sliding 5-minute window.

Time is cut into 5-second slots; each slot keeps the count, the sum, the 5xx count and a
log-scaled histogram of response times (2% wide buckets, so p95 is within 1% of the exact
value). The summary merges the slots of the last 5 minutes: it slides in 5-second steps and
forgets everything older, unlike the Prometheus histogram, which counts for the process's life.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

WINDOW_SECONDS = 300.0
SLOT_SECONDS = 5.0
_SMALLEST_MS = 0.01
_GROWTH = 1.02


# Upper bounds of the buckets (up to one hour and beyond): a bisection finds the bucket.
_BOUNDS = [_SMALLEST_MS * _GROWTH ** i for i in range(1000)]


def bucket_of(ms: float) -> int:
    """Bucket index of a response time: 0 up to 0.01 ms, then 2% wide buckets."""
    return bisect_left(_BOUNDS, ms)


def bucket_value(index: int) -> float:
    """The geometric middle of a bucket, in ms (within 1% of anything in it)."""
    if index == 0:
        return 0.0
    return _SMALLEST_MS * _GROWTH ** (index - 0.5)


@dataclass
class Slot:
    """What arrived in one 5-second slot."""

    number: int
    count: int = 0
    total_ms: float = 0.0
    errors: int = 0
    buckets: dict[int, int] = field(default_factory=dict)


class SlidingSummary:
    """Average, p95 and error rate of the last ``window`` seconds."""

    def __init__(self, window: float = WINDOW_SECONDS, slot: float = SLOT_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:
        self.window = window
        self.slot = slot
        self.clock = clock
        self._slots: dict[int, Slot] = {}

    def _current(self, now: float) -> Slot:
        number = int(now // self.slot)
        slot = self._slots.get(number)
        if slot is None:
            oldest = number - int(self.window // self.slot)
            for stale in [n for n in self._slots if n <= oldest]:
                del self._slots[stale]
            slot = self._slots[number] = Slot(number)
        return slot

    def add(self, times_ms: Iterable[float], errors: int, now: float | None = None) -> None:
        """Record response times (ms) and how many of them were server errors (5xx)."""
        slot = self._current(self.clock() if now is None else now)
        buckets = slot.buckets
        count = 0
        total = 0.0
        bounds = _BOUNDS
        for ms in times_ms:
            index = bisect_left(bounds, ms)
            buckets[index] = buckets.get(index, 0) + 1
            count += 1
            total += ms
        slot.count += count
        slot.total_ms += total
        slot.errors += errors

    def summary(self, now: float | None = None) -> dict[str, float] | None:
        """``{avg_response_time, p95_response_time, error_rate}``, or None without data."""
        now = self.clock() if now is None else now
        newest = int(now // self.slot)
        oldest = newest - int(self.window // self.slot)
        slots = [s for n, s in self._slots.items() if oldest < n <= newest and s.count]
        count = sum(s.count for s in slots)
        if not count:
            return None
        merged: dict[int, int] = {}
        for slot in slots:
            for index, n in slot.buckets.items():
                merged[index] = merged.get(index, 0) + n
        rank = math.ceil(0.95 * count)
        seen = 0
        p95 = 0.0
        for index in sorted(merged):
            seen += merged[index]
            if seen >= rank:
                p95 = bucket_value(index)
                break
        return {
            "avg_response_time": round(sum(s.total_ms for s in slots) / count, 1),
            "p95_response_time": round(p95, 1),
            "error_rate": round(sum(s.errors for s in slots) / count, 6),
        }
