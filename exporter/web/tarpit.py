"""A refusal budget per client address, and the tarpit for refusals beyond it.

Refusing a request is cheap (a third of a millisecond of CPU for a refused gzip bomb), but a
client that sends its next request as soon as the last one is answered — a closed-loop
flood — just sends more when refusals get cheaper: four such clients kept the exporter's core
40-87% busy. What slows them is making their refusals slow. So each client address has a
budget of ``server.refusals_per_second`` refused requests (4xx) in any one second, which are
answered at once as before: a misconfigured client at a modest rate still gets its clear
4xx straight away. A refusal beyond the budget is held ``server.tarpit_seconds`` before it is
answered, with its body left unread and its connection closed after the answer, so a
closed-loop attacker sends about one request per ``tarpit_seconds`` per connection instead of
thousands. At most ``server.tarpit_max`` refusals are held at once (each holds a connection);
beyond that a refusal over the budget is not answered at all: its connection is closed at
once.

Only refusals count and only refusals wait: an answered request (a scrape, an authenticated
well-formed request) is never delayed, and /metrics and /-/healthy are never held or counted.

The budget is a moving window per address from the ``limits`` package (as the rate limits
are, ``exporter/web/security.py``), in this process's memory: it survives reloads; a
changed ``refusals_per_second`` applies from the next refusal (with a window of its own).
"""

from __future__ import annotations

import asyncio

import structlog
from aiohttp import web
from limits import RateLimitItemPerSecond
from limits.strategies import MovingWindowRateLimiter

from exporter.catalogue import HTTP_TARPIT_OUTCOMES
from exporter.metrics.store import MetricStore
from exporter.web.rate_storage import LoopMemoryStorage
from exporter.web.server_settings import ServerSettings

HELD = "wedsync_http_tarpit_total"
HOLDING = "wedsync_http_tarpit_held"
# Paths whose answers are never held, nor counted against a budget.
NEVER_HELD = frozenset({"/metrics", "/-/healthy"})
# At most one log line per this many seconds about held refusals: a flood must not flood the
# log as well.
LOG_PERIOD = 60.0

log = structlog.get_logger("exporter.http")


class Tarpit:
    """The refusal budget of every client address and the refusals held now."""

    def __init__(self, store: MetricStore, settings: ServerSettings) -> None:
        self.store = store
        self._limiter = MovingWindowRateLimiter(LoopMemoryStorage())
        self.held = 0
        self._logged: float | None = None
        # delayed: answered after tarpit_seconds; closed: tarpit_max held, closed unanswered.
        for outcome in HTTP_TARPIT_OUTCOMES:
            store.zero(HELD, {"outcome": outcome})
        store.set(HOLDING, (), 0)
        self.configure(settings)

    def configure(self, settings: ServerSettings) -> None:
        """Adopt new settings (a reload); what each address used stays used."""
        self.settings = settings
        self._budget = RateLimitItemPerSecond(settings.refusals_per_second, 1)

    def over_budget(self, request: web.BaseRequest) -> bool:
        """Count one refusal for the request's address: True when it is beyond the budget
        (and should be held)."""
        if request.path in NEVER_HELD or self.settings.tarpit_seconds <= 0:
            return False
        return not self._limiter.hit(self._budget, "refusals", request.remote or "")

    async def hold(self, request: web.BaseRequest) -> bool:
        """Hold a refusal beyond the budget for ``tarpit_seconds``: True once it may be
        answered, False at once when ``tarpit_max`` are held already (close unanswered)."""
        now = asyncio.get_running_loop().time()
        if self._logged is None or now - self._logged >= LOG_PERIOD:
            self._logged = now
            log.warning("refusals beyond a client's budget are held in the tarpit",
                        client=request.remote, budget=self.settings.refusals_per_second,
                        held=self.held, cap=self.settings.tarpit_max)
        if self.held >= self.settings.tarpit_max:
            self.store.inc(HELD, {"outcome": "closed"})
            return False
        self.held += 1
        self.store.set(HOLDING, (), self.held, bump=False)
        try:
            await asyncio.sleep(self.settings.tarpit_seconds)
        finally:
            self.held -= 1
            self.store.set(HOLDING, (), self.held, bump=False)
        self.store.inc(HELD, {"outcome": "delayed"})
        return True
