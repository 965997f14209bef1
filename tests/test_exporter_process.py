"""The exporter as Prometheus sees it: /metrics against the local PostgreSQL and Redis,
zero-initialised counters, no made-up gauges, readiness, reload and shutdown."""

from __future__ import annotations

import gzip
import signal
import subprocess
import time
import urllib.request

import pytest

from tests.support import (
    SHARED_PG_DSN,
    SHARED_REDIS_URL,
    eventually,
    exporter_config,
    value,
    wait_metrics,
)


@pytest.fixture
def local_exporter(make_exporter):
    config = exporter_config(
        database=[{"name": "primary", "dsn": "${PG_DSN}"}],
        redis=[{"name": "cache", "url": "${REDIS_URL}"}],
        queries={"weddings": {"builtin": "weddings", "interval": "1s"}},
        tokens={"admin": "${ADMIN_TOKEN}"},
    )
    return make_exporter(config, env={"PG_DSN": SHARED_PG_DSN, "REDIS_URL": SHARED_REDIS_URL,
                                      "ADMIN_TOKEN": "admin-token-for-tests"})


def test_metrics_tell_the_truth_about_postgres_and_redis(local_exporter) -> None:
    text = wait_metrics(local_exporter, lambda t: value(
        t, "wedsync_up", component="redis", target="cache") is not None and value(
        t, "wedsync_up", component="database", target="primary") is not None)
    assert value(text, "wedsync_up", component="database", target="primary") == 1
    assert value(text, "wedsync_up", component="redis", target="cache") == 1
    import psycopg
    with psycopg.connect(SHARED_PG_DSN) as conn:
        max_connections = int(conn.execute("SHOW max_connections").fetchone()[0])
    assert value(text, "wedsync_db_max_connections", target="primary") == max_connections
    assert value(text, "wedsync_db_connections", target="primary", state="active") >= 1
    assert value(text, "wedsync_db_xact_commit_total", target="primary") > 0
    assert value(text, "wedsync_db_size_bytes", target="primary") > 1_000_000
    assert value(text, "wedsync_db_roundtrip_seconds_count", target="primary") >= 1
    assert value(text, "wedsync_db_tables_without_rls", target="primary",
                 schema="public") is not None
    import redis
    info = redis.Redis.from_url(SHARED_REDIS_URL).info()
    assert value(text, "wedsync_redis_memory_max_bytes", target="cache") == info["maxmemory"]
    assert value(text, "wedsync_redis_commands_processed_total", target="cache") > 0
    assert value(text, "wedsync_redis_role", target="cache", role="master") == 1
    assert value(text, "wedsync_build_info", version="0.1.0") == 1
    lag = value(wait_metrics(local_exporter, lambda t: "wedsync_event_loop_lag_seconds " in t),
                "wedsync_event_loop_lag_seconds")
    assert 0 <= lag < 0.5


def test_output_passes_promtool_check_metrics(local_exporter) -> None:
    eventually(lambda: "wedsync_redis_memory_used_bytes" in local_exporter.metrics())
    checked = subprocess.run(["promtool", "check", "metrics"], input=local_exporter.metrics(),
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_counters_start_at_zero_and_gauges_only_with_a_result(make_exporter) -> None:
    # The database is unreachable (nothing listens on port 1): failures count from zero, and
    # no database gauge is invented.
    exporter = make_exporter(exporter_config(
        database=[{"name": "primary", "dsn": "postgresql://postgres@127.0.0.1:1/x"}],
        queries={"weddings": {"builtin": "weddings"}}))
    text = exporter.metrics()
    for reason in ("timeout", "connect", "auth", "protocol", "refused", "error"):
        assert value(text, "wedsync_probe_failures_total", component="database",
                     target="primary", reason=reason) is not None
    assert "wedsync_db_max_connections" not in text
    assert "wedsync_weddings{" not in text
    text = wait_metrics(exporter, lambda t: value(
        t, "wedsync_up", component="database", target="primary") == 0)
    assert value(text, "wedsync_probe_failures_total", component="database", target="primary",
                 reason="connect") >= 1
    assert value(text, "wedsync_custom_query_success", query="weddings") == 0
    assert "wedsync_db_max_connections{" not in text


def test_a_new_result_is_visible_within_one_second(local_exporter) -> None:
    # Probes run every second; each run's result must show within a second of the run.
    def runs() -> float:
        return value(local_exporter.metrics(), "wedsync_probe_runs_total",
                     component="redis", target="cache") or 0

    first = eventually(runs)
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline and runs() == first:
        time.sleep(0.05)
    assert runs() > first


def test_gzip_is_served_to_prometheus(local_exporter) -> None:
    request = urllib.request.Request(
        f"{local_exporter.url}/metrics",
        headers={"Accept-Encoding": "gzip",
                 "Accept": "application/openmetrics-text;version=1.0.0,"
                           "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"})
    with urllib.request.urlopen(request) as answer:
        assert answer.headers["Content-Encoding"] == "gzip"
        assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert b"wedsync_build_info" in gzip.decompress(answer.read())


def test_ready_once_every_probe_ran(local_exporter) -> None:
    local_exporter.wait_ready()
    assert b"healthy" in local_exporter.get("/-/healthy")


def test_reload_refuses_a_bad_config_and_keeps_the_old_one(local_exporter) -> None:
    good = local_exporter.config_path.read_text()
    local_exporter.config_path.write_text(good + "\nunknown_section: 1\n")
    local_exporter.signal(signal.SIGHUP)
    text = wait_metrics(local_exporter, lambda t: value(
        t, "wedsync_config_last_reload_successful") == 0)
    assert value(text, "wedsync_up", component="redis", target="cache") == 1
    assert "reload refused" in local_exporter.logs()
    local_exporter.config_path.write_text(good)
    request = urllib.request.Request(f"{local_exporter.url}/-/reload", method="POST",
                                     headers={"Authorization": "Bearer admin-token-for-tests"})
    with urllib.request.urlopen(request) as answer:
        assert answer.status == 200
    assert value(local_exporter.metrics(), "wedsync_config_last_reload_successful") == 1


def test_reload_needs_the_admin_token(local_exporter) -> None:
    request = urllib.request.Request(f"{local_exporter.url}/-/reload", method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request)
    assert caught.value.code == 401


def test_sigterm_exits_zero_within_seconds(local_exporter) -> None:
    local_exporter.wait_ready()
    started = time.monotonic()
    assert local_exporter.stop() == 0
    assert time.monotonic() - started < 5


def test_reload_drops_the_series_of_a_removed_target(local_exporter) -> None:
    import yaml

    wait_metrics(local_exporter, lambda t: value(
        t, "wedsync_up", component="redis", target="cache") == 1)
    config = yaml.safe_load(local_exporter.config_path.read_text())
    config["redis"] = []
    local_exporter.write_config(config)
    request = urllib.request.Request(f"{local_exporter.url}/-/reload", method="POST",
                                     headers={"Authorization": "Bearer admin-token-for-tests"})
    with urllib.request.urlopen(request) as answer:
        assert answer.status == 200
    text = wait_metrics(local_exporter, lambda t: 'target="cache"' not in t)
    assert value(text, "wedsync_up", component="database", target="primary") == 1
    # The query kept by the new config runs again (the shared test database has no weddings
    # table, so it turns itself off again).
    wait_metrics(local_exporter, lambda t: value(
        t, "wedsync_custom_query_disabled", query="weddings", reason="missing_table") == 1)
