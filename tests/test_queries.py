"""Configured queries on a real PostgreSQL with the reference schema and rows the tests insert:
the wedding pack's values (across the British Summer Time day boundary), a slow query failing
alone, label caps, the read-only guard, queries turning themselves off, and reload."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import yaml
from structlog.testing import capture_logs

from harness.postgres import PostgresServer
from tests.conftest import REPO
from tests.support import exporter_config, in_process_exporter, samples, value, wait_metrics

PACK = ("weddings", "core_field_updates", "form_submissions", "active_suppliers",
        "active_couples", "supplier_invitations")
LONDON = ZoneInfo("Europe/London")


@pytest.fixture
def platform_db(pg_server: PostgresServer, schema_sql: str) -> Iterator[str]:
    """A fresh database with the reference schema, for rows of this test only; its name."""
    name = f"platform_{uuid.uuid4().hex[:12]}"
    pg_server.execute(f"CREATE DATABASE {name}")
    pg_server.execute(schema_sql, dbname=name)
    yield name
    pg_server.execute(f"DROP DATABASE {name} WITH (FORCE)")


def queries_config(pg_server: PostgresServer, dbname: str, queries: dict[str, Any],
                   probe_interval: str = "60s", **sections: Any) -> tuple[dict[str, Any],
                                                                         dict[str, str]]:
    """An exporter config with one database target on ``dbname`` and ``queries``."""
    config = exporter_config(database=[{"name": "platform", "dsn": "${PLATFORM_DSN}",
                                        "interval": probe_interval}],
                             queries=queries, **sections)
    return config, {"PLATFORM_DSN": pg_server.dsn(dbname=dbname)}


def pack(interval: str = "1s") -> dict[str, Any]:
    return {name: {"builtin": name, "interval": interval} for name in PACK}


async def metrics_of(exporter: Any) -> str:
    async with aiohttp.ClientSession() as session, session.get(
            f"{exporter.url}/metrics") as answer:
        return await answer.text()


async def until(exporter: Any, predicate: Callable[[str], bool], timeout: float = 15.0,
                message: str = "metrics condition not met") -> str:
    """Poll /metrics (without blocking the loop the exporter runs in) until ``predicate``."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = await metrics_of(exporter)
        if predicate(text):
            return text
        await asyncio.sleep(0.1)
    raise AssertionError(f"{message} within {timeout}s; last /metrics:\n{text}")


def run(coroutine: Awaitable[None]) -> None:
    asyncio.run(coroutine)  # type: ignore[arg-type]


def events(logs: list[dict[str, Any]], event: str, **fields: Any) -> list[dict[str, Any]]:
    return [e for e in logs if e.get("event") == event and all(
        e.get(k) == v for k, v in fields.items())]


# --- the wedding pack ----------------------------------------------------------------------

# 00:30 on Friday 12 June 2026 in London (BST, UTC+1), while UTC still says Thursday 11 June.
CLOCK = datetime(2026, 6, 11, 23, 30, tzinfo=UTC)
TODAY = date(2026, 6, 12)


