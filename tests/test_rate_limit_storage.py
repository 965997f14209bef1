"""The rate limiter's in-memory windows: exact limits, no thread started per request (limits'
own MemoryStorage starts one every 10 ms under steady traffic, each taking the interpreter lock
from the event loop), and expired entries dropped on the caller's thread."""

from __future__ import annotations

import threading
import time

import pytest

from exporter.web import rate_storage
from exporter.web.security import RateLimiter


def test_limits_are_exact_without_a_thread_per_hit(monkeypatch: pytest.MonkeyPatch) -> None:
    limiter = RateLimiter({"health": "5/second"})
    started: list[str] = []
    original = threading.Thread.start

    def counting_start(self: threading.Thread) -> None:
        started.append(self.name)
        original(self)

    monkeypatch.setattr(threading.Thread, "start", counting_start)
    answers = [limiter.retry_after("health", "admin", "10.0.0.1") for _ in range(10)]
    assert answers[:5] == [None] * 5
    assert all(wait == 1 for wait in answers[5:])
    # Another client has its own window.
    assert limiter.retry_after("health", "admin", "10.0.0.2") is None
    time.sleep(1.05)
    assert limiter.retry_after("health", "admin", "10.0.0.1") is None
    assert started == []


def test_expired_entries_are_dropped_on_a_later_hit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rate_storage, "EXPIRY_EVERY_SECONDS", 0.0)
    limiter = RateLimiter({"health": "100/second"})
    for n in range(50):
        limiter.retry_after("health", "admin", f"10.0.1.{n}")
    storage = limiter._storage
    assert len(storage.events) == 50
    time.sleep(1.05)
    limiter.retry_after("health", "admin", "10.0.2.1")
    # Only the new hit's window holds an entry (limits keeps the emptied keys).
    assert {key for key, entries in storage.events.items() if entries} == {
        "health/admin/10.0.2.1"}
