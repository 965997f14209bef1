"""Two exporter replicas sharing state through a Redis of their own (``shared_state``): an
override taken on one is honoured by the other within a second, rate limits count across both,
the performance_logs tailer runs on one at a time and moves when it dies without counting a row
twice, and with the shared Redis down both keep serving and say so."""

from __future__ import annotations

import json
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from harness.exporter import ExporterProcess
from harness.redis import RedisServer
from tests.support import eventually, exporter_config, value, wait_metrics

TOKENS = {"admin": "admin-token-0123456789", "deploy": "deploy-token-0123456789",
          "ingest": "ingest-token-0123456789"}
ENV = {f"{kind.upper()}_TOKEN": token for kind, token in TOKENS.items()}
OVERRIDE = "/api/system/deploy-gate/override"
GATE = "/api/system/deploy-gate"
INSERT = ("INSERT INTO performance_logs (endpoint, method, response_time_ms, status_code) "
          "VALUES ('/api/clients/' || %s, 'GET', 50, 200)")
LEASE = 3.0


def request(exporter: ExporterProcess, path: str, token: str, method: str = "GET",
            body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{exporter.url}{path}", data=data, method=method,
                                 headers={"Authorization": f"Bearer {token}",
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


@pytest.fixture
def shared_redis() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def replicas(shared_redis: RedisServer, make_exporter: Callable[..., ExporterProcess]
             ) -> Callable[..., list[ExporterProcess]]:
    def start(**sections: Any) -> list[ExporterProcess]:
        env = {**ENV, "SHARED_URL": shared_redis.url(), **sections.pop("env", {})}
        config = exporter_config(
            tokens={kind: f"${{{kind.upper()}_TOKEN}}" for kind in TOKENS},
            shared_state={"url": "${SHARED_URL}", "lease": f"{LEASE:g}s",
                          "refresh": "200ms", "timeout": "200ms"},
            **sections)
        return [make_exporter(config, env=env) for _ in range(2)]
    return start


def test_an_override_taken_on_one_replica_is_honoured_by_the_other_within_a_second(
        replicas: Callable[..., list[ExporterProcess]]) -> None:
    a, b = replicas()
    assert request(b, GATE, TOKENS["deploy"])[0] == 423  # starting / nothing known: closed
    status, _ = request(a, OVERRIDE, TOKENS["admin"], "POST",
                        {"reason": "Hotfix for the payment outage", "duration": "10m"})
    assert status == 201
    taken = time.monotonic()
    eventually(lambda: request(b, GATE, TOKENS["deploy"])[0] == 200, timeout=5, interval=0.05)
    assert time.monotonic() - taken < 1.0
    answer = request(b, GATE, TOKENS["deploy"])[1]
    assert answer["override"]["reason"] == "Hotfix for the payment outage"
    # Ended on B: A closes again.
    assert request(b, OVERRIDE, TOKENS["admin"], "DELETE")[1]["ended"] is True
    ended = time.monotonic()
    eventually(lambda: request(a, GATE, TOKENS["deploy"])[0] == 423, timeout=5, interval=0.05)
    assert time.monotonic() - ended < 1.0
    for replica in (a, b):
        assert value(replica.metrics(), "wedsync_shared_state_up") == 1


def test_rate_limits_count_across_replicas(
        replicas: Callable[..., list[ExporterProcess]]) -> None:
    a, b = replicas(rate_limits={"deploy_gate": "4/minute"})
    answers = [request(replica, GATE, TOKENS["deploy"])[0] for replica in (a, b, a, b, a, b)]
    assert answers[:4].count(429) == 0
    assert answers[4:] == [429, 429]


def _accepted(exporter: ExporterProcess) -> float:
    return value(exporter.metrics(), "wedsync_ingest_events_total", result="accepted") or 0


def _holder(replicas: list[ExporterProcess]) -> list[ExporterProcess]:
    return [r for r in replicas
            if value(r.metrics(), "wedsync_ingest_tail_lease_held") == 1]


def test_the_tailer_runs_on_one_replica_and_moves_when_it_dies_counting_each_row_once(
        replicas: Callable[..., list[ExporterProcess]], pg_server: Any,
        wedsync_database: str) -> None:
    dsn = pg_server.dsn(dbname=wedsync_database)
    pair = replicas(database=[{"name": "primary", "dsn": "${PG_DSN}"}],
                    ingestion={"performance_logs": {"enabled": True, "interval": "500ms"}},
                    env={"PG_DSN": dsn})
    holder = eventually(lambda: _holder(pair), timeout=15, message="a replica holds the lease")
    assert len(holder) == 1, "both replicas hold the lease"
    first = holder[0]
    other = next(r for r in pair if r is not first)

    with psycopg.connect(dsn, autocommit=True) as conn:
        for n in range(10):
            conn.execute(INSERT, (str(n),))
    eventually(lambda: _accepted(first) == 10, timeout=10, message="the holder counted 10 rows")
    assert _accepted(other) == 0
    counted_before = _accepted(first)

    assert first.process is not None
    first.process.send_signal(signal.SIGKILL)  # no clean release: the lease must expire
    first.process.wait(5)
    died = time.monotonic()
    with psycopg.connect(dsn, autocommit=True) as conn:
        for n in range(10, 25):
            conn.execute(INSERT, (str(n),))
    eventually(lambda: value(other.metrics(), "wedsync_ingest_tail_lease_held") == 1,
               timeout=LEASE * 4, interval=0.1, message="the survivor takes the lease")
    takeover = time.monotonic() - died
    # Within one lease, plus the survivor's next try (a third of a lease) and some slack.
    assert takeover < LEASE * 1.34 + 2.0, f"takeover took {takeover:.1f}s"
    wait_metrics(other, lambda t: value(t, "wedsync_ingest_events_total",
                                        result="accepted") == 15, timeout=10)
    time.sleep(1.5)  # a few more passes: nothing counted twice
    assert counted_before + _accepted(other) == 25
    print(f"lease takeover: {takeover:.2f}s (lease {LEASE:g}s)")


def test_with_the_shared_redis_down_both_replicas_keep_serving_and_say_so(
        replicas: Callable[..., list[ExporterProcess]], shared_redis: RedisServer) -> None:
    a, b = replicas()
    assert request(a, OVERRIDE, TOKENS["admin"], "POST",
                   {"reason": "Hotfix for the payment outage", "duration": "10m"})[0] == 201
    eventually(lambda: request(b, GATE, TOKENS["deploy"])[0] == 200, timeout=5)
    shared_redis.pause()  # hung, sockets open: the worst case for a client
    try:
        for replica in (a, b):
            wait_metrics(replica, lambda t: value(t, "wedsync_shared_state_up") == 0,
                         timeout=5)
        for replica in (a, b):
            started = time.monotonic()
            replica.metrics()
            assert time.monotonic() - started < 1.0
            # What each knew still holds: the override, and answers (not hangs) to requests.
            assert request(replica, GATE, TOKENS["deploy"])[0] == 200
        assert "shared state unreachable" in a.logs()
    finally:
        shared_redis.resume()
    for replica in (a, b):
        wait_metrics(replica, lambda t: value(t, "wedsync_shared_state_up") == 1, timeout=5)
    assert request(b, GATE, TOKENS["deploy"])[0] == 200


def _incidents(exporter: ExporterProcess) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{exporter.url}/api/v2/incidents.json", timeout=5) as answer:
        return [i for i in json.load(answer)["incidents"] if i["status"] != "scheduled"]


def _bodies(exporter: ExporterProcess) -> set[str]:
    return {u["body"] for i in _incidents(exporter) for u in i["incident_updates"]
            if u["status"] != "scheduled"}


def test_an_operators_update_posted_to_one_replica_shows_on_both(
        replicas: Callable[..., list[ExporterProcess]]) -> None:
    with RedisServer() as platform:  # the platform's Redis, which the test breaks
        a, b = replicas(redis=[{"name": "cache", "url": platform.url()}])  # type: ignore[attr-defined]
        for replica in (a, b):
            replica.wait_ready()
        platform.stop()
        for replica in (a, b):
            eventually(lambda r=replica: _incidents(r), timeout=20,
                       message="the outage opens an incident")
        [on_a] = _incidents(a)
        status, _ = request(a, f"/api/status/incidents/{on_a['id']}/updates", TOKENS["admin"],
                            "POST", {"body": "We are restarting the cache."})
        assert status == 201
        eventually(lambda: "We are restarting the cache." in _bodies(b), timeout=5,
                   message="the update reaches the other replica")
        # B takes A's incident id too (the same outage, seen a second apart).
        status, _ = request(b, f"/api/status/incidents/{on_a['id']}/updates", TOKENS["admin"],
                            "POST", {"body": "The cache is back."})
        assert status == 201
        eventually(lambda: _bodies(a) == {"We are restarting the cache.",
                                          "The cache is back."}, timeout=5)
        time.sleep(1.5)  # adopted once, not once per refresh
        for replica in (a, b):
            [incident] = _incidents(replica)
            assert len(incident["incident_updates"]) == 2
