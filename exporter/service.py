"""The running exporter: metric store, renderer, current runtime, HTTP server, reloads."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time

import structlog
from aiohttp import web

from exporter import __version__, features
from exporter.build import BuildError, build_runtime
from exporter.clock import Clock, utc_now
from exporter.components import REGISTRY
from exporter.config import Config, ConfigError, load_config
from exporter.coverage import record_coverage
from exporter.deploy_gate.gate import DeployGate
from exporter.gc_tuning import settle
from exporter.ingestion.recorder import Ingestion
from exporter.logs import configure as configure_logs
from exporter.metrics.exposition import Renderer
from exporter.metrics.store import MetricStore
from exporter.runtime import Runtime
from exporter.shared_state.state import SharedState
from exporter.web.bodies import UNREAD_BODY_BUFFER
from exporter.web.connections import ConnectionGuard, GuardedSite
from exporter.web.core import add_core_routes
from exporter.web.middleware import request_middleware
from exporter.web.security import Guard, RateLimiter, TokenAuth
from exporter.web.tarpit import Tarpit

log = structlog.get_logger("exporter")


class Service:
    """One exporter process."""

    def __init__(self, config: Config, *, clock: Clock = utc_now,
                 listen: str | None = None) -> None:
        self.config = config
        self.clock = clock
        self.listen = listen or config.listen
        self.store = MetricStore()
        self.store.set("wedsync_build_info", {"version": __version__}, 1)
        self.renderer = Renderer(self.store)
        # Event-loop lag is read off timers the exporter sets anyway: every job's, and the
        # renderer's after a change (under load it wakes every quarter second). A sampler of
        # its own woke an idle exporter every 5 s for nothing else (issue 25: idle cost).
        self.renderer.on_lag = self._observe_lag
        self.runtime: Runtime | None = None
        # Several replicas share the override, updates, rate limits and the tailer's lease
        # through it; the settings of the start apply until a restart.
        self.shared_state: SharedState | None = (
            SharedState(config.shared_state, self.store) if config.shared_state.enabled
            else None)
        # The limiter outlives reloads: what a client used stays used when limits change.
        self.limiter = RateLimiter(config.rate_limits, self.shared_state)
        self.guard = self._guard(config)
        self.server_settings = config.server
        self.connections = ConnectionGuard(self.store, self.server_settings)
        # Refusal budgets per client address outlive reloads, as the rate limits do.
        self.tarpit = Tarpit(self.store, self.server_settings)
        # The parts that outlive reloads, built here and handed to what needs them: ingestion
        # (the HTTP route, the performance_logs tailer, the health document's summary) and
        # the deploy gate (its routes; it holds the open override).
        self.ingestion = Ingestion(self.store, clock=lambda: self.clock().timestamp())
        self.deploy_gate = DeployGate(self, self.shared_state)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._lag_worst, self._lag_rendered = 0.0, self.renderer.current.version
        self._stopping = asyncio.Event()
        self._reload_lock = asyncio.Lock()
        self.port: int | None = None
        self._loaded(True)

    def _guard(self, config: Config) -> Guard:
        self.limiter.configure(config.rate_limits)
        return Guard(TokenAuth(config.tokens), self.limiter, self.store)

    def _loaded(self, ok: bool) -> None:
        self.store.set("wedsync_config_last_reload_successful", (), 1 if ok else 0)
        if ok:
            self.store.set("wedsync_config_last_reload_success_timestamp_seconds", (),
                           time.time())

    # --- lifecycle ------------------------------------------------------------------------
    def build_app(self) -> web.Application:
        """The aiohttp application with the core routes and every feature's routes."""
        # Room for the largest ingestion body; ingestion answers 413 above its own limit.
        max_body = self.ingestion.configure(self.config).max_body_bytes
        app = web.Application(client_max_size=max_body + 1024,
                              middlewares=[request_middleware(self.store, self.connections,
                                                                 self.tarpit)])
        add_core_routes(app, self)
        for hook in features.ROUTES:
            hook(app, self)
        return app

    def performance_summary(self) -> dict[str, float] | None:
        """Ingestion's last-5-minute summary, for the health document."""
        return self.ingestion.performance_summary()

    def build_runtime(self) -> Runtime:
        """Build probes and jobs for the current configuration (zero-initialises counters);
        ConfigError with one line if the configuration cannot be built."""
        runtime = build_runtime(self.config, self.store, self.clock,
                                job_factories=features.job_factories(self.ingestion,
                                                                     self.shared_state))
        runtime.on_lag = self._observe_lag
        self.runtime = runtime
        record_coverage(self.config, self.store)
        self.renderer.refresh()
        return runtime

    async def start(self) -> None:
        """Serve HTTP first (so a scrape works from the first second), then start probing."""
        if self.shared_state is not None:
            await self.shared_state.start()
        runtime = self.build_runtime()
        self.renderer.start()
        app = self.build_app()
        settings = self.server_settings
        # auto_decompress off: aiohttp would decode a compressed body on the event loop as it
        # arrives, even for a refused request (exporter/web/bodies.py decodes where allowed).
        # The keep-alive timeout backs up the guard's idle timeout. aiohttp's lingering (reading
        # any unread body to its end before the next request) is off: it read a whole large
        # body even when the answer closed the connection; the middleware drops small unread
        # bodies itself and closes after large ones. A body nobody reads is buffered up to
        # 2 × UNREAD_BODY_BUFFER before reading pauses: with aiohttp's 64 KiB a refused 1 MB
        # bomb was read twice (128 + 95 KiB) before its handler ran; now once (read_raw raises
        # the limit for a body that is wanted).
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=2.0,
            auto_decompress=False, keepalive_timeout=settings.idle_timeout + 5,
            lingering_time=0, read_bufsize=UNREAD_BODY_BUFFER)
        await self._runner.setup()
        host, _, port = self.listen.rpartition(":")
        host = host.strip("[]") or "0.0.0.0"
        self._site = GuardedSite(self._runner, host, int(port), self.connections,
                                 reuse_address=True)
        await self._site.start()
        self.port = self._site.port
        runtime.start()
        # Everything built so far lives as long as the process: out of the collector's sight.
        settle()
        log.info("started", listen=f"{host}:{self.port}", version=__version__,
                 config=self.config.source)

    async def stop(self) -> None:
        """Stop accepting, cancel probes, close pools."""
        if self._site is not None:
            await self._site.stop()
        if self.runtime is not None:
            await self.runtime.close()
        await self.renderer.stop()
        if self.shared_state is not None:
            # After the runtime: the tailer's lease is released once its last pass is over.
            with contextlib.suppress(Exception):
                await self.shared_state.close()
        for part in (self.ingestion, self.deploy_gate):
            # A part failing to close must not stop the shutdown.
            with contextlib.suppress(Exception):
                await part.close()
        if self._runner is not None:
            await self._runner.cleanup()
        log.info("stopped")

    async def reload(self) -> tuple[bool, str]:
        """Re-read the config file. The new probes are built before the old ones stop: a
        config that cannot be loaded or built is refused, the old probes keep running, and
        wedsync_config_last_reload_successful says 0 until a reload succeeds."""
        async with self._reload_lock:
            try:
                new = load_config(self.config.source)
                factories = features.job_factories(self.ingestion, self.shared_state)
                runtime = build_runtime(new, self.store, self.clock, job_factories=factories)
            except ConfigError as exc:
                if isinstance(exc, BuildError):
                    await exc.runtime.close()
                    self._forget_removed(exc.runtime, self.runtime)
                message = str(exc)
                self._loaded(False)
                log.error("reload refused; keeping the running config", error=message)
                return False, message
            configure_logs(new.log_level, new.log_format, new.secrets)
            runtime.on_lag = self._observe_lag
            old_runtime = self.runtime
            self.config = new
            self.guard = self._guard(new)
            self.server_settings = new.server
            self.connections.configure(self.server_settings)
            self.tarpit.configure(self.server_settings)
            if old_runtime is not None:
                await old_runtime.close()
            self.runtime = runtime
            self._forget_removed(old_runtime, runtime)
            runtime.start()
            self._loaded(True)
            self.renderer.refresh()
            settle()
            log.info("reloaded", config=new.source)
            return True, "reloaded"

    def _forget_removed(self, old: Runtime | None, new: Runtime | None) -> None:
        """Drop series of targets and queries that the new runtime no longer has."""
        if new is None:
            return
        removed = [key for key in (old.states if old else {}) if key not in new.states]
        for component, target in removed:
            self.store.clear_owned(("probe", component, target))
            for fam in self.store.families.values():
                if "component" in fam.labels and "target" in fam.labels:
                    self.store.remove_matching(fam.name, component=component, target=target)
                elif "target" in fam.labels and REGISTRY.of_metric(fam.name) == component:
                    self.store.remove_matching(fam.name, target=target)
        queries = {job.labels["query"] for job in new.jobs if "query" in job.labels}
        for fam in self.store.families.values():
            if fam.labels[:1] == ("query",):
                for key in list(self.store.series(fam.name)):
                    if key[0] not in queries:
                        self.store.clear_owned(("query", key[0]))
                        self.store.remove(fam.name, key)

    # --- background -----------------------------------------------------------------------
    def _observe_lag(self, late: float) -> None:
        """Export the worst lag seen since the last rendering of /metrics.

        The gauge is written without marking the store changed: a lag reading alone must not
        make the renderer work on an otherwise idle exporter. It goes out with the next
        rendering, which any probe result triggers.
        """
        if self.renderer.current.version != self._lag_rendered:
            self._lag_worst, self._lag_rendered = 0.0, self.renderer.current.version
        self._lag_worst = max(self._lag_worst, late)
        self.store.set("wedsync_event_loop_lag_seconds", (), self._lag_worst, bump=False)

    # --- running as a process -------------------------------------------------------------
    async def run_forever(self) -> None:
        """Run until SIGTERM or SIGINT; SIGHUP reloads."""
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._stopping.set)
        loop.add_signal_handler(signal.SIGINT, self._stopping.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload()))
        await self.start()
        await self._stopping.wait()
        await self.stop()

    @property
    def ready(self) -> bool:
        return self.runtime is not None and self.runtime.ready
