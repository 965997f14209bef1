"""The Core Fields probe: a write through its own role reaching the Realtime probe as a
postgres_changes event, split at the commit timestamp, with RLS proven on the live path — against
the sandbox platform's own PostgreSQL (wal2json) and a real Prometheus and Alertmanager."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator

import psycopg
import pytest
import yaml

from exporter.config import ConfigError, parse_config
from exporter.db.pool import PgPool
from exporter.metrics.store import MetricStore
from exporter.probes.postgres_changes import commit_time, split
from exporter.queries.audit_log import AuditLogCounter
from harness.core_fields import LOGICAL_SETTINGS, WRITER_ROLE, prepare_core_fields
from harness.postgres import PostgresServer
from harness.sandbox_platform import (
    DATABASE,
    EXPORTER_ROLE,
    SCHEMA,
    SandboxPlatform,
    start_database,
)
from sandbox.auth import user_id_for
from sandbox.settings import OUTSIDER_EMAIL, WATCHER_EMAIL
from tests.support import eventually, exporter_config, value
from tests.test_validation_security import validate

WATCHER = user_id_for(WATCHER_EMAIL)


@pytest.fixture(scope="module")
def probe_database() -> Iterator[tuple[PostgresServer, str]]:
    """The reference schema and the probe's migration on a PostgreSQL of our own; (server, the
    writer role's URL)."""
    with PostgresServer(settings=LOGICAL_SETTINGS) as server:
        server.execute("CREATE DATABASE wedsync")
        server.execute(SCHEMA.read_text(), dbname="wedsync")
        writer = prepare_core_fields(server, "wedsync", secrets.token_hex(8),
                                     [WATCHER, user_id_for(OUTSIDER_EMAIL)])
        yield server, writer


@pytest.mark.parametrize("statement", [
    "UPDATE public.weddings SET venue = 'x'",
    "UPDATE public.core_fields SET updated_at = now()",
    "SELECT count(*) FROM public.couples",
    "SELECT nonce FROM wedsync_probe.core_fields",
    "INSERT INTO wedsync_probe.core_fields (user_id) VALUES (gen_random_uuid())",
    "DELETE FROM wedsync_probe.core_fields",
    f"UPDATE wedsync_probe.core_fields SET user_id = gen_random_uuid() WHERE user_id = '{WATCHER}'",
    "CREATE TABLE public.intruder (id int)",
    "CREATE TABLE wedsync_probe.intruder (id int)",
    "ALTER TABLE wedsync_probe.core_fields DISABLE ROW LEVEL SECURITY",
    "INSERT INTO auth.audit_log_entries (id) VALUES (gen_random_uuid())",
])
def test_the_write_role_cannot_write_or_read_anything_else(probe_database, statement) -> None:
    _, writer = probe_database
    with psycopg.connect(writer, autocommit=True) as conn, pytest.raises(
            psycopg.errors.InsufficientPrivilege):
        conn.execute(statement)  # type: ignore[arg-type]