def insert_platform_rows(pg_server: PostgresServer, dbname: str) -> None:
    """Couples, weddings, suppliers, invitations, Core Fields and forms around CLOCK."""
    day = {offset: (TODAY + timedelta(days=offset)).isoformat() for offset in range(-1, 8)}
    at = {name: (CLOCK - delta).isoformat() for name, delta in {
        "2m": timedelta(minutes=2), "30m": timedelta(minutes=30), "2h": timedelta(hours=2),
        "future": timedelta(minutes=-1), "10d": timedelta(days=10),
        "40d": timedelta(days=40)}.items()}
    pg_server.execute(f"""
        INSERT INTO couples (id) SELECT ('00000000-0000-0000-0000-00000000000' || n)::uuid
          FROM generate_series(1, 6) AS n;
        INSERT INTO weddings (couple_id, wedding_date) VALUES
          ('00000000-0000-0000-0000-000000000001', '{day[-1]}'),  -- yesterday in London
          ('00000000-0000-0000-0000-000000000002', '{day[0]}'),   -- today
          ('00000000-0000-0000-0000-000000000003', '{day[0]}'),   -- today
          ('00000000-0000-0000-0000-000000000004', '{day[1]}'),   -- tomorrow
          ('00000000-0000-0000-0000-000000000005', '{day[6]}'),   -- last day of next_7d
          ('00000000-0000-0000-0000-000000000006', '{day[7]}');   -- just after next_7d
        INSERT INTO suppliers (id, created_at) VALUES
          ('10000000-0000-0000-0000-000000000001', '{at["40d"]}'),
          ('10000000-0000-0000-0000-000000000002', '{at["40d"]}'),
          ('10000000-0000-0000-0000-000000000003', '{at["40d"]}'),
          ('10000000-0000-0000-0000-000000000004', '{at["10d"]}'),
          ('10000000-0000-0000-0000-000000000005', '{at["40d"]}');
        INSERT INTO supplier_invitations (supplier_id, couple_id, sent_at, accepted_at) VALUES
          -- accepted, the couple marries in the next 7 days: an active supplier
          ('10000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-000000000005',
           '{at["40d"]}', '{at["10d"]}'),
          -- accepted, but the wedding is 7 days away: not active
          ('10000000-0000-0000-0000-000000000002', '00000000-0000-0000-0000-000000000006',
           '{at["40d"]}', '{at["10d"]}'),
          -- not accepted: not active
          ('10000000-0000-0000-0000-000000000003', '00000000-0000-0000-0000-000000000002',
           '{at["40d"]}', NULL),
          -- accepted, the wedding was yesterday in London (today in UTC): not active
          ('10000000-0000-0000-0000-000000000005', '00000000-0000-0000-0000-000000000001',
           '{at["40d"]}', '{at["10d"]}');
        INSERT INTO core_fields (couple_id, field, updated_at) VALUES
          ('00000000-0000-0000-0000-000000000001', 'venue', '{at["2m"]}'),
          ('00000000-0000-0000-0000-000000000002', 'date', '{at["30m"]}'),
          ('00000000-0000-0000-0000-000000000003', 'guests', '{at["2h"]}'),
          ('00000000-0000-0000-0000-000000000004', 'timeline', '{at["future"]}');
        INSERT INTO form_submissions (couple_id) SELECT id FROM couples LIMIT 3;
    """, dbname=dbname)


def test_each_wedding_pack_metric_equals_the_rows_across_the_bst_day_boundary(
        pg_server: PostgresServer, platform_db: str) -> None:
    insert_platform_rows(pg_server, platform_db)
    config, env = queries_config(pg_server, platform_db, pack())

    async def scenario() -> None:
        async with in_process_exporter(config, env, clock=lambda: CLOCK) as exporter:
            text = await until(exporter, lambda t: all(
                value(t, "wedsync_custom_query_success", query=q) == 1 for q in PACK))
            expected = {
                ("wedsync_weddings", ("window", "today")): 2,
                ("wedsync_weddings", ("window", "tomorrow")): 1,
                ("wedsync_weddings", ("window", "next_7d")): 4,
                # Tomorrow is Saturday 13 June; Saturday 6 June had none.
                ("wedsync_weddings", ("window", "next_saturday")): 1,
                ("wedsync_weddings", ("window", "last_saturday")): 0,
                ("wedsync_core_field_updates", ("window", "5m")): 1,
                ("wedsync_core_field_updates", ("window", "1h")): 2,
                ("wedsync_form_submissions_total", ()): 3,
                ("wedsync_active_suppliers", ()): 2,
                ("wedsync_active_couples", ()): 5,
                ("wedsync_supplier_invitations_sent_total", ()): 4,
                ("wedsync_supplier_invitations_accepted_total", ()): 3,
            }
            found = {key: value(text, key[0], **dict([key[1]] if key[1] else []))
                     for key in expected}
            assert found == expected
            # A Friday with weddings today (in London) is a wedding day.
            assert value(text, "wedsync_wedding_day") == 1

    run(scenario())


