"""The health document's performance summary covers the last 5 minutes, not the process's
life."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.ingestion.recorder import Ingestion
from exporter.ingestion.window import SlidingSummary
from exporter.metrics.store import MetricStore

START = 1_780_000_000.0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 3_600_000, allow_nan=False), min_size=1, max_size=500),
       st.integers(0, 20))
def test_summary_matches_the_exact_figures(times: list[float], errors: int) -> None:
    errors = min(errors, len(times))
    window = SlidingSummary()
    window.add(times, errors, now=START)
    summary = window.summary(now=START + 1)
    exact_p95 = sorted(times)[math.ceil(0.95 * len(times)) - 1]
    assert summary is not None
    assert math.isclose(summary["avg_response_time"], sum(times) / len(times), rel_tol=1e-3,
                        abs_tol=0.051)
    assert math.isclose(summary["p95_response_time"], exact_p95, rel_tol=0.011, abs_tol=0.06)
    assert summary["error_rate"] == round(errors / len(times), 6)


def test_summary_slides_and_forgets_what_is_older_than_five_minutes() -> None:
    window = SlidingSummary()
    assert window.summary(now=START) is None
    window.add([1000.0] * 10, 10, now=START)
    window.add([100.0] * 10, 0, now=START + 200)
    both = window.summary(now=START + 250)
    assert both == {"avg_response_time": 550.0, "p95_response_time": pytest.approx(1000, rel=0.01),
                    "error_rate": 0.5}
    later = window.summary(now=START + 310)
    assert later == {"avg_response_time": 100.0, "p95_response_time": pytest.approx(100, rel=0.01),
                     "error_rate": 0.0}
    assert window.summary(now=START + 510) is None


def test_events_stamped_before_the_window_count_in_the_histogram_only() -> None:
    store = MetricStore()
    now = [START]
    ingestion = Ingestion(store, clock=lambda: now[0])
    old = datetime.fromtimestamp(START - 600, UTC).isoformat().replace("+00:00", "Z")
    fresh = datetime.fromtimestamp(START - 10, UTC).isoformat()
    event = {"endpoint": "/api/x", "method": "GET", "status_code": 200}
    fresh_utc = datetime.fromtimestamp(START - 5.25, UTC).isoformat()[:-6] + "Z"
    old_utc = datetime.fromtimestamp(START - 301.5, UTC).isoformat()[:-6] + "Z"
    old_offset = datetime.fromtimestamp(START - 400, UTC).astimezone(
        timezone(timedelta(hours=14))).isoformat()
    ingestion.record([{**event, "response_time_ms": 900, "timestamp": old},
                      {**event, "response_time_ms": 900, "timestamp": old_utc},
                      {**event, "response_time_ms": 900, "timestamp": old_offset},
                      {**event, "response_time_ms": 40, "timestamp": fresh},
                      {**event, "response_time_ms": 50, "timestamp": fresh_utc},
                      {**event, "response_time_ms": 60}])
    assert ingestion.performance_summary() == {
        "avg_response_time": 50.0, "p95_response_time": pytest.approx(60, rel=0.01),
        "error_rate": 0.0}
    histogram = store.histogram("wedsync_http_request_duration_seconds")
    assert sum(s.count for s in histogram.snapshot()) == 6


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 700, allow_nan=False),
                          st.lists(st.integers(1, 5000), max_size=5), st.booleans()),
                min_size=1, max_size=60))
def test_kept_merge_matches_a_fresh_merge(steps: list[tuple[float, list[int], bool]]) -> None:
    """Summaries asked between batches, as time moves on (and now and then back), always equal
    what a window that never kept anything says."""
    kept = SlidingSummary()
    seen: list[tuple[float, list[int]]] = []
    now = START
    for advance, times, back in steps:
        now = now - advance / 10 if back else now + advance
        if times:
            kept.add(times, 1, now=now)
            seen.append((now, times))
        fresh = SlidingSummary()
        for moment, batch in seen:
            fresh.add(batch, 1, now=moment)
        assert kept.summary(now=now) == fresh.summary(now=now)
