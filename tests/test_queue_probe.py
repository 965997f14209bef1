"""The job-queue probe against real BullMQ jobs (PyPI ``bullmq``) in a throwaway Redis: jobs in
every state, a paused queue, a promoted delayed job, discovery, and the cost bound."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from bullmq import Queue, Worker

from exporter.config.model import QueueDiscovery, QueuesTarget
from exporter.probes.base import ProbeError, ProbeOutcome
from exporter.probes.bullmq import COMMANDS_PER_QUEUE, QueueProbe
from harness.redis import RedisServer
from tests.probes_support import TIMING, probe_many, probe_once
from tests.support import eventually

NOW_MS = int(time.time() * 1000)


class Jobs:
    """Real BullMQ queues and workers, run on an event loop in a thread of their own."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.release: asyncio.Event | None = None
        self.workers: list[Worker] = []
        self.queues: dict[str, Queue] = {}

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def queue(self, name: str) -> Queue:
        if name not in self.queues:
            self.queues[name] = Queue(name, {"connection": self.url})
        return self.queues[name]

    async def _process(self, job: Any, _token: str) -> str:
        if job.name == "bad":
            raise RuntimeError("the job failed on purpose")
        if job.name == "hang":
            assert self.release is not None
            await self.release.wait()
        return "done"

    async def _worker(self, name: str) -> Worker:
        self.release = self.release or asyncio.Event()
        worker = Worker(name, self._process, {"connection": self.url, "concurrency": 1})
        self.workers.append(worker)
        return worker

    def start_worker(self, name: str) -> None:
        self.run(self._worker(name))

    def close(self) -> None:
        async def shut() -> None:
            if self.release is not None:
                self.release.set()
            for worker in self.workers:
                await worker.close(force=True)
            for queue in self.queues.values():
                await queue.close()

        self.run(shut())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="module")
def jobs(redis_server: RedisServer) -> Iterator[Jobs]:
    """Queues in every state:

    - reports: 2 waiting, 1 delayed (due in an hour), 1 prioritized, no worker;
    - mail: a worker completed one job and failed one;
    - work: a delayed job due five minutes ago (created ten minutes ago) was promoted by the
      worker, which took the older job and hangs on it: 1 active, the promoted job waiting;
    - held: 2 jobs, then paused.
    """
    j = Jobs(redis_server.url())

    async def fill() -> None:
        reports = j.queue("reports")
        await reports.add("a", {}, {"timestamp": NOW_MS - 60_000})
        await reports.add("b", {})
        await reports.add("later", {}, {"delay": 3_600_000})
        await reports.add("urgent", {}, {"priority": 1})
        mail = j.queue("mail")
        await mail.add("ok", {})
        await mail.add("bad", {}, {"attempts": 1})
        work = j.queue("work")
        await work.add("late", {}, {"delay": 300_000, "timestamp": NOW_MS - 600_000})
        await work.add("hang", {})
        held = j.queue("held")
        await held.add("x", {})
        await held.add("y", {})
        await held.pause()

    j.run(fill())
    j.start_worker("mail")
    j.start_worker("work")
    client = redis_server.client()
    eventually(lambda: client.zcard("bull:mail:failed") == 1
               and client.zcard("bull:mail:completed") == 1
               and client.llen("bull:work:active") == 1, timeout=15)
    yield j
    j.close()


def target(url: str, **kw: Any) -> QueuesTarget:
    return QueuesTarget(name="jobs", url=url, **{**TIMING, **kw})


def by_queue(outcome: ProbeOutcome | ProbeError) -> dict[str, dict[str, float]]:
    """queue -> {state, or the family without its prefix (`paused_flag` for the gauge
    wedsync_queue_paused): value}."""
    assert isinstance(outcome, ProbeOutcome), outcome
    out: dict[str, dict[str, float]] = {}
    for s in outcome.samples:
        if "queue" in s.labels:
            key = s.labels.get("state") or s.name.removeprefix("wedsync_queue_")
            key = "paused_flag" if s.name == "wedsync_queue_paused" else key
            out.setdefault(s.labels["queue"], {})[key] = s.value
    return out


ALL = ("reports", "mail", "work", "held", "empty")


def test_every_job_state_is_counted(redis_server: RedisServer, jobs: Jobs) -> None:
    queues = by_queue(probe_once(QueueProbe(target(redis_server.url(), names=ALL))))
    assert queues["reports"] | {"oldest_waiting_age_seconds": 0} == {
        "waiting": 2, "active": 0, "delayed": 1, "prioritized": 1, "failed": 0,
        "completed": 0, "paused": 0, "paused_flag": 0, "oldest_waiting_age_seconds": 0}
    assert (queues["mail"]["completed"], queues["mail"]["failed"]) == (1, 1)
    assert (queues["work"]["active"], queues["work"]["waiting"]) == (1, 1)


def test_the_oldest_waiting_job_is_aged_from_its_timestamp(redis_server: RedisServer,
                                                           jobs: Jobs) -> None:
    queues = by_queue(probe_once(QueueProbe(target(redis_server.url(), names=ALL))))
    age = queues["reports"]["oldest_waiting_age_seconds"]
    assert 60 <= age < 60 + time.time() - NOW_MS / 1000 + 5


