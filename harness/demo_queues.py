"""Real BullMQ queues kept busy in a Redis, so the queue probe, rules and dashboards have jobs in
every state to show: waiting, active, delayed, prioritized, failed, completed and paused.

A producer adds a few jobs every ``interval`` seconds to ``emails`` and ``notifications`` (some
delayed or prioritised); a worker runs them at a bounded pace, well ahead of the producer; two
jobs fail on purpose at the start (so the failed sets are not empty) and none after, so a
healthy stack stays quiet; ``exports`` holds two jobs in a paused queue. Completed and failed
sets are trimmed (``removeOnComplete``/``removeOnFail``), so Redis memory stays bounded however
long it runs. Everything runs on an event loop in a thread of its own, stopped by ``stop()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from typing import Any

from bullmq import Queue, Worker

BUSY = ("emails", "notifications")
PAUSED = "exports"
QUEUES = (*BUSY, PAUSED)
KEEP = {"removeOnComplete": 200, "removeOnFail": 200}


class DemoQueues:
    """BullMQ producer and worker against ``redis_url`` (prefix ``bull``)."""

    def __init__(self, redis_url: str, *, interval: float = 1.0, jobs_per_tick: int = 3,
                 work_seconds: float = 0.2) -> None:
        self.redis_url = redis_url
        self.interval = interval
        self.jobs_per_tick = jobs_per_tick
        self.work_seconds = work_seconds
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="demo-queues")
        self._queues: dict[str, Queue] = {}
        self._workers: list[Worker] = []
        self._producer: asyncio.Future[Any] | None = None

    def start(self) -> DemoQueues:
        """Create the queues, fill them once and start producing and working."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(30)
        return self

    async def _start(self) -> None:
        connection = {"connection": self.redis_url}
        self._queues = {name: Queue(name, connection) for name in QUEUES}
        held = self._queues[PAUSED]
        await held.add("nightly-export", {}, KEEP)
        await held.add("supplier-report", {}, KEEP)
        await held.pause()
        for name in BUSY:
            await self._queues[name].add("reminder", {}, {**KEEP, "delay": 3_600_000})
            await self._queues[name].add("send", {"fail": True}, {**KEEP, "attempts": 1})
            self._workers.append(Worker(name, self._work, {**connection, "concurrency": 2}))
        self._producer = asyncio.ensure_future(self._produce())

    async def _work(self, job: Any, _token: str) -> str:
        await asyncio.sleep(self.work_seconds)
        if job.data.get("fail"):
            raise RuntimeError("the demo job fails on purpose")
        return "sent"

    async def _produce(self) -> None:
        for tick in itertools.count():
            for n in range(self.jobs_per_tick):
                queue = self._queues[BUSY[(tick + n) % len(BUSY)]]
                options: dict[str, Any] = {**KEEP, "attempts": 1}
                if n == 0 and tick % 5 == 0:
                    options["priority"] = 1
                if n == 1 and tick % 7 == 0:
                    options["delay"] = 30_000
                await queue.add("send", {}, options)
            await asyncio.sleep(self.interval)

    def stop(self) -> None:
        """Stop producing and working, close the connections and the thread."""
        if not self._thread.is_alive():
            return

        async def shut() -> None:
            if self._producer is not None:
                self._producer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._producer
            for worker in self._workers:
                with contextlib.suppress(Exception):
                    await worker.close(force=True)
            for queue in self._queues.values():
                with contextlib.suppress(Exception):
                    await queue.close()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shut(), self._loop).result(15)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> DemoQueues:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """``python -m harness.demo_queues --redis-url URL``: keep the demo queues busy until
    SIGTERM or Ctrl-C (compose's local profile runs it)."""
    import argparse
    import os
    import signal

    parser = argparse.ArgumentParser(prog="python -m harness.demo_queues",
                                     description="Keep real BullMQ demo queues busy in a Redis.")
    parser.add_argument("--redis-url", default=os.environ.get("DEMO_QUEUES_REDIS_URL", ""),
                        help="redis:// URL (default: $DEMO_QUEUES_REDIS_URL)")
    parser.add_argument("--interval", type=float, default=1.0,
                        help="seconds between batches of new jobs (default 1)")
    args = parser.parse_args(argv)
    if not args.redis_url:
        parser.error("give --redis-url or set DEMO_QUEUES_REDIS_URL")
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with DemoQueues(args.redis_url, interval=args.interval):
        print(f"demo queues {', '.join(QUEUES)} running; stop with Ctrl-C", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            done.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
