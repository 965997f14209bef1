"""The built-in ``weddings`` query: weddings today, tomorrow and in the next 7 days.

Reads ``weddings.wedding_date`` only. Today's date comes from the exporter's clock in the
platform's time zone (not the database's), so every part of the exporter agrees on the day.
"""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from psycopg import AsyncConnection

from exporter.clock import Clock
from exporter.metrics.store import Sample
from exporter.queries.readonly import fetch_readonly
from exporter.wedding_day import WeddingDayState, local_date

WEDDINGS_SQL = """
SELECT count(*) FILTER (WHERE wedding_date = %(today)s) AS today,
       count(*) FILTER (WHERE wedding_date = %(today)s + 1) AS tomorrow,
       count(*) AS next_7d
  FROM weddings
 WHERE wedding_date >= %(today)s AND wedding_date < %(today)s + 7
"""


class WeddingsQuery:
    """Counts weddings per window and tells wedding-day mode today's count."""

    def __init__(self, timezone: ZoneInfo, state: WeddingDayState, clock: Clock) -> None:
        self.timezone = timezone
        self.state = state
        self.clock = clock

    async def run(self, conn: AsyncConnection, timeout: float) -> list[Sample]:
        today: date = local_date(self.clock(), self.timezone)
        names, rows = await fetch_readonly(conn, WEDDINGS_SQL, {"today": today}, timeout)
        counts = dict(zip(names, rows[0], strict=True))
        self.state.record(today, int(counts["today"]))
        return [Sample("wedsync_weddings", {"window": window}, counts[window])
                for window in ("today", "tomorrow", "next_7d")]