def test_a_promoted_delayed_job_is_aged_from_when_it_became_ready(
        redis_server: RedisServer, jobs: Jobs) -> None:
    # Created ten minutes ago with a five-minute delay: ready to run for five minutes.
    queues = by_queue(probe_once(QueueProbe(target(redis_server.url(), names=("work",)))))
    elapsed = time.time() - NOW_MS / 1000
    assert 300 <= queues["work"]["oldest_waiting_age_seconds"] < 300 + elapsed + 5


def test_a_paused_queue_holds_its_jobs_and_says_so(redis_server: RedisServer,
                                                    jobs: Jobs) -> None:
    probe_target = target(redis_server.url(), names=("held",))
    held = by_queue(probe_once(QueueProbe(probe_target)))["held"]
    assert (held["paused"], held["waiting"], held["paused_flag"]) == (2, 0, 1)
    assert held["oldest_waiting_age_seconds"] >= 0
    jobs.run(jobs.queue("held").resume())
    try:
        held = by_queue(probe_once(QueueProbe(probe_target)))["held"]
        assert (held["paused"], held["waiting"], held["paused_flag"]) == (0, 2, 0)
    finally:
        jobs.run(jobs.queue("held").pause())


def test_a_queue_that_does_not_exist_yet_reads_as_empty(redis_server: RedisServer,
                                                        jobs: Jobs) -> None:
    empty = by_queue(probe_once(QueueProbe(target(redis_server.url(), names=("empty",)))))
    assert set(empty["empty"].values()) == {0}


def test_discovery_finds_queues_by_a_bounded_scan(redis_server: RedisServer,
                                                  jobs: Jobs) -> None:
    client = redis_server.client()
    client.mset({f"cache:item:{i}": "x" for i in range(3000)})
    probe = QueueProbe(target(redis_server.url(), discovery=QueueDiscovery(
        enabled=True, scan_calls=2, scan_count=100)))
    before = client.info("commandstats").get("cmdstat_scan", {}).get("calls", 0)
    runs = 40
    outcomes = probe_many(probe, runs)
    scans = client.info("commandstats")["cmdstat_scan"]["calls"] - before
    assert scans <= 2 * runs
    found = set(by_queue(outcomes[-1]))
    assert {"reports", "mail", "work", "held"} <= found
    assert not any(":" in name for name in found)


def test_a_queue_deleted_from_redis_drops_out_after_a_whole_discovery_pass(
        redis_server: RedisServer, jobs: Jobs) -> None:
    client = redis_server.client()
    client.hset("bull:gone:meta", "opts.maxLenEvents", 10)
    client.lpush("bull:gone:wait", "1")
    probe = QueueProbe(target(redis_server.url(), discovery=QueueDiscovery(
        enabled=True, scan_calls=100, scan_count=1000)))

    async def runs() -> tuple[set[str], set[str]]:
        try:
            before = set(by_queue(await probe.run()))
            client.delete("bull:gone:meta", "bull:gone:wait")
            # 100 SCAN calls of 1000 keys finish a pass within one run here.
            after = set(by_queue(await probe.run()))
            return before, after
        finally:
            await probe.close()

    before, after = asyncio.run(runs())
    assert "gone" in before and "gone" not in after and "mail" in after


def test_queues_beyond_the_cap_are_skipped_and_counted(redis_server: RedisServer,
                                                       jobs: Jobs) -> None:
    outcome = probe_once(QueueProbe(target(redis_server.url(), names=ALL, max_queues=2)))
    assert set(by_queue(outcome)) == {"reports", "mail"}
    assert {s.name: s.value for s in outcome.samples}["wedsync_queues_skipped"] == 3


def test_the_cost_per_queue_is_fixed_whatever_the_queue_holds(redis_server: RedisServer,
                                                              jobs: Jobs) -> None:
    client = redis_server.client()

    async def fill() -> None:
        await jobs.queue("big").addBulk([{"name": "j", "data": {}} for _ in range(2000)])

    jobs.run(fill())

    def commands(names: tuple[str, ...]) -> int:
        probe = QueueProbe(target(redis_server.url(), names=names))
        before = client.info("stats")["total_commands_processed"]
        assert isinstance(probe_once(probe), ProbeOutcome)
        # Minus the INFO asking, plus nothing else: the probe's own commands.
        return int(client.info("stats")["total_commands_processed"] - before - 1)

    small, big = commands(("empty",)), commands(("big",))
    # One round of fixed commands, one HMGET for the oldest waiting job, and the client's
    # connection set-up (CLIENT SETNAME and the like), whatever the size of the queue.
    assert big - small == 1
    assert big <= COMMANDS_PER_QUEUE + 1 + 3
    many = commands(tuple(f"q{i}" for i in range(100)))
    assert many <= 100 * COMMANDS_PER_QUEUE + 3


def test_an_unreachable_redis_is_a_connect_failure(redis_server: RedisServer) -> None:
    with RedisServer() as other:
        url = other.url()
    error = probe_once(QueueProbe(target(url, names=("mail",))))
    assert isinstance(error, ProbeError) and error.reason == "connect"
