"""Keys per Redis database, from INFO keyspace, on a real (throwaway) Redis."""

from __future__ import annotations

import redis
from redis._parsers.helpers import parse_info as redis_py_parse_info

from exporter.config.model import RedisTarget
from exporter.probes.base import ProbeOutcome
from exporter.probes.redis import COUNTERS, GAUGES, RedisProbe, parse_info
from harness.redis import RedisServer
from tests.probes_support import TIMING, probe_once


def keyspace(outcome: object) -> dict[tuple[str, str], float]:
    assert isinstance(outcome, ProbeOutcome), outcome
    return {(s.name.removeprefix("wedsync_redis_"), s.labels["db"]): s.value
            for s in outcome.samples if "db" in s.labels}


def test_keys_and_expiring_keys_are_counted_per_database(breakable_redis: RedisServer) -> None:
    db0 = breakable_redis.client()
    db0.mset({f"session:{i}": "x" for i in range(5)})
    for i in range(2):
        db0.expire(f"session:{i}", 600)
    db3 = redis.Redis(host="127.0.0.1", port=breakable_redis.port, db=3)
    db3.set("queue:marker", "1")
    outcome = probe_once(RedisProbe(RedisTarget(name="cache", url=breakable_redis.url(),
                                                **TIMING)))
    assert keyspace(outcome) == {("keys", "0"): 5, ("expiring_keys", "0"): 2,
                                 ("keys", "3"): 1, ("expiring_keys", "3"): 0}


def test_an_empty_database_of_the_target_reads_zero_keys(breakable_redis: RedisServer) -> None:
    # INFO keyspace leaves empty databases out; the one the URL names is still reported.
    outcome = probe_once(RedisProbe(RedisTarget(name="cache", url=breakable_redis.url(db=2),
                                                **TIMING)))
    assert keyspace(outcome) == {("keys", "2"): 0, ("expiring_keys", "2"): 0}


def test_the_probes_info_reading_matches_redis_pys_on_a_primary_and_a_replica() -> None:
    # The probe parses only the INFO fields it exports (exporter.probes.redis.parse_info);
    # on the same real answers they must be what redis-py's full parser gives.
    with RedisServer() as primary:
        primary.client().mset({f"wedding:{i}": "x" for i in range(3)})
        with RedisServer(extra=[f"replicaof 127.0.0.1 {primary.port}"]) as replica:
            for server, role in ((primary, "master"), (replica, "slave")):
                client = server.client()
                client.set_response_callback("INFO", lambda answer, **_: answer)
                answer = client.execute_command("INFO")
                full, ours = redis_py_parse_info(answer), parse_info(answer)
                read = {*COUNTERS, *GAUGES, "role", "master_link_status"}
                assert ours == {k: v for k, v in full.items()
                                if k in read or (k.startswith("db") and k[2:].isdigit())}
                assert {*COUNTERS, *GAUGES, "role"} <= ours.keys()
                assert ours["role"] == role
