"""A failing dependency shows up as metrics (wedsync_up 0 with a reason), never as a crashed
exporter, a hung scrape or leaked connections — on throwaway servers the tests break."""

from __future__ import annotations

import time
import urllib.request

import pytest

from harness.postgres import PostgresServer
from harness.redis import RedisServer
from tests.support import exporter_config as base_config
from tests.support import value, wait_metrics

INTERVAL, TIMEOUT = 1.0, 0.8
# One interval plus one timeout, plus slack for a loaded two-core machine.
DETECT_WITHIN = INTERVAL + TIMEOUT + 3.0


def exporter_config(**kw):
    return base_config(interval=f"{INTERVAL}s", timeout=f"{int(TIMEOUT * 1000)}ms", **kw)


def failures(text: str, component: str, target: str, reason: str) -> float:
    return value(text, "wedsync_probe_failures_total", component=component, target=target,
                 reason=reason) or 0.0


def scrape_seconds(url: str, count: int = 20) -> float:
    """The slowest of ``count`` scrapes."""
    slowest = 0.0
    for _ in range(count):
        started = time.perf_counter()
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as answer:
            answer.read()
        slowest = max(slowest, time.perf_counter() - started)
    return slowest


def is_up(component: str, target: str, want: float):
    return lambda t: value(t, "wedsync_up", component=component, target=target) == want


@pytest.fixture
def pg_exporter(make_exporter, breakable_pg: PostgresServer):
    return make_exporter(exporter_config(
        database=[{"name": "primary", "dsn": "${PG_DSN}", "pool_size": 2}]),
        env={"PG_DSN": breakable_pg.dsn()})


@pytest.fixture
def redis_exporter(make_exporter, breakable_redis: RedisServer):
    return make_exporter(exporter_config(redis=[{"name": "cache", "url": "${REDIS_URL}"}]),
                         env={"REDIS_URL": breakable_redis.url()})


def test_stopped_postgres_is_down_with_reason_connect_and_recovers(
        pg_exporter, breakable_pg: PostgresServer) -> None:
    wait_metrics(pg_exporter, is_up("database", "primary", 1))
    breakable_pg.stop()
    stopped_at = time.monotonic()
    text = wait_metrics(pg_exporter, is_up("database", "primary", 0), timeout=DETECT_WITHIN)
    assert time.monotonic() - stopped_at <= DETECT_WITHIN
    assert failures(text, "database", "primary", "connect") >= 1
    assert value(text, "wedsync_component_status", component="database", target="primary",
                 status="critical") == 1
    # Detail gauges are no longer known, so they are gone rather than stale.
    assert "wedsync_db_max_connections{" not in text
    assert scrape_seconds(pg_exporter.url) < 0.5
    breakable_pg.start()
    wait_metrics(pg_exporter, is_up("database", "primary", 1), timeout=10)
    assert pg_exporter.process.poll() is None


def test_hung_postgres_times_out_scrapes_stay_fast_and_no_connection_leaks(
        pg_exporter, breakable_pg: PostgresServer) -> None:
    wait_metrics(pg_exporter, is_up("database", "primary", 1))
    breakable_pg.pause()
    try:
        text = wait_metrics(pg_exporter, lambda t: failures(
            t, "database", "primary", "timeout") >= 2, timeout=DETECT_WITHIN + 3)
        assert value(text, "wedsync_up", component="database", target="primary") == 0
        assert scrape_seconds(pg_exporter.url) < 0.5
    finally:
        breakable_pg.resume()
    wait_metrics(pg_exporter, is_up("database", "primary", 1), timeout=15)
    # Connections opened or abandoned during the hang are closed: at most the pool's size is
    # held once things settle.
    assert breakable_pg.wait_connections(2, "wedsync-exporter", timeout=15) <= 2


def test_wrong_postgres_password_is_reason_auth_and_never_shown(
        make_exporter) -> None:
    canary = "Canary-PG-Passw0rd-7f3a"
    with PostgresServer(password="the-right-password", stat_statements=False) as server:
        exporter = make_exporter(exporter_config(
            database=[{"name": "primary", "dsn": "${PG_DSN}"}]),
            env={"PG_DSN": server.dsn(password=canary)})
        text = wait_metrics(exporter, lambda t: failures(t, "database", "primary", "auth") >= 1)
        assert value(text, "wedsync_up", component="database", target="primary") == 0
        exporter.stop()
        assert canary not in text
        assert canary not in exporter.logs()
        assert "failing" in exporter.logs()


