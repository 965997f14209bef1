"""Wedding-day mode: a Saturday, or a day with weddings, in the platform's time zone.

Days are judged with real time-zone rules (zoneinfo), so the hour after midnight in a British
summer, when UTC still says Friday, is already Saturday.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

SATURDAY = 5


def local_date(now: datetime, timezone: ZoneInfo) -> date:
    """The calendar date at ``now`` (an aware datetime) in ``timezone``."""
    return now.astimezone(timezone).date()


def is_wedding_day(now: datetime, timezone: ZoneInfo, weddings_today: int | None) -> bool | None:
    """True on a wedding day, False on another day, None when it cannot be known.

    ``weddings_today`` is None when the weddings query has no answer for today's date.
    """
    if local_date(now, timezone).weekday() == SATURDAY:
        return True
    if weddings_today is None:
        return None
    return weddings_today > 0


class WeddingDayState:
    """The last known count of today's weddings, remembered with the date it was counted for."""

    def __init__(self, timezone: ZoneInfo) -> None:
        self.timezone = timezone
        self._counted_for: date | None = None
        self._today: int | None = None

    def record(self, counted_for: date, weddings_today: int) -> None:
        """Remember the weddings counted for ``counted_for``."""
        self._counted_for = counted_for
        self._today = weddings_today

    def weddings_today(self, now: datetime) -> int | None:
        """Today's weddings if they were counted for today's date, else None."""
        if self._counted_for == local_date(now, self.timezone):
            return self._today
        return None

    def evaluate(self, now: datetime) -> bool | None:
        """Whether ``now`` falls on a wedding day (None: unknown)."""
        return is_wedding_day(now, self.timezone, self.weddings_today(now))
