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
    """The last known count of today's weddings, remembered with the date it was counted for,
    and how each query that counts them last fared (so the deploy gate can say why the count
    is unknown from this state, not from gauges read back out of the metric store)."""

    def __init__(self, timezone: ZoneInfo) -> None:
        self.timezone = timezone
        self._counted_for: date | None = None
        self._today: int | None = None
        # Query name -> "ok", "failing" or the reason it turned itself off; absent: not run.
        self.query_outcomes: dict[str, str] = {}

    def query_ran(self, name: str, ok: bool) -> None:
        """A counting query's run finished (``ok``: it succeeded)."""
        self.query_outcomes[name] = "ok" if ok else "failing"

    def query_turned_off(self, name: str, reason: str) -> None:
        """A counting query turned itself off until the next reload (``reason``: why)."""
        self.query_outcomes[name] = reason

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
