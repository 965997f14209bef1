"""The scheduler: runs on an interval, a hard timeout recorded at once, overlapping runs
skipped and counted, failures and recoveries logged once."""

from __future__ import annotations

import asyncio
import time

from exporter.probes.base import ProbeError
from exporter.scheduler import Job, Scheduler


class Recorder:
    def __init__(self) -> None:
        self.successes: list[object] = []
        self.failures: list[tuple[str, float]] = []
        self.overruns = 0

    def job(self, run, interval: float = 0.2, timeout: float = 0.1, abort=None) -> Job:
        return Job(name="test", interval=interval, timeout=timeout, run=run,
                   on_success=lambda result, _d: self.successes.append(result),
                   on_failure=lambda err, d: self.failures.append((err.reason, d)),
                   on_overrun=self._overrun, abort=abort)

    def _overrun(self) -> None:
        self.overruns += 1


async def run_for(job: Job, seconds: float) -> Scheduler:
    scheduler = Scheduler([job])
    scheduler.start()
    await asyncio.sleep(seconds)
    await scheduler.stop()
    return scheduler


def test_runs_repeat_on_their_interval_and_make_it_ready() -> None:
    recorder = Recorder()

    async def work() -> str:
        return "ok"

    async def scenario() -> Scheduler:
        scheduler = Scheduler([recorder.job(work)])
        assert not scheduler.ready
        scheduler.start()
        await asyncio.sleep(0.5)
        assert scheduler.ready
        await scheduler.stop()
        return scheduler

    asyncio.run(scenario())
    assert 2 <= len(recorder.successes) <= 4


def test_a_hung_run_is_a_timeout_at_once_and_the_next_tick_is_skipped_and_counted() -> None:
    recorder = Recorder()
    release = asyncio.Event

    async def scenario() -> None:
        stuck = release()

        async def hangs_and_ignores_cancellation() -> None:
            # Like a driver that insists on cleaning up for seconds after a cancellation.
            while not stuck.is_set():
                try:
                    await asyncio.sleep(10)
                except asyncio.CancelledError:
                    continue

        job = recorder.job(hangs_and_ignores_cancellation, interval=0.2, timeout=0.05)
        scheduler = Scheduler([job])
        started = time.monotonic()
        scheduler.start()
        await asyncio.sleep(0.15)
        assert recorder.failures and recorder.failures[0][0] == "timeout"
        assert recorder.failures[0][1] < 0.1 and time.monotonic() - started < 0.2
        await asyncio.sleep(0.5)
        assert recorder.overruns >= 2
        assert len(recorder.failures) == 1  # skipped, not stacked
        stuck.set()
        await scheduler.stop()

    asyncio.run(scenario())


def test_abort_lets_a_run_end_by_itself_instead_of_being_cancelled() -> None:
    recorder = Recorder()
    aborted: list[asyncio.Task[object]] = []

    async def scenario() -> None:
        sockets: dict[asyncio.Task[object] | None, asyncio.Event] = {}

        async def waits_on_io() -> None:
            broken = sockets.setdefault(asyncio.current_task(), asyncio.Event())
            await broken.wait()
            raise ProbeError("connect", "socket closed")

        def abort(task: asyncio.Task[object]) -> bool:
            aborted.append(task)
            sockets[task].set()
            return True

        await run_for(recorder.job(waits_on_io, interval=0.2, timeout=0.05, abort=abort), 0.35)

    asyncio.run(scenario())
    assert aborted and all(task.done() and not task.cancelled() for task in aborted)
    assert recorder.overruns == 0
    assert {reason for reason, _ in recorder.failures} == {"timeout"}


def test_unexpected_exceptions_are_failures_with_reason_error() -> None:
    recorder = Recorder()

    async def broken() -> None:
        raise RuntimeError("boom")

    asyncio.run(run_for(recorder.job(broken), 0.1))
    assert recorder.failures[0][0] == "error"


def test_failure_and_recovery_are_logged_once_each(capsys) -> None:
    from exporter.logs import configure

    configure("info", "logfmt")
    recorder = Recorder()
    outcomes = iter([False, False, False, True, True, True] + [True] * 20)

    async def flaky() -> str:
        if not next(outcomes):
            raise ProbeError("connect", "connection refused")
        return "ok"

    asyncio.run(run_for(recorder.job(flaky, interval=0.05, timeout=0.04), 0.45))
    err = capsys.readouterr().err
    assert err.count("event=failing") == 1
    assert err.count("event=recovered") == 1


def test_jobs_due_together_start_in_the_same_turn_of_the_loop() -> None:
    """Issue 25: jobs tick on a shared grid of their intervals, so a 0.2 s and a 0.4 s job
    started apart wake the exporter once at each shared instant; the second run of each comes
    at least half an interval after its first."""
    starts: dict[str, list[float]] = {"fast": [], "slow": []}

    def job(name: str, interval: float) -> Job:
        async def run() -> None:
            starts[name].append(asyncio.get_running_loop().time())

        return Job(name=name, interval=interval, timeout=0.1, run=run,
                   on_success=lambda _r, _d: None, on_failure=lambda _e, _d: None)

    async def scenario() -> None:
        fast = Scheduler([job("fast", 0.2)])
        fast.start()
        await asyncio.sleep(0.13)  # the second scheduler starts off the first one's grid
        slow = Scheduler([job("slow", 0.4)])
        slow.start()
        await asyncio.sleep(1.5)
        await slow.stop()
        await fast.stop()

    asyncio.run(scenario())
    for name, interval in (("fast", 0.2), ("slow", 0.4)):
        first, second, *rest = starts[name]
        assert second - first >= interval / 2 - 0.005, starts[name]
        for at in (second, *rest):  # on the grid (a busy machine may fire a timer late)
            assert abs(at / interval - round(at / interval)) * interval < 0.05, starts[name]
    # Due together, started together: in the same turn of the loop, however late that turn.
    # Apart, they would differ by 0.13 s give or take the old jitter (at most 0.04 s).
    shared = starts["slow"][1:]
    assert len(shared) >= 2
    for at in shared:
        assert min(abs(at - other) for other in starts["fast"]) < 0.01, (shared, starts["fast"])
