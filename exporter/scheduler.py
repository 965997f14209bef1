"""Runs every job (probe, query, validation) in the background on its own interval.

Each run has a hard timeout: when it passes, the run is recorded as a ``timeout`` failure at
once and cancelled, and the scheduler moves on without waiting for the cancellation to finish
(a driver may take seconds to give up on a hung server). A run that would start while the
previous run of the same job is still going is skipped and counted, never stacked. The
scheduler knows nothing of PostgreSQL, Redis or Phoenix: jobs bring their own work and record
their own results.

Every job ticks on a grid shared by all jobs: the multiples of its interval on the event loop's
clock. Jobs due at the same instant (every 15 s probe, and a 60 s query on every fourth of those
ticks) start in the same turn of the loop, so the exporter wakes once for them, renders once
after them, and is otherwise asleep; on an idle machine each wake-up has a cost of its own
(issue 25: idle cost). The first run of each job starts at once, the second on the first grid
point at least half an interval later.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from exporter.probe_types import ProbeError

log = structlog.get_logger("exporter.scheduler")
ABORT_GRACE = 1.0


def _noop() -> None:
    return None


@dataclass
class Job:
    """One piece of background work and the callbacks that record how it went."""

    name: str
    interval: float
    timeout: float
    run: Callable[[], Awaitable[Any]]
    on_success: Callable[[Any, float], None]
    on_failure: Callable[[ProbeError, float], None]
    on_overrun: Callable[[], None] = _noop
    on_start: Callable[[], None] = _noop
    labels: dict[str, str] = field(default_factory=dict)
    # Called with the timed-out run before it is cancelled; returns True if it broke the run's
    # I/O so that the run ends by itself (see PgPool.abort for why cancelling is not enough).
    abort: Callable[[asyncio.Task[Any]], bool] | None = None


@dataclass
class JobState:
    """What the scheduler knows about one job."""

    runs: int = 0
    completed: int = 0
    overruns: int = 0
    failing: bool = False
    overrunning: bool = False
    in_flight: asyncio.Task[Any] | None = None
    runner: asyncio.Task[None] | None = None


class Scheduler:
    """Starts, times out and stops jobs; ``ready`` once every job has completed a run."""

    def __init__(self, jobs: list[Job], *,
                 on_lag: Callable[[float], None] | None = None) -> None:
        self.jobs = jobs
        # Told how late each job's timer fired: event-loop lag readings at no extra wake-up.
        self._on_lag = on_lag
        self.states: dict[str, JobState] = {job.name: JobState() for job in jobs}
        self._loops: list[asyncio.Task[None]] = []

    @property
    def ready(self) -> bool:
        """True once every job has finished at least one run (success or failure)."""
        return all(state.completed > 0 for state in self.states.values())

    def start(self) -> None:
        """Start every job's loop; the first run of each starts at once."""
        for job in self.jobs:
            self._loops.append(asyncio.create_task(self._loop(job), name=f"job:{job.name}"))

    async def stop(self) -> None:
        """Cancel the loops and any run still going."""
        for task in self._loops:
            task.cancel()
        in_flight = [s.in_flight for s in self.states.values() if s.in_flight is not None]
        for task in in_flight:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        # Give cancelled runs a moment to close their connections, but never hang on them.
        if in_flight:
            await asyncio.wait(in_flight, timeout=2.0)
        self._loops.clear()

    async def _loop(self, job: Job) -> None:
        loop = asyncio.get_running_loop()
        state = self.states[job.name]
        next_at = on_grid(loop.time() + job.interval / 2, job.interval) - job.interval
        while True:
            if state.in_flight is not None and not state.in_flight.done():
                state.overruns += 1
                job.on_overrun()
                if not state.overrunning:  # once per streak, not on every interval
                    state.overrunning = True
                    log.warning("run skipped: the previous run is still going", job=job.name)
            else:
                state.overrunning = False
                state.runner = asyncio.create_task(self._run_once(job, state),
                                                   name=f"run:{job.name}")
            next_at += job.interval
            now = loop.time()
            if next_at < now:  # fell behind (a long pause): skip the missed ticks
                next_at = on_grid(now, job.interval)
            await asyncio.sleep(next_at - now)
            if self._on_lag is not None:
                self._on_lag(max(0.0, loop.time() - next_at))

    async def _run_once(self, job: Job, state: JobState) -> None:
        state.runs += 1
        job.on_start()
        started = time.perf_counter()
        task: asyncio.Task[Any] = asyncio.create_task(job.run(), name=f"work:{job.name}")
        state.in_flight = task
        done, _ = await asyncio.wait({task}, timeout=job.timeout)
        duration = time.perf_counter() - started
        if not done:
            task.add_done_callback(_consume)
            if job.abort is not None and job.abort(task):
                # Give the run a moment to end on its broken socket; cancel it if it does not.
                asyncio.get_running_loop().call_later(ABORT_GRACE, task.cancel)
            else:
                task.cancel()
            self._failed(job, state, ProbeError(
                "timeout", f"no answer within {job.timeout:g}s"), duration)
        else:
            exc = task.exception()
            if exc is None:
                self._succeeded(job, state, task.result(), duration)
            elif isinstance(exc, ProbeError):
                self._failed(job, state, exc, duration)
            else:
                self._failed(job, state, ProbeError(
                    "error", f"unexpected {type(exc).__name__}", str(exc)), duration)
        state.completed += 1

    def _succeeded(self, job: Job, state: JobState, result: Any, duration: float) -> None:
        try:
            job.on_success(result, duration)
        except Exception as exc:  # a bug in recording must not kill the loop
            log.error("recording a result failed", job=job.name, error=repr(exc))
            return
        if state.failing:
            state.failing = False
            log.info("recovered", job=job.name, **job.labels)

    def _failed(self, job: Job, state: JobState, error: ProbeError, duration: float) -> None:
        try:
            job.on_failure(error, duration)
        except Exception as exc:
            log.error("recording a failure failed", job=job.name, error=repr(exc))
        if not state.failing:
            state.failing = True
            log.warning("failing", job=job.name, reason=error.reason, error=error.message,
                        **job.labels)
        if error.detail:
            log.debug("failure detail", job=job.name, detail=error.detail)


def on_grid(after: float, interval: float) -> float:
    """The first multiple of ``interval`` later than ``after``: the instant every job with this
    interval (or a divisor of it) is due."""
    return (math.floor(after / interval) + 1) * interval


def _consume(task: asyncio.Task[Any]) -> None:
    """Retrieve the outcome of an abandoned run so asyncio does not warn about it."""
    with contextlib.suppress(asyncio.CancelledError, Exception):
        task.exception()
