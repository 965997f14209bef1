"""Counts of Auth audit-log actions: the sandbox writes a row per sign-in and refresh (as
GoTrue does), and the exporter counts the new ones as counters."""

from __future__ import annotations

import pytest
import yaml

from exporter.config import ConfigError, parse_config
from harness.sandbox import SandboxServer
from tests.support import (
    CANARY_ANON_KEY,
    CANARY_PASSWORD,
    PROBE_EMAIL,
    exporter_config,
    value,
    wait_metrics,
)


def audited_exporter(make_exporter, sandbox, dsn):
    return make_exporter(exporter_config(
        database=[{"name": "platform", "dsn": "${DSN}"}],
        auth=[{"name": "supabase", "url": sandbox.auth_url, "anon_key": "${KEY}",
               "sign_in": {"enabled": True, "email": PROBE_EMAIL, "password": "${PW}"},
               "audit_log": {"enabled": True, "interval": "1s"}}]),
        env={"DSN": dsn, "KEY": CANARY_ANON_KEY, "PW": CANARY_PASSWORD})


def test_users_actions_are_counted_and_the_probe_users_own_are_not(pg_server,
                                                                     make_exporter) -> None:
    pg_server.execute("""
        INSERT INTO auth.audit_log_entries (instance_id, id, payload, created_at)
        VALUES (NULL, gen_random_uuid(), '{"action": "login"}', now() - interval '1 hour')
    """, dbname="wedsync")  # history before the exporter starts is not replayed
    dsn = pg_server.dsn(dbname="wedsync")
    try:
        with SandboxServer(anon_key=CANARY_ANON_KEY, probe_email=PROBE_EMAIL,
                           probe_password=CANARY_PASSWORD, database_url=dsn) as sandbox:
            exporter = audited_exporter(make_exporter, sandbox, dsn)
            # The probe's own sign-in and refreshes are written (Auth's audit log is on).
            wait_metrics(exporter, lambda t: value(
                t, "wedsync_auth_audit_log_writing", target="supabase") == 1, timeout=20)
            pg_server.execute("""
                INSERT INTO auth.audit_log_entries (instance_id, id, payload, created_at)
                VALUES (NULL, gen_random_uuid(),
                        '{"action": "login", "actor_id": "6d1c0c8e-0000-4000-8000-000000000001"}',
                        now()),
                       (NULL, gen_random_uuid(), '{"action": "login"}', now()),
                       (NULL, gen_random_uuid(), '{"action": "user_signedup"}', now()),
                       (NULL, gen_random_uuid(), '{"action": "made_up_action"}', now())
            """, dbname="wedsync")
            wait_metrics(exporter, lambda t: value(
                t, "wedsync_auth_audit_events_total", target="supabase",
                action="user_signedup") == 1, timeout=10)
            runs = value(exporter.metrics(), "wedsync_probe_runs_total", component="auth",
                         target="supabase")
            # A few more probe runs: each refreshes the probe's session and writes a row.
            text = wait_metrics(exporter, lambda t: value(
                t, "wedsync_probe_runs_total", component="auth", target="supabase") >= runs + 3,
                timeout=15)
            counted = {action: value(text, "wedsync_auth_audit_events_total", target="supabase",
                                     action=action)
                       for action in ("login", "token_refreshed", "other", "user_signedup")}
            assert counted == {"login": 2, "token_refreshed": 0, "other": 1,
                               "user_signedup": 1}
            assert value(text, "wedsync_auth_audit_log_writing", target="supabase") == 1
            assert value(text, "wedsync_custom_query_success", query="auth_audit_supabase") == 1
    finally:
        pg_server.execute("DELETE FROM auth.audit_log_entries", dbname="wedsync")


def test_audit_logging_turned_off_shows_instead_of_silent_zeros(pg_server, make_exporter,
                                                                 sandbox) -> None:
    # The session's sandbox writes no audit rows: as GoTrue with its audit log to PostgreSQL off.
    dsn = pg_server.dsn(dbname="wedsync")
    exporter = audited_exporter(make_exporter, sandbox, dsn)
    text = wait_metrics(exporter, lambda t: value(
        t, "wedsync_auth_audit_log_writing", target="supabase") == 0, timeout=20)
    assert value(text, "wedsync_up", component="auth", target="supabase") == 1
    assert "audit logging to PostgreSQL looks turned off" in exporter.logs()


def test_audit_log_needs_a_known_database_target() -> None:
    base = {"auth": [{"name": "supabase", "url": "http://127.0.0.1:1/auth/v1",
                      "audit_log": {"enabled": True, "database": "nope"}}]}
    with pytest.raises(ConfigError, match=r"auth\[0\]\.audit_log\.database: no database "
                                          r"target named 'nope'"):
        parse_config(yaml.safe_dump(base), {})
    base["auth"][0]["audit_log"].pop("database")
    with pytest.raises(ConfigError, match="needs a database target"):
        parse_config(yaml.safe_dump(base), {})


def test_an_unreadable_audit_log_fails_its_query_not_the_auth_probe(make_exporter, sandbox,
                                                                     breakable_pg) -> None:
    exporter = make_exporter(exporter_config(
        database=[{"name": "primary", "dsn": breakable_pg.dsn()}],
        auth=[{"name": "supabase", "url": sandbox.auth_url, "anon_key": "${KEY}",
               "audit_log": {"enabled": True, "interval": "1s"}}]),
        env={"KEY": CANARY_ANON_KEY})
    # A fresh server has no auth.audit_log_entries table.
    text = wait_metrics(exporter, lambda t: value(
        t, "wedsync_custom_query_success", query="auth_audit_supabase") == 0, timeout=15)
    assert value(text, "wedsync_up", component="auth", target="supabase") == 1
