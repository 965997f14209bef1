"""Turns probes and queries into scheduler jobs that record their results in the store.

Here live the metrics every probe has (up, duration, last success, failures by reason, runs,
overruns, status) and those every query has (success, duration, last success), so that no
probe or query writes them itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from exporter.catalogue import FAILURE_REASONS, STATUSES
from exporter.clock import Clock
from exporter.metrics.store import MetricStore, Sample
from exporter.probe_types import Probe, ProbeError, ProbeOutcome
from exporter.scheduler import Job
from exporter.status import TargetState, judge


def probe_job(probe: Probe, store: MetricStore, state: TargetState, clock: Clock) -> Job:
    """A job that runs ``probe`` and records what it found."""
    component, target = probe.component, probe.target.name
    ct = {"component": component, "target": target}
    owner = ("probe", component, target)
    for reason in FAILURE_REASONS:
        store.zero("wedsync_probe_failures_total", {**ct, "reason": reason})
    store.zero("wedsync_probe_runs_total", ct)
    store.zero("wedsync_probe_overruns_total", ct)
    # A probe's own counters (e.g. Realtime's RLS leaks), zero from the start.
    for counter in getattr(probe, "counters", ()):
        store.zero(counter.name, counter.labels)

    def count(increments: list[Sample]) -> None:
        for increment in increments:
            store.inc(increment.name, increment.labels, increment.value)

    def set_status(status: str) -> None:
        state.status = status
        for s in STATUSES:
            store.set("wedsync_component_status", {**ct, "status": s}, 1 if s == status else 0)

    def on_success(outcome: ProbeOutcome, duration: float) -> None:
        now = clock()
        store.replace_owned(owner, outcome.samples)
        for obs in outcome.observations:
            store.observe(obs.name, obs.labels, obs.value)
        count(outcome.counts)
        store.set("wedsync_up", ct, 1)
        store.set("wedsync_probe_duration_seconds", ct, duration)
        store.set("wedsync_probe_last_success_timestamp_seconds", ct, now.timestamp())
        state.up, state.latency, state.checked_at = True, outcome.latency, now
        state.last_success, state.last_error = now, None
        state.details = outcome.details
        set_status(judge(True, outcome.latency, probe.target.thresholds, outcome.status))

    def on_failure(error: ProbeError, duration: float) -> None:
        # Keep only what the failed run still measured; every other value is no longer known.
        store.replace_owned(owner, error.samples)
        store.set("wedsync_up", ct, 0)
        store.set("wedsync_probe_duration_seconds", ct, duration)
        store.inc("wedsync_probe_failures_total", {**ct, "reason": error.reason})
        count(error.counts)
        state.up, state.latency, state.checked_at = False, None, clock()
        state.last_error = f"{error.reason}: {error.message}"
        state.details = {}
        set_status("critical")

    return Job(
        name=f"probe {component}/{target}",
        interval=probe.target.interval,
        timeout=probe.target.timeout,
        run=probe.run,
        on_success=on_success,
        on_failure=on_failure,
        on_overrun=lambda: store.inc("wedsync_probe_overruns_total", ct),
        on_start=lambda: store.inc("wedsync_probe_runs_total", ct),
        labels=ct,
        abort=getattr(probe, "abort", None),
    )


def query_job(name: str, interval: float, timeout: float,
              run: Callable[[], Awaitable[list[Sample]]], store: MetricStore,
              after: Callable[[bool], None] | None = None,
              abort: Callable[[asyncio.Task[Any]], bool] | None = None) -> Job:
    """A job that runs a named query and records its samples and its success."""
    q = {"query": name}
    owner = ("query", name)

    def on_success(samples: list[Sample], duration: float) -> None:
        store.replace_owned(owner, samples)
        store.set("wedsync_custom_query_success", q, 1)
        store.set("wedsync_custom_query_duration_seconds", q, duration)
        store.set("wedsync_custom_query_last_success_timestamp_seconds", q, time.time())
        if after:
            after(True)

    def on_failure(error: ProbeError, duration: float) -> None:
        # Keep only what the failed run still measured; every other value is no longer known.
        store.replace_owned(owner, error.samples)
        store.set("wedsync_custom_query_success", q, 0)
        store.set("wedsync_custom_query_duration_seconds", q, duration)
        if after:
            after(False)

    return Job(name=f"query {name}", interval=interval, timeout=timeout, run=run,
               on_success=on_success, on_failure=on_failure, labels=q, abort=abort)


def ignore(_: Any, __: float) -> None:
    """A recorder for jobs whose work records its own results."""
    return None