def test_stopped_redis_is_down_with_reason_connect_and_recovers(
        redis_exporter, breakable_redis: RedisServer) -> None:
    wait_metrics(redis_exporter, is_up("redis", "cache", 1))
    breakable_redis.stop()
    text = wait_metrics(redis_exporter, is_up("redis", "cache", 0), timeout=DETECT_WITHIN)
    assert failures(text, "redis", "cache", "connect") >= 1
    assert "wedsync_redis_memory_used_bytes{" not in text
    breakable_redis.start()
    wait_metrics(redis_exporter, is_up("redis", "cache", 1), timeout=10)


def test_hung_redis_times_out_scrapes_stay_fast_and_no_connection_leaks(
        redis_exporter, breakable_redis: RedisServer) -> None:
    wait_metrics(redis_exporter, is_up("redis", "cache", 1))
    breakable_redis.pause()
    try:
        text = wait_metrics(redis_exporter, lambda t: failures(
            t, "redis", "cache", "timeout") >= 2, timeout=DETECT_WITHIN + 3)
        assert value(text, "wedsync_up", component="redis", target="cache") == 0
        assert scrape_seconds(redis_exporter.url) < 0.5
    finally:
        breakable_redis.resume()
    wait_metrics(redis_exporter, is_up("redis", "cache", 1), timeout=10)
    time.sleep(1.0)  # let Redis process the closes queued while it was stopped
    assert breakable_redis.clients_named("wedsync-exporter") <= 1


def test_wrong_redis_password_is_reason_auth_and_never_shown(make_exporter) -> None:
    canary = "Canary-Redis-Passw0rd-91c2"
    with RedisServer(password="the-right-password") as server:
        exporter = make_exporter(exporter_config(redis=[{"name": "cache", "url": "${R}"}]),
                                 env={"R": server.url(password=canary)})
        text = wait_metrics(exporter, lambda t: failures(t, "redis", "cache", "auth") >= 1)
        exporter.stop()
        assert canary not in text
        assert canary not in exporter.logs()


def test_redis_probe_works_where_config_and_info_are_forbidden(make_exporter) -> None:
    # Managed Redis forbids CONFIG; a stricter ACL may forbid INFO as well.
    # `probe` has exactly the ACL docs/security.md documents; `noinfo` lacks INFO too.
    extra = ['rename-command CONFIG ""',
             "user probe on >probe-pass resetkeys -@all +ping +info +client|setname",
             "user noinfo on >noinfo-pass resetkeys -@all +ping +client|setname"]
    with RedisServer(extra=extra) as server:
        exporter = make_exporter(exporter_config(redis=[
            {"name": "managed", "url": "${R1}"}, {"name": "strict", "url": "${R2}"}]),
            env={"R1": server.url(user="probe", password="probe-pass"),
                 "R2": server.url(user="noinfo", password="noinfo-pass")})
        text = wait_metrics(exporter, lambda t: value(
            t, "wedsync_up", component="redis", target="managed") == 1 and value(
            t, "wedsync_up", component="redis", target="strict") == 1)
        assert value(text, "wedsync_redis_memory_max_bytes", target="managed") == 0
        assert value(text, "wedsync_redis_keyspace_hits_total", target="managed") is not None
        assert value(text, "wedsync_redis_ping_seconds", target="strict") is not None
        assert value(text, "wedsync_redis_memory_used_bytes", target="strict") is None


def test_exporter_serves_while_every_dependency_is_down(make_exporter) -> None:
    exporter = make_exporter(exporter_config(
        database=[{"name": "primary", "dsn": "postgresql://postgres@127.0.0.1:1/x"}],
        redis=[{"name": "cache", "url": "redis://127.0.0.1:1/0"}],
        queries={"weddings": {"builtin": "weddings"}}))
    text = wait_metrics(exporter, lambda t: is_up("database", "primary", 0)(t) and is_up(
        "redis", "cache", 0)(t))
    assert value(text, "wedsync_custom_query_success", query="weddings") is not None
    exporter.wait_ready()
    assert scrape_seconds(exporter.url) < 0.5