def test_the_write_role_updates_the_probe_rows_nonce(probe_database) -> None:
    server, writer = probe_database
    with psycopg.connect(writer, autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (WRITER_ROLE,)
        done = conn.execute("UPDATE wedsync_probe.core_fields SET nonce = 'n1', "
                            "updated_at = now() WHERE user_id = %s", (WATCHER,))
        assert done.rowcount == 1
    assert server.execute(f"SELECT nonce FROM wedsync_probe.core_fields WHERE user_id = "
                          f"'{WATCHER}'", dbname="wedsync") == [("n1",)]


def test_the_migration_can_run_again(probe_database) -> None:
    server, _ = probe_database
    prepare_core_fields(server, "wedsync", secrets.token_hex(8), [WATCHER])
    assert server.execute("SELECT count(*) FROM wedsync_probe.core_fields",
                          dbname="wedsync") == [(2,)]


def test_the_split_is_kept_only_when_the_clocks_agree() -> None:
    assert split(100.0, 100.02, 100.05) == pytest.approx((0.02, 0.03))
    assert split(100.0, 99.9995, 100.05) == pytest.approx((0, 0.0505))  # a cut millisecond
    assert split(100.0, 99.9, 100.05) is None  # committed before it was sent
    assert split(100.0, 100.2, 100.05) is None  # committed after it arrived
    assert commit_time({"commit_timestamp": "1970-01-01T00:01:40.020Z"}) == pytest.approx(100.02)
    assert commit_time({"commit_timestamp": "yesterday"}) is None


ENV = {"KEY": "anon-k", "PW": "secret-pw-1", "DSN": "postgresql://w:pw-9@127.0.0.1/db"}


def core_fields_config(**postgres_changes: object) -> dict[str, object]:
    user = {"email": "w@example.com", "password": "${PW}"}
    return exporter_config(
        auth=[{"name": "supabase", "url": "http://127.0.0.1:9/auth/v1", "anon_key": "${KEY}"}],
        realtime=[{"name": "supabase", "url": "ws://127.0.0.1:9/realtime/v1",
                   "anon_key": "${KEY}", "write_dsn": "${DSN}",
                   "postgres_changes": {"enabled": True, "watcher": user,
                                        "outsider": {**user, "email": "o@example.com"},
                                        **postgres_changes}}])


def test_the_probe_takes_auths_url_and_key_and_keeps_its_secrets() -> None:
    config = parse_config(yaml.safe_dump(core_fields_config()), ENV)
    [target] = config.targets("realtime")
    settings = target.postgres_changes
    assert settings is not None
    assert (settings.auth_url, settings.anon_key) == ("http://127.0.0.1:9/auth/v1", "anon-k")
    assert (settings.schema, settings.table) == ("wedsync_probe", "core_fields")
    assert {"secret-pw-1", "postgresql://w:pw-9@127.0.0.1/db", "pw-9"} <= config.secrets
    assert "secret-pw-1" not in repr(target) and "pw-9" not in repr(target)


@pytest.mark.parametrize(("change", "complaint"), [
    ({"auth": "elsewhere"}, "realtime[0].postgres_changes.auth: no auth target named"),
    ({"outsider": {"email": "o@example.com"}}, "realtime[0].postgres_changes.outsider"),
])
def test_a_probe_it_cannot_run_is_refused_with_the_key_path(change, complaint) -> None:
    with pytest.raises(ConfigError, match=complaint.replace("[", r"\[").replace("]", r"\]")):
        parse_config(yaml.safe_dump(core_fields_config(**change)), ENV)


def test_an_empty_write_dsn_turns_the_probe_off() -> None:
    raw = core_fields_config()
    raw["realtime"][0]["write_dsn"] = ""  # type: ignore[index]
    [target] = parse_config(yaml.safe_dump(raw), ENV).targets("realtime")
    assert target.postgres_changes is None


@pytest.mark.slow
def test_real_writes_are_timed_and_decode_delay_and_an_rls_leak_fire_their_alerts(
        make_stack) -> None:
    platform = SandboxPlatform()
    stack = make_stack(exporter_config=exporter_config(interval="2s", timeout="4s"),
                       sandbox=platform, scrape_interval="1s", evaluation_interval="1s",
                       for_scale=0.02, group_wait="1s", group_interval="1s",
                       repeat_interval="1h")
    assert stack.prometheus is not None and stack.webhook is not None
    exporter = stack.exporter
    t = {"target": "supabase"}

    def count(name: str, **labels: str) -> float:
        return value(exporter.metrics(), name, **t, **labels) or 0.0

    # Real writes: each observation is an UPDATE of the probe row, which the database counted.
    eventually(lambda: count("wedsync_realtime_postgres_change_seconds_count") >= 3,
               timeout=60, message="the Core Fields probe never recorded a change")
    assert platform.postgres is not None
    [(updates,)] = platform.postgres.execute(
        "SELECT n_tup_upd FROM pg_stat_user_tables WHERE schemaname = 'wedsync_probe'",
        dbname="wedsync")
    assert updates >= 2
    assert count("wedsync_up", component="realtime") == 1
    assert count("wedsync_realtime_rls_leaks_total") == 0
    assert count("wedsync_realtime_postgres_change_stage_seconds_count", stage="delivery") >= 1

    # A slow WAL decoder: the delivery stage grows past the delay, the commit stage does not,
    # and the slow-propagation alert fires.
    sandbox = platform.sandbox
    assert sandbox is not None
    before = count("wedsync_realtime_postgres_change_stage_seconds_count", stage="delivery")
    before_fast = count("wedsync_realtime_postgres_change_stage_seconds_bucket",
                        stage="delivery", le="0.25")
    sandbox.server.set_faults("realtime", decode_delay_ms=300)
    eventually(lambda: count("wedsync_realtime_postgres_change_stage_seconds_count",
                             stage="delivery") >= before + 3, timeout=60,
               message="no postgres_changes event under the decode delay")
    assert count("wedsync_realtime_postgres_change_stage_seconds_bucket", stage="delivery",
                 le="0.25") <= before_fast + 1  # at most one straddled the fault
    slow = stack.webhook.wait_for(90, alertname="WedSyncRealtimePostgresChangesSlow",
                                  status="firing")
    assert slow.alerts[0]["labels"]["target"] == "supabase"
    assert count("wedsync_up", component="realtime") == 1

    # RLS off: the outsider hears the watcher's row; the leak pages, critical.
    sandbox.server.set_faults("realtime", decode_delay_ms=0, rls_off=True)
    eventually(lambda: count("wedsync_realtime_rls_leaks_total") >= 1, timeout=60,
               message="the RLS-off fault leaked nothing")
    page = stack.webhook.wait_for(90, alertname="WedSyncRealtimeRLSLeak", status="firing")
    assert page.receiver == "pager"
    assert page.alerts[0]["labels"]["severity"] == "critical"


def test_the_synthetic_users_token_calls_are_not_counted_as_users_activity(
        probe_database) -> None:
    server, _ = probe_database
    outsider = user_id_for(OUTSIDER_EMAIL)

    def entries(*actors: str) -> None:
        server.execute("INSERT INTO auth.audit_log_entries (id, payload, created_at) VALUES "
                       + ", ".join(f"(gen_random_uuid(), '{{\"action\": \"token_refreshed\", "
                                   f"\"actor_id\": \"{a}\"}}', now())" for a in actors),
                       dbname="wedsync")

    async def go() -> float | None:
        store = MetricStore()
        pool = PgPool(server.dsn(dbname="wedsync"))
        counter = AuditLogCounter("supabase", pool, store,
                                  synthetic_users=lambda: {WATCHER, outsider})
        try:
            await counter.run()  # finds "now"
            entries(WATCHER, outsider, "6d1c0c8e-0000-4000-8000-000000000001")
            await counter.run()
        finally:
            await pool.close()
        return store.get("wedsync_auth_audit_events_total",
                         {"target": "supabase", "action": "token_refreshed"})

    try:
        assert asyncio.run(go()) == 1  # the real user's refresh only
    finally:
        server.execute("DELETE FROM auth.audit_log_entries", dbname="wedsync")


def test_the_probes_setup_leaves_the_stacks_postgres_clean_for_the_security_audit() -> None:
    password = secrets.token_urlsafe(16)
    server = start_database(password)
    try:
        prepare_core_fields(server, DATABASE, secrets.token_hex(8), [WATCHER])
        findings = validate(server.dsn(EXPORTER_ROLE, password, DATABASE))
        assert findings == [], [f.message for f in findings]
    finally:
        server.cleanup()
