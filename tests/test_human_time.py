"""Times a person reads are times, not seconds."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from exporter.human_time import clock_text, duration_text, elapsed_text, until_text

LONDON = ZoneInfo("Europe/London")


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0 s"), (45, "45 s"), (59.2, "1 min"), (60, "1 min"), (200, "3 min 20 s"),
    (3600, "1 h"), (72751, "20 h 13 min"), (72720, "20 h 12 min"), (3599.5, "1 h"),
    (86399, "1 d"), (2 * 86400 + 5 * 3600 + 59, "2 d 6 h")])
def test_durations_read_in_at_most_two_units_rounded_up(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text


def test_until_midnight_reads_as_a_local_time_and_how_long() -> None:
    now = datetime(2026, 6, 6, 3, 48, tzinfo=UTC).astimezone(LONDON)  # 04:48 BST
    midnight = datetime(2026, 6, 7, 0, 0, tzinfo=LONDON)
    assert until_text(midnight, now, "Europe/London") == (
        "until 00:00 Europe/London, in 19 h 12 min")


def test_a_moment_a_day_or_more_away_names_its_day() -> None:
    now = datetime(2026, 6, 5, 22, 0, tzinfo=LONDON)
    assert clock_text(datetime(2026, 6, 7, 0, 0, tzinfo=LONDON), now, "Europe/London") == (
        "00:00 Europe/London on Sun 07 Jun")


@pytest.mark.parametrize(("seconds", "text"), [(3.04, "3.0 s"), (59.9, "59.9 s"),
                                               (312.4, "5 min 13 s"), (3600, "1 h")])
def test_measured_durations_keep_tenths_under_a_minute_only(seconds: float, text: str) -> None:
    assert elapsed_text(seconds) == text


def test_the_load_test_verdict_gives_its_length_in_minutes() -> None:
    from loadtests.verdict import render

    text = render({"testid": "t1", "verdict": "PASS", "profile": "soak",
                   "duration_seconds": 1805.2, "overall": {}, "scenarios": {}})
    assert text.splitlines()[1] == "profile soak, 30 min 6 s"
