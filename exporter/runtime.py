"""Everything built from one configuration: pools, probes, and the jobs that run them.

A reload builds a new Runtime and closes the old one; the metric store outlives both, so the
exporter's own counters keep counting across reloads.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from exporter import maintenance
from exporter.clock import Clock
from exporter.components import REGISTRY, ComponentError, check_wiring
from exporter.config.model import Config
from exporter.db.pool import PgPool
from exporter.metrics.store import MetricStore
from exporter.probe_types import Probe
from exporter.probes import PROBERS
from exporter.recording import probe_job
from exporter.scheduler import Job, Scheduler
from exporter.status import TargetState
from exporter.wedding_day import WeddingDayState

# Background work besides probes (queries, validation, tailing): ``factory(runtime)`` builds
# jobs from the runtime's config; the list is exporter.features.job_factories().
JobFactory = Callable[["Runtime"], list[Job]]


@dataclass
class Runtime:
    """The probes, pools and jobs of one configuration."""

    config: Config
    store: MetricStore
    clock: Clock
    # Required, so a runtime built without them fails loudly instead of running no queries:
    # the service passes exporter.features.job_factories(ingestion).
    job_factories: tuple[JobFactory, ...]
    pools: dict[str, PgPool] = field(default_factory=dict)
    probes: list[Probe] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)
    states: dict[tuple[str, str], TargetState] = field(default_factory=dict)
    scheduler: Scheduler | None = None
    wedding_day: WeddingDayState | None = None
    extra_tasks: list[asyncio.Task[None]] = field(default_factory=list)
    # Told how late each job's timer fired (the service's event-loop lag gauge).
    on_lag: Callable[[float], None] | None = None

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.config.timezone)

    def build(self) -> None:
        """Create pools, probes and jobs (nothing runs until ``start``).

        A component whose prober is not in exporter.probes.PROBERS is a ComponentError here:
        a declared component is never silently left unprobed."""
        check_wiring(PROBERS, "prober", "prober", "exporter.probes.PROBERS")
        for target in self.config.database:
            self.pools[target.name] = PgPool(
                target.dsn, size=target.pool_size, statement_timeout=target.statement_timeout,
                connect_timeout=target.timeout)
        self.wedding_day = WeddingDayState(self.timezone)
        for component in REGISTRY:
            prober = PROBERS[component.prober]
            for target in self.config.targets(component.name):
                probe = prober(component, target, self)
                if probe.component != component.name:
                    raise ComponentError(
                        f"prober {component.prober!r} built a probe labelled "
                        f"{probe.component!r} for component {component.name!r}; a prober "
                        f"shared by several components must take the name it is given")
                self.probes.append(probe)
                state = TargetState(component=component.name, target=target.name)
                self.states[(component.name, target.name)] = state
                self.jobs.append(probe_job(probe, self.store, state, self.clock))
        for job_factory in self.job_factories:
            self.jobs.extend(job_factory(self))
        self.jobs.append(Job(
            name="wedding-day", interval=30.0, timeout=1.0, run=self._noop,
            on_success=lambda _r, _d: self.update_wedding_day(),
            on_failure=lambda _e, _d: None))
        self.jobs.append(Job(
            name="maintenance", interval=maintenance.interval(self.config.maintenance),
            timeout=1.0, run=self._noop,
            on_success=lambda _r, _d: maintenance.export(
                self.store, self.config.maintenance, self.clock()),
            on_failure=lambda _e, _d: None))

    async def _noop(self) -> None:
        return None

    def update_wedding_day(self) -> None:
        """Export wedsync_wedding_day from the clock and the last count of today's weddings."""
        assert self.wedding_day is not None
        verdict = self.wedding_day.evaluate(self.clock())
        if verdict is None:
            self.store.remove("wedsync_wedding_day", ())
        elif self.store.get("wedsync_wedding_day", ()) != float(verdict):
            self.store.set("wedsync_wedding_day", (), 1 if verdict else 0)

    def start(self) -> None:
        """Start every job."""
        self.scheduler = Scheduler(self.jobs, on_lag=self.on_lag)
        self.scheduler.start()

    async def close(self) -> None:
        """Stop the jobs and release every connection."""
        if self.scheduler is not None:
            await self.scheduler.stop()
        for task in self.extra_tasks:
            task.cancel()
        await asyncio.gather(*self.extra_tasks, return_exceptions=True)
        for probe in self.probes:
            # A probe failing to close must not stop the shutdown.
            with contextlib.suppress(Exception):
                await probe.close()
        for pool in self.pools.values():
            await pool.close()

    @property
    def ready(self) -> bool:
        return self.scheduler is not None and self.scheduler.ready
