"""Job-queue probe: BullMQ and Bull v3 queues read straight from their keys in Redis.

Both libraries keep a queue under ``<prefix>:<queue>:…``: ``wait``, ``active`` and (Bull v3,
old BullMQ) ``paused`` lists; ``delayed``, ``prioritized``, ``failed`` and ``completed`` sorted
sets; a ``meta`` hash whose ``paused`` field current BullMQ sets (it leaves paused jobs in
``wait``), or Bull v3's ``meta-paused`` key. Each job is a hash ``<prefix>:<queue>:<id>`` with
``timestamp`` (ms), ``delay`` (ms) and its ``opts``. Lists are pushed on the left and taken
from the right, so the oldest waiting job is the last element.

The cost is fixed per queue and interval, whatever the queue holds: one pipelined round of
``COMMANDS_PER_QUEUE`` O(1) commands (lengths, the last two ids of ``wait``, the pause flags),
then one ``HMGET`` per queue that has a waiting job. Nothing walks a list or a set. Optional
discovery finds queues by ``SCAN`` with a bounded number of calls per run, resuming its cursor
on the next run, so a Redis with millions of keys costs the same each interval.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from exporter.config.model import QueuesTarget
from exporter.metrics.store import Sample
from exporter.probes.base import ProbeOutcome
from exporter.probes.redis import classify

# Keys whose last part is one of these name a queue (BullMQ writes `meta` and `id`, Bull v3
# `id` and `meta-paused`). SCAN's glob cannot say "id or meta", so it asks for `[im][de]*`
# (which matches all three and no job id, those being digits) and the suffix is checked here.
QUEUE_MARKER_SUFFIXES = frozenset({"id", "meta", "meta-paused"})
DISCOVERY_GLOB = "[im][de]*"


@dataclass
class QueueReading:
    """What one round of commands told about one queue."""

    counts: dict[str, float]
    paused: bool
    oldest_id: str | None


def _int(value: Any) -> float:
    # A failed command (WRONGTYPE on a key that is not the library's) counts as unknown.
    if isinstance(value, Exception) or value is None:
        return 0.0
    return float(value)


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return None if value is None or isinstance(value, Exception) else str(value)


def _is_marker(job_id: str | None) -> bool:
    # BullMQ 4 pushed "0:<delay>" markers onto the end of `wait` (deprecated since v5).
    return job_id is not None and job_id.startswith("0:")


class QueueCommands:
    """The fixed commands of one round, queued on a pipeline and read back in order."""

    # (command, key suffix, extra arguments)
    PLAN: tuple[tuple[str, str, tuple[Any, ...]], ...] = (
        ("llen", "wait", ()),
        ("lrange", "wait", (-2, -1)),
        ("llen", "active", ()),
        ("zcard", "delayed", ()),
        ("zcard", "prioritized", ()),
        ("zcard", "failed", ()),
        ("zcard", "completed", ()),
        ("llen", "paused", ()),
        ("lindex", "paused", (-1,)),
        ("hget", "meta", ("paused",)),
        ("exists", "meta-paused", ()),
    )

    @classmethod
    def queue(cls, pipe: Any, prefix: str, name: str) -> None:
        for command, suffix, args in cls.PLAN:
            getattr(pipe, command)(f"{prefix}:{name}:{suffix}", *args)

    @classmethod
    def read(cls, answers: list[Any]) -> QueueReading:
        (wait, last_two, active, delayed, prioritized, failed, completed, paused_list,
         paused_oldest, meta_paused, v3_paused) = answers
        ids = [t for t in (_text(v) for v in (last_two if isinstance(last_two, list) else []))
               if t is not None]
        waiting = _int(wait)
        if ids and _is_marker(ids[-1]):
            waiting = max(0.0, waiting - 1)
            ids = ids[:-1]
        oldest = ids[-1] if ids and not _is_marker(ids[-1]) else _text(paused_oldest)
        paused = _text(meta_paused) == "1" or _int(v3_paused) > 0
        held = _int(paused_list)
        counts = {
            # A paused queue's jobs are held, not waiting, whichever library keeps them where.
            "waiting": 0.0 if paused else waiting,
            "paused": held + (waiting if paused else 0.0),
            "active": _int(active), "delayed": _int(delayed),
            "prioritized": _int(prioritized), "failed": _int(failed),
            "completed": _int(completed),
        }
        return QueueReading(counts, paused, oldest)


COMMANDS_PER_QUEUE = len(QueueCommands.PLAN)
# Asked of the oldest waiting job (one HMGET); see _ready_at.
JOB_FIELDS = ("timestamp", "delay", "opts", "processedOn")


class Discovery:
    """Queue names found by SCAN, a bounded number of calls per run, resumed across runs."""

    def __init__(self, prefix: str, calls: int, count: int) -> None:
        self.pattern = f"{prefix}:*:{DISCOVERY_GLOB}"
        self.prefix = prefix
        self.calls = calls
        self.count = count
        self.cursor = 0
        self.complete: set[str] = set()
        self.current: set[str] = set()

    def _name(self, key: str) -> str | None:
        rest, _, suffix = key[len(self.prefix) + 1:].rpartition(":")
        if suffix in QUEUE_MARKER_SUFFIXES and rest and ":" not in rest:
            return rest
        return None

    async def step(self, client: aioredis.Redis) -> set[str]:
        """Run at most ``calls`` SCANs; the names known so far (last whole pass and this one)."""
        for _ in range(self.calls):
            self.cursor, keys = await client.scan(self.cursor, match=self.pattern,
                                                  count=self.count)
            for key in keys:
                name = self._name(_text(key) or "")
                if name:
                    self.current.add(name)
            if self.cursor == 0:
                # A whole pass: queues deleted since the last one drop out now.
                self.complete, self.current = self.current, set()
                break
        return self.complete | self.current


def queue_samples(target: str, readings: dict[str, QueueReading],
                  ready_at: dict[str, float], now: float) -> list[Sample]:
    """The queue families from one round's readings and the oldest jobs' ready times."""
    samples: list[Sample] = []
    for name, reading in readings.items():
        tq = {"target": target, "queue": name}
        samples += [Sample("wedsync_queue_jobs", {**tq, "state": state}, value)
                    for state, value in reading.counts.items()]
        samples.append(Sample("wedsync_queue_paused", tq, 1 if reading.paused else 0))
        if reading.oldest_id is None:
            samples.append(Sample("wedsync_queue_oldest_waiting_age_seconds", tq, 0))
        elif name in ready_at:
            samples.append(Sample("wedsync_queue_oldest_waiting_age_seconds", tq,
                                  max(0.0, now - ready_at[name])))
        # else: the job left between the two rounds; its age is not known this time.
    return samples


def _ready_at(answer: Any) -> float | None:
    """Unix time a job became ready to run, from HMGET timestamp delay opts processedOn.

    Its ``timestamp`` (creation, ms) plus its delay. BullMQ zeroes the ``delay`` field when it
    promotes a delayed job to ``wait``, so the delay asked for in ``opts`` counts too; and a
    job that has run before (a retry) was ready again no earlier than its last start.
    """
    if not isinstance(answer, list) or len(answer) != 4:
        return None
    stamp, delay, opts, processed = (_text(v) for v in answer)
    try:
        created = float(stamp or "")
        delays = [float(delay or 0)]
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            delays.append(float(json.loads(opts or "{}").get("delay") or 0))
        ready = created + max(delays)
        if processed:
            ready = max(ready, float(processed))
    except ValueError:
        return None
    return ready / 1000.0


class QueueProbe:
    """Probes the BullMQ/Bull v3 queues of one Redis over a single reused connection."""

    component = "queues"

    def __init__(self, target: QueuesTarget, clock: Callable[[], float] = time.time) -> None:
        self.target = target
        self._clock = clock
        self._client = aioredis.Redis.from_url(
            target.url, socket_timeout=target.timeout, socket_connect_timeout=target.timeout,
            retry=Retry(NoBackoff(), 0), max_connections=1, client_name="wedsync-exporter",
            health_check_interval=0,
        )
        d = target.discovery
        self._discovery = (Discovery(target.prefix, d.scan_calls, d.scan_count)
                           if d.enabled else None)

    def queues(self, discovered: Iterable[str]) -> tuple[list[str], int]:
        """The queues to read (configured first, then discovered by name) and how many were
        left out by ``max_queues``."""
        wanted = list(dict.fromkeys([*self.target.names, *sorted(discovered)]))
        return wanted[: self.target.max_queues], max(0, len(wanted) - self.target.max_queues)

    async def run(self) -> ProbeOutcome:
        ok = False
        try:
            outcome = await self._measure()
            ok = True
            return outcome
        except Exception as exc:
            raise classify(exc) from None
        finally:
            if not ok:
                # Never reuse a connection that saw an error or a cancellation.
                await self._client.connection_pool.disconnect()

    async def _measure(self) -> ProbeOutcome:
        started = time.perf_counter()
        found = await self._discovery.step(self._client) if self._discovery else set()
        names, skipped = self.queues(found)
        prefix = self.target.prefix

        pipe = self._client.pipeline(transaction=False)
        for name in names:
            QueueCommands.queue(pipe, prefix, name)
        answers = await pipe.execute(raise_on_error=False) if names else []
        readings = {
            name: QueueCommands.read(answers[i * COMMANDS_PER_QUEUE:(i + 1) * COMMANDS_PER_QUEUE])
            for i, name in enumerate(names)
        }
        latency = time.perf_counter() - started

        with_oldest = [n for n, r in readings.items() if r.oldest_id is not None]
        ready_at: dict[str, float] = {}
        if with_oldest:
            pipe = self._client.pipeline(transaction=False)
            for name in with_oldest:
                pipe.hmget(f"{prefix}:{name}:{readings[name].oldest_id}", *JOB_FIELDS)
            for name, answer in zip(with_oldest, await pipe.execute(raise_on_error=False),
                                    strict=True):
                when = _ready_at(answer)
                if when is not None:
                    ready_at[name] = when
        if names and all(isinstance(a, Exception) for a in answers):
            # Not one answer: an ACL that forbids these commands (auth), or not a Redis
            # holding queues (protocol); classify() tells which.
            raise answers[0]
        samples = queue_samples(self.target.name, readings, ready_at, self._clock())
        samples.append(Sample("wedsync_queues_skipped", {"target": self.target.name}, skipped))
        return ProbeOutcome(latency=latency, samples=samples,
                            details={"queues": len(names), "skipped": skipped})

    async def close(self) -> None:
        await self._client.aclose()
