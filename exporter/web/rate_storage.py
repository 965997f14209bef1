"""``limits``' in-memory storage without its thread per hit.

``limits.storage.MemoryStorage`` drops expired entries in a ``threading.Timer`` that it starts,
10 ms ahead, on every hit that finds none alive: under a steady stream of requests that is a
new thread about every 10 ms, and each one takes the interpreter lock from the event loop (a
scrape waiting behind it) and costs a thread's start-up. This subclass does the same expiry on
the event loop instead, at most once a second, when a hit comes in. The limits stay exact
either way: a hit is checked against entry times, not against what was already dropped; the
expiry only bounds memory (a key keeps at most a window's worth of entries).

It replaces one private method of ``MemoryStorage`` (``tests/test_rate_limit_storage.py``
checks that no thread is started per hit, so a ``limits`` release that renames it shows up).
"""

from __future__ import annotations

import time

from limits.storage import MemoryStorage

EXPIRY_EVERY_SECONDS = 1.0


class LoopMemoryStorage(MemoryStorage):
    """Moving windows in memory; expired entries dropped by the caller's thread."""

    def __init__(self) -> None:
        super().__init__()
        self._last_expiry = time.monotonic()

    def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now - self._last_expiry >= EXPIRY_EVERY_SECONDS:
            self._last_expiry = now
            self._MemoryStorage__expire_events()  # type: ignore[attr-defined]
