"""Wedding-day mode: a Saturday, or a day with weddings, in Europe/London with real time-zone
rules — including the hour after midnight in summer when UTC still says Friday."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from exporter.wedding_day import WeddingDayState, is_wedding_day, local_date
from harness.postgres import PostgresServer
from tests.support import exporter_config, in_process_exporter

LONDON = ZoneInfo("Europe/London")
# Saturday 2026-06-06 00:30 in London is still Friday 23:30 in UTC (British Summer Time).
SUMMER_SATURDAY_0030_LONDON = datetime(2026, 6, 5, 23, 30, tzinfo=UTC)
# Friday 2026-06-05 23:30 in London is Friday 22:30 UTC.
SUMMER_FRIDAY_2330_LONDON = datetime(2026, 6, 5, 22, 30, tzinfo=UTC)
WINTER_TUESDAY = datetime(2026, 1, 13, 12, 0, tzinfo=UTC)


def test_the_hour_after_midnight_in_summer_is_already_saturday_in_london() -> None:
    assert SUMMER_SATURDAY_0030_LONDON.weekday() == 4  # UTC says Friday
    assert local_date(SUMMER_SATURDAY_0030_LONDON, LONDON) == date(2026, 6, 6)
    assert is_wedding_day(SUMMER_SATURDAY_0030_LONDON, LONDON, weddings_today=0) is True
    assert is_wedding_day(SUMMER_FRIDAY_2330_LONDON, LONDON, weddings_today=0) is False


def test_a_weekday_is_a_wedding_day_only_with_weddings_and_unknown_without_a_count() -> None:
    assert is_wedding_day(WINTER_TUESDAY, LONDON, weddings_today=3) is True
    assert is_wedding_day(WINTER_TUESDAY, LONDON, weddings_today=0) is False
    assert is_wedding_day(WINTER_TUESDAY, LONDON, weddings_today=None) is None


def test_a_count_from_yesterday_does_not_count_for_today() -> None:
    state = WeddingDayState(LONDON)
    state.record(date(2026, 1, 12), 5)
    assert state.evaluate(WINTER_TUESDAY) is None
    state.record(date(2026, 1, 13), 5)
    assert state.evaluate(WINTER_TUESDAY) is True


@pytest.fixture(scope="module")
def weddings_db(schema_sql: str):
    with PostgresServer(stat_statements=False) as server:
        server.execute("CREATE DATABASE wedsync")
        server.execute(schema_sql, dbname="wedsync")
        yield server


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def run_exporter(server: PostgresServer, clock: Clock, check) -> None:
    config = exporter_config(
        database=[{"name": "primary", "dsn": "${PG_DSN}"}],
        queries={"weddings": {"builtin": "weddings", "interval": "1s"}})

    async def scenario() -> None:
        async with in_process_exporter(config, {"PG_DSN": server.dsn(dbname="wedsync")},
                                       clock) as exp:
            store = exp.service.store
            for _ in range(100):
                if store.get("wedsync_custom_query_success", ("weddings",)) is not None:
                    break
                await asyncio.sleep(0.05)
            await check(exp.service)

    asyncio.run(scenario())


def insert_weddings(server: PostgresServer, dates: list[date]) -> None:
    server.execute("TRUNCATE weddings, couples CASCADE", dbname="wedsync")
    for day in dates:
        server.execute("WITH c AS (INSERT INTO couples DEFAULT VALUES RETURNING id) "
                       f"INSERT INTO weddings (couple_id, wedding_date, venue) "
                       f"SELECT id, '{day.isoformat()}', 'Venue' FROM c", dbname="wedsync")


def test_weddings_are_counted_per_window_in_london_time(weddings_db: PostgresServer) -> None:
    today = date(2026, 6, 6)  # the Saturday of SUMMER_SATURDAY_0030_LONDON
    insert_weddings(weddings_db, [today, today, today + timedelta(days=1),
                                  today + timedelta(days=6), today + timedelta(days=7),
                                  today - timedelta(days=1)])

    async def check(service) -> None:
        store = service.store
        assert store.get("wedsync_custom_query_success", ("weddings",)) == 1
        assert store.get("wedsync_weddings", ("today",)) == 2
        assert store.get("wedsync_weddings", ("tomorrow",)) == 1
        assert store.get("wedsync_weddings", ("next_7d",)) == 4
        assert store.get("wedsync_wedding_day", ()) == 1

    run_exporter(weddings_db, Clock(SUMMER_SATURDAY_0030_LONDON), check)


def test_a_weekday_with_a_wedding_is_a_wedding_day(weddings_db: PostgresServer) -> None:
    insert_weddings(weddings_db, [date(2026, 1, 13)])

    async def check(service) -> None:
        assert service.store.get("wedsync_weddings", ("today",)) == 1
        assert service.store.get("wedsync_wedding_day", ()) == 1

    run_exporter(weddings_db, Clock(WINTER_TUESDAY), check)


def test_a_weekday_without_weddings_is_not_and_the_flip_follows_the_clock(
        weddings_db: PostgresServer) -> None:
    insert_weddings(weddings_db, [date(2026, 6, 6)])
    clock = Clock(SUMMER_FRIDAY_2330_LONDON)

    async def check(service) -> None:
        assert service.store.get("wedsync_weddings", ("today",)) == 0
        assert service.store.get("wedsync_weddings", ("tomorrow",)) == 1
        assert service.store.get("wedsync_wedding_day", ()) == 0
        clock.now = SUMMER_SATURDAY_0030_LONDON
        service.runtime.update_wedding_day()
        assert service.store.get("wedsync_wedding_day", ()) == 1

    run_exporter(weddings_db, clock, check)


def test_without_the_weddings_table_the_query_turns_off_alone_and_the_day_is_not_made_up(
        make_exporter) -> None:
    # The shared local database has no `weddings` table: the query turns itself off, the
    # database probe does not, and on a weekday wedsync_wedding_day is absent (rules treat
    # absence as a wedding day) rather than a made-up 0.
    config = exporter_config(database=[{"name": "primary", "dsn": "${PG_DSN}"}],
                             queries={"weddings": {"builtin": "weddings", "interval": "1s"}})

    async def scenario() -> None:
        async with in_process_exporter(
                config, {"PG_DSN": "postgresql://postgres@127.0.0.1:5432/test"},
                Clock(WINTER_TUESDAY)) as exp:
            store = exp.service.store
            for _ in range(100):
                if store.get("wedsync_custom_query_disabled", ("weddings", "missing_table")) \
                        and store.get("wedsync_up", ("database", "primary")) is not None:
                    break
                await asyncio.sleep(0.05)
            assert store.get("wedsync_custom_query_disabled", ("weddings", "missing_table")) == 1
            assert store.get("wedsync_up", ("database", "primary")) == 1
            assert store.get("wedsync_wedding_day", ()) is None

    asyncio.run(scenario())
