"""Keys per Redis database, from INFO keyspace, on a real (throwaway) Redis."""

from __future__ import annotations

import redis

from exporter.config.model import RedisTarget
from exporter.probes.base import ProbeOutcome
from exporter.probes.redis import RedisProbe
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
