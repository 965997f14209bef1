"""The values every query run may use, from the exporter's clock in the platform's time zone.

The day is the platform's day (``timezone`` in the config), with real time-zone rules: at
00:30 in London during British Summer Time it is already the next day, although UTC still
says the day before. Using the exporter's clock (not the database's ``now()``) keeps every
part of the exporter on the same day, and lets tests put the clock anywhere.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo


def local_midnight(day: date, timezone: ZoneInfo) -> datetime:
    """The instant ``day`` begins in ``timezone`` (an aware datetime)."""
    return datetime.combine(day, time(0), tzinfo=timezone)


def query_parameters(now: datetime, timezone: ZoneInfo) -> dict[str, Any]:
    """``now``, ``today``, ``today_start``, ``tomorrow_start`` and ``timezone`` for one run."""
    today = now.astimezone(timezone).date()
    return {
        "now": now,
        "today": today,
        "today_start": local_midnight(today, timezone),
        "tomorrow_start": local_midnight(today + timedelta(days=1), timezone),
        "timezone": timezone.key,
    }
