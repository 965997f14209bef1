"""The pooler and queues components inside a running exporter: configured like the example,
exported on /metrics, judged in the health document, and failing as metrics (never a hung
scrape) when PgBouncer stops or hangs."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from exporter.config import parse_config
from harness.pgbouncer import PgBouncerServer, available
from harness.postgres import PostgresServer
from harness.redis import RedisServer
from tests.support import exporter_config, value, wait_metrics

pytestmark = pytest.mark.skipif(not available(), reason="Debian's pgbouncer is not installed")

EXAMPLE = Path(__file__).resolve().parent.parent / "exporter" / "example.yaml"
SECRET = "stats-pw-9f3a"


@pytest.fixture(scope="module")
def pooled() -> Iterator[tuple[PostgresServer, PgBouncerServer]]:
    with PostgresServer(stat_statements=False) as pg, PgBouncerServer(
            pg.port, pool_size=2, password=SECRET) as pgbouncer:
        yield pg, pgbouncer


def test_the_example_turns_pooler_and_queues_on_from_its_two_variables() -> None:
    text = EXAMPLE.read_text()
    off = parse_config(text, {})
    assert off.targets("pooler") == () and off.targets("queues") == ()
    on = parse_config(text, {"WEDSYNC_POOLER_URL": "postgresql://s:pw@127.0.0.1:6432/pgbouncer",
                             "WEDSYNC_QUEUES": "emails, exports,,emails"})
    (pooler,) = on.targets("pooler")
    (queues,) = on.targets("queues")
    assert pooler.url.endswith("/pgbouncer")  # type: ignore[attr-defined]
    assert queues.names == ("emails", "exports")  # type: ignore[attr-defined]
    assert queues.url == "redis://127.0.0.1:6379/0"  # type: ignore[attr-defined]
    assert "pw" in on.secrets
    assert "pooler" in on.essential and "queues" not in on.essential


def test_a_queue_name_with_a_colon_is_refused_with_its_key_path() -> None:
    from exporter.config import ConfigError

    bad = ("queues:\n  - name: jobs\n    url: redis://127.0.0.1:6379/0\n"
           "    names: [emails, 'bull:emails']\n")
    with pytest.raises(ConfigError, match=r"queues\[0\]\.names"):
        parse_config(bad, {})


def test_pooler_and_queues_reach_metrics_and_the_health_document(
        pooled: tuple[PostgresServer, PgBouncerServer], make_exporter) -> None:
    _, pgbouncer = pooled
    with RedisServer() as cache:
        client = redis.Redis(host="127.0.0.1", port=cache.port)
        client.lpush("bull:emails:wait", "1")
        client.hset("bull:emails:1", mapping={"timestamp": int(time.time() * 1000) - 5000,
                                              "delay": 0})
        config = exporter_config(
            pooler=[{"name": "pgbouncer", "url": "${POOLER_URL}"}],
            queues=[{"name": "cache", "url": cache.url(), "names": "emails"}],
            tokens={"admin": "${ADMIN}"})
        exporter = make_exporter(config, env={"POOLER_URL": pgbouncer.admin_dsn(),
                                              "ADMIN": "admin-token-1"})
        text = wait_metrics(exporter, lambda t: value(
            t, "wedsync_up", component="pooler", target="pgbouncer") == 1 and value(
            t, "wedsync_up", component="queues", target="cache") == 1)
        assert value(text, "wedsync_pooler_pool_size", target="pgbouncer",
                     database="postgres") == 2
        assert value(text, "wedsync_queue_jobs", target="cache", queue="emails",
                     state="waiting") == 1
        assert value(text, "wedsync_queue_oldest_waiting_age_seconds", target="cache",
                     queue="emails") >= 5
        assert SECRET not in text
        request = urllib.request.Request(f"{exporter.url}/api/system/health",
                                         headers={"Authorization": "Bearer admin-token-1"})
        with urllib.request.urlopen(request, timeout=5) as answer:
            document = json.load(answer)
        assert document["components"]["pooler"]["status"] == "healthy"
        assert document["components"]["pooler"]["essential"] is True
        assert document["components"]["queues"]["essential"] is False


def test_a_stopped_or_hung_pgbouncer_is_a_failing_probe_not_a_hung_scrape(
        pooled: tuple[PostgresServer, PgBouncerServer], make_exporter) -> None:
    pg, _ = pooled
    with PgBouncerServer(pg.port) as pgbouncer:
        exporter = make_exporter(exporter_config(
            pooler=[{"name": "pgbouncer", "url": pgbouncer.admin_dsn()}], timeout="1s"))
        wait_metrics(exporter, lambda t: value(t, "wedsync_up", component="pooler",
                                               target="pgbouncer") == 1)
        pgbouncer.pause()
        try:
            text = wait_metrics(exporter, lambda t: (value(
                t, "wedsync_probe_failures_total", component="pooler", target="pgbouncer",
                reason="timeout") or 0) >= 1, timeout=15)
            assert value(text, "wedsync_up", component="pooler", target="pgbouncer") == 0
            # Pooler families are no longer known: they are gone, not frozen.
            assert value(text, "wedsync_pooler_pool_size", target="pgbouncer",
                         database="postgres") is None
            started = time.monotonic()
            exporter.metrics()
            assert time.monotonic() - started < 0.5
        finally:
            pgbouncer.resume()
        wait_metrics(exporter, lambda t: value(t, "wedsync_up", component="pooler",
                                               target="pgbouncer") == 1, timeout=15)
        before = connect_failures(exporter.metrics())
        pgbouncer.stop()
        # Stopped: the probe fails (refused connections count as `connect`) and wedsync_up
        # goes to 0, while scrapes keep being answered. (Until 2026-12 this failed now and then:
        # PgBouncer ran under runuser, which lost the SIGTERM after a pause and resume, so
        # PgBouncer ran on; the harness now starts it as postgres without runuser.)
        wait_metrics(exporter, lambda t: connect_failures(t) > before and value(
            t, "wedsync_up", component="pooler", target="pgbouncer") == 0, timeout=15)


def connect_failures(text: str) -> float:
    """The pooler probe's failures to connect so far."""
    return value(text, "wedsync_probe_failures_total", component="pooler",
                 target="pgbouncer", reason="connect") or 0.0


def test_validation_judges_the_pooler_from_its_probe(make_exporter) -> None:
    from harness.ports import free_port

    dead = f"postgresql://wedsync_stats@127.0.0.1:{free_port()}/pgbouncer"
    exporter = make_exporter(exporter_config(
        pooler=[{"name": "pgbouncer", "url": dead}], tokens={"admin": "${ADMIN}"}),
        env={"ADMIN": "admin-token-2"})
    wait_metrics(exporter, lambda t: value(t, "wedsync_up", component="pooler",
                                           target="pgbouncer") == 0)
    request = urllib.request.Request(
        f"{exporter.url}/api/architecture/validate", method="POST",
        data=json.dumps({"component": "pooler", "validation_type": "performance"}).encode(),
        headers={"Authorization": "Bearer admin-token-2", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        verdict = json.load(answer)
    assert verdict["valid"] is False and verdict["severity"] == "critical"
    assert "127.0.0.1" not in json.dumps(verdict)