def test_the_example_config_runs_the_wedding_pack(make_exporter, pg_server: PostgresServer,
                                                  platform_db: str) -> None:
    today = datetime.now(LONDON).date()
    pg_server.execute(f"""
        INSERT INTO couples (id) VALUES ('00000000-0000-0000-0000-000000000001');
        INSERT INTO weddings (couple_id, wedding_date)
          VALUES ('00000000-0000-0000-0000-000000000001', '{today.isoformat()}');
        INSERT INTO form_submissions (couple_id) SELECT id FROM couples;
    """, dbname=platform_db)
    example = yaml.safe_load((REPO / "exporter" / "example.yaml").read_text())
    exporter = make_exporter(example, env={
        "WEDSYNC_DATABASE_URL": pg_server.dsn(dbname=platform_db), "WEDSYNC_REDIS_URL": "",
        "WEDSYNC_PROBE_INTERVAL_SECONDS": "1"})
    text = wait_metrics(exporter, lambda t: all(
        value(t, "wedsync_custom_query_success", query=q) == 1 for q in PACK))
    assert value(text, "wedsync_weddings", window="today") == 1
    assert value(text, "wedsync_active_couples") == 1
    assert value(text, "wedsync_form_submissions_total") == 1
    assert value(text, "wedsync_supplier_invitations_sent_total") == 0
    checked = subprocess.run(["promtool", "check", "metrics"], input=text,
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


# --- safety ---------------------------------------------------------------------------------

def custom(sql: str, metric: str, **extra: Any) -> dict[str, Any]:
    """A custom query whose column ``n`` becomes gauge ``metric``."""
    return {"sql": sql, "interval": "1s",
            "metrics": {"n": {"name": metric, "type": "gauge", "help": "A test metric."}},
            **extra}


def test_a_query_that_sleeps_past_its_timeout_fails_alone_and_logs_once_each_way(
        pg_server: PostgresServer, platform_db: str) -> None:
    pg_server.execute("""
        CREATE TABLE sleep_control (seconds float NOT NULL);
        INSERT INTO sleep_control VALUES (5);
        INSERT INTO couples (id) VALUES ('00000000-0000-0000-0000-000000000001');
        INSERT INTO form_submissions (couple_id) SELECT id FROM couples;
    """, dbname=platform_db)
    sleepy = custom("SELECT 1 AS n FROM pg_sleep((SELECT seconds FROM sleep_control))",
                    "wedsync_test_sleepy", timeout="500ms")
    config, env = queries_config(pg_server, platform_db, {**pack(), "sleepy": sleepy},
                                 probe_interval="1s")

    async def scenario() -> None:
        with capture_logs() as logs:
            async with in_process_exporter(config, env) as exporter:
                await until(exporter, lambda t: value(
                    t, "wedsync_custom_query_success", query="sleepy") == 0 and all(
                    value(t, "wedsync_custom_query_success", query=q) == 1 for q in PACK))
                started = time.monotonic()
                # Several failed runs later, every other query still has its values.
                while time.monotonic() - started < 3:
                    text = await metrics_of(exporter)
                    assert value(text, "wedsync_custom_query_success", query="sleepy") == 0
                    assert "wedsync_test_sleepy{" not in text and "wedsync_test_sleepy " \
                        not in text
                    assert value(text, "wedsync_form_submissions_total") == 1
                    assert value(text, "wedsync_weddings", window="today") == 0
                    # The probe has a connection of its own: the database does not look down.
                    assert value(text, "wedsync_up", component="database",
                                 target="platform") == 1
                    await asyncio.sleep(0.2)
                failing = events(logs, "failing", job="query sleepy")
                assert len(failing) == 1
                assert failing[0]["reason"] == "timeout"
                pg_server.execute("UPDATE sleep_control SET seconds = 0", dbname=platform_db)
                text = await until(exporter, lambda t: value(
                    t, "wedsync_custom_query_success", query="sleepy") == 1)
                assert value(text, "wedsync_test_sleepy") == 1
                await asyncio.sleep(1.5)
        assert len(events(logs, "failing", job="query sleepy")) == 1
        assert len(events(logs, "recovered", job="query sleepy")) == 1
        assert not [e for e in events(logs, "failing") if e["job"] != "query sleepy"]

    run(scenario())


def test_ten_thousand_distinct_label_values_stay_within_the_cap_and_folding_is_counted(
        pg_server: PostgresServer, platform_db: str) -> None:
    guests = custom("SELECT 'guest-' || g AS guest, 1 AS n FROM generate_series(1, 10000) g",
                    "wedsync_test_guest_rows", interval="60s", max_rows=10000,
                    labels={"guest": {"cap": 50}})
    config, env = queries_config(pg_server, platform_db, {"guests": guests})

    async def scenario() -> None:
        async with in_process_exporter(config, env) as exporter:
            text = await until(exporter, lambda t: value(
                t, "wedsync_custom_query_success", query="guests") == 1)
            series = {labels["guest"]: v for name, labels, v in samples(text)
                      if name == "wedsync_test_guest_rows"}
            assert len(series) == 51  # 50 kept values and `other`
            assert series["other"] == 9950
            assert sum(series.values()) == 10000
            assert value(text, "wedsync_custom_query_folded_total", query="guests",
                         label="guest") == 9950

    run(scenario())


def test_a_result_longer_than_max_rows_fails_the_run(pg_server: PostgresServer,
                                                      platform_db: str) -> None:
    many = custom("SELECT g AS n FROM generate_series(1, 10000) g", "wedsync_test_many",
                  max_rows=100)
    config, env = queries_config(pg_server, platform_db, {"many": many})

    async def scenario() -> None:
        with capture_logs() as logs:
            async with in_process_exporter(config, env) as exporter:
                text = await until(exporter, lambda t: value(
                    t, "wedsync_custom_query_success", query="many") == 0)
                assert "wedsync_test_many{" not in text
        assert "more than 100 rows" in events(logs, "failing", job="query many")[0]["error"]

    run(scenario())


def test_a_query_that_tries_to_write_is_refused_by_the_read_only_transaction(
        pg_server: PostgresServer, platform_db: str) -> None:
    # The write hides in a function, where no statement check can see it.
    pg_server.execute("""
        CREATE TABLE visits (at timestamptz NOT NULL DEFAULT now());
        CREATE FUNCTION record_visit() RETURNS int LANGUAGE plpgsql AS $$
          BEGIN INSERT INTO visits DEFAULT VALUES; RETURN 1; END $$;
    """, dbname=platform_db)
    config, env = queries_config(pg_server, platform_db, {
        "writer": custom("SELECT record_visit() AS n", "wedsync_test_writer")})

    async def scenario() -> None:
        with capture_logs() as logs:
            async with in_process_exporter(config, env) as exporter:
                await until(exporter, lambda t: value(
                    t, "wedsync_custom_query_success", query="writer") == 0)
                await asyncio.sleep(1.5)
        failing = events(logs, "failing", job="query writer")
        assert len(failing) == 1
        assert failing[0]["error"] == ("refused: the statement tried to write in its "
                                       "read-only transaction (25006)")

    run(scenario())
    assert pg_server.execute("SELECT count(*) FROM visits", dbname=platform_db) == [(0,)]


# --- turning off ----------------------------------------------------------------------------

def test_a_query_whose_table_is_missing_turns_off_and_says_so_once(
        pg_server: PostgresServer, platform_db: str) -> None:
    pg_server.execute("DROP TABLE form_submissions", dbname=platform_db)
    config, env = queries_config(pg_server, platform_db, pack())

    async def scenario() -> None:
        with capture_logs() as logs:
            async with in_process_exporter(config, env) as exporter:
                text = await until(exporter, lambda t: value(
                    t, "wedsync_custom_query_disabled", query="form_submissions",
                    reason="missing_table") == 1 and value(
                    t, "wedsync_custom_query_success", query="weddings") == 1)
                await asyncio.sleep(2.5)  # more runs: no more log lines
                text = await metrics_of(exporter)
                assert value(text, "wedsync_custom_query_success",
                             query="form_submissions") is None
                assert "wedsync_form_submissions_total" not in text
                for q in set(PACK) - {"form_submissions"}:
                    assert value(text, "wedsync_custom_query_success", query=q) == 1
                    assert value(text, "wedsync_custom_query_disabled", query=q,
                                 reason="missing_table") == 0
        turned_off = events(logs, "query turned off until the next reload")
        assert [(e["query"], e["reason"]) for e in turned_off] == [
            ("form_submissions", "missing_table")]
        assert 'relation "form_submissions" does not exist' in turned_off[0]["error"]
        assert not events(logs, "failing")

    run(scenario())


@pytest.mark.parametrize(("sql", "message"), [
    ("SELECT count(*) AS total FROM weddings",
     "column 'n' named in metrics is not in the result (its columns: total)"),
    ("SELECT venue AS n FROM weddings",
     "column 'n' is text, not a number; cast it (e.g. ::bigint)"),
])
def test_a_result_that_does_not_fit_the_mapping_turns_that_query_off_naming_the_column(
        pg_server: PostgresServer, platform_db: str, sql: str, message: str) -> None:
    config, env = queries_config(pg_server, platform_db, {
        "misfit": custom(sql, "wedsync_test_misfit"),
        "weddings": {"builtin": "weddings", "interval": "1s"}})

    async def scenario() -> None:
        with capture_logs() as logs:
            async with in_process_exporter(config, env) as exporter:
                text = await until(exporter, lambda t: value(
                    t, "wedsync_custom_query_disabled", query="misfit", reason="mapping") == 1)
                assert value(text, "wedsync_custom_query_success", query="misfit") is None
                await until(exporter, lambda t: value(
                    t, "wedsync_custom_query_success", query="weddings") == 1)
        turned_off = events(logs, "query turned off until the next reload", query="misfit")
        assert len(turned_off) == 1
        assert turned_off[0]["error"] == message

    run(scenario())


# --- reload ---------------------------------------------------------------------------------

def test_reload_registers_new_query_metrics_and_drops_removed_ones(
        make_exporter, pg_server: PostgresServer, platform_db: str, tmp_path: Path) -> None:
    pg_server.execute("""
        INSERT INTO suppliers (id) VALUES ('10000000-0000-0000-0000-000000000001');
        INSERT INTO user_profiles (user_id, role, supplier_id) VALUES
          ('20000000-0000-0000-0000-000000000001', 'supplier',
           '10000000-0000-0000-0000-000000000001'),
          ('20000000-0000-0000-0000-000000000002', 'couple', NULL),
          ('20000000-0000-0000-0000-000000000003', 'couple', NULL);
    """, dbname=platform_db)
    by_role = {"sql": "SELECT role, count(*) AS profiles FROM user_profiles GROUP BY role",
               "interval": "1s", "labels": {"role": {"cap": 5}},
               "metrics": {"profiles": {"name": "wedsync_user_profiles", "type": "gauge",
                                        "help": "User profiles by role."}}}
    config, env = queries_config(pg_server, platform_db, {"by_role": by_role},
                                 tokens={"admin": "${ADMIN_TOKEN}"})
    exporter = make_exporter(config, env={**env, "ADMIN_TOKEN": "admin-token-for-tests"})
    text = wait_metrics(exporter, lambda t: value(t, "wedsync_user_profiles",
                                                  role="couple") == 2)
    assert value(text, "wedsync_user_profiles", role="supplier") == 1
    assert "# HELP wedsync_user_profiles User profiles by role." in text
    # The SRE turns it into a counter of all profiles under another name.
    by_role["sql"] = "SELECT count(*) AS profiles FROM user_profiles"
    by_role.pop("labels")
    by_role["metrics"]["profiles"] = {"name": "wedsync_user_profiles_created_total",
                                      "type": "counter", "help": "Profiles ever created."}
    exporter.write_config(config)
    exporter.signal(signal.SIGHUP)
    text = wait_metrics(exporter, lambda t: value(
        t, "wedsync_user_profiles_created_total") == 3)
    assert "wedsync_user_profiles{" not in text
    assert "# TYPE wedsync_user_profiles_created_total counter" in text
    checked = subprocess.run(["promtool", "check", "metrics"], input=text,
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # A new config that breaks the naming rule is refused; the running one stays.
    by_role["metrics"]["profiles"]["name"] = "wedsync_up"
    exporter.write_config(config)
    exporter.signal(signal.SIGHUP)
    wait_metrics(exporter, lambda t: value(t, "wedsync_config_last_reload_successful") == 0)
    assert "wedsync_up is a catalogue family" in exporter.logs()
    assert value(exporter.metrics(), "wedsync_user_profiles_created_total") == 3


def test_check_config_connect_names_a_query_whose_columns_do_not_fit(
        pg_server: PostgresServer, platform_db: str, tmp_path: Path) -> None:
    config, env = queries_config(pg_server, platform_db, pack())
    path = tmp_path / "config.yaml"

    def check() -> subprocess.CompletedProcess[str]:
        path.write_text(yaml.safe_dump(config))
        return subprocess.run([sys.executable, "-m", "exporter", "check-config", str(path),
                               "--connect"], cwd=REPO, env={**os.environ, **env},
                              capture_output=True, text=True, timeout=60)

    fits = check()
    assert fits.returncode == 0, fits.stderr
    assert "configuration is valid" in fits.stdout
    config["queries"]["misfit"] = custom("SELECT count(*) AS total FROM weddings",
                                         "wedsync_test_misfit")
    config["queries"]["gone"] = custom("SELECT count(*) AS n FROM honeymoons",
                                       "wedsync_test_gone")
    misfit = check()
    assert misfit.returncode == 1
    assert sorted(misfit.stderr.splitlines()) == [
        "wedsync-exporter: queries.gone: would turn off (missing_table): relation "
        "\"honeymoons\" does not exist",
        "wedsync-exporter: queries.misfit: would turn off (mapping): column 'n' named in "
        "metrics is not in the result (its columns: total)"]
