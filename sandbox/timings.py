"""The stand-in API reports its own request timings to the exporter, as the real Next.js app does.

A request observer (``Context.request_observers``) turns every answered ``/api`` request into an
ingestion event (``endpoint`` = the route template, ``method``, ``response_time_ms``,
``status_code``, ``timestamp``) and queues it; a task of its own posts the queue in batches to
the exporter's ``POST /api/system/metrics`` with the ingest token, every ``timings_interval``
seconds or as soon as a batch is full (docs/ingestion.md). So the SLO rules see the sandbox's
traffic as they would see production's.

- **Never slows a request**: the observer only appends to a queue; posting happens in its own
  task, with a timeout, after the answers have gone out.
- **Never loses events silently**: a post that fails (no answer, 5xx, 429, a refused token) keeps
  its events and tries again later; the queue holds at most ``MAX_PENDING`` events, and beyond
  that the oldest are dropped *and counted*. Events the exporter rejects are counted from its
  answer. Every count is in ``GET /_sandbox/timings``; a failing exporter is logged once when it
  starts failing and once when it recovers; what is still queued at shutdown is posted one last
  time and anything left is logged.

Off unless ``Settings.timings_url`` is set (``SANDBOX_TIMINGS_URL`` or ``--report-timings``);
the token comes from ``SANDBOX_INGEST_TOKEN`` only and never appears in logs or answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
import urllib.parse
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from sandbox.context import Context, RequestRecord

log = logging.getLogger("sandbox.timings")

STATUS_PATH = "/_sandbox/timings"
REPORTED_SERVICES = frozenset({"api"})  # the real app reports its own requests, not Supabase's
BATCH = 500  # events per POST (the exporter takes up to 5,000)
MAX_PENDING = 20_000  # events kept while the exporter is away; the oldest go first beyond this
POST_TIMEOUT = 2.0
SHUTDOWN_FLUSH_SECONDS = 3.0
# Answers after which the same events are tried again: the exporter is away, busy or not yet
# configured with the token. Other 4xx answers are final for that batch (counted as rejected).
RETRY_STATUSES = frozenset({401, 403, 408, 429, 500, 502, 503, 504})


def _event(item: tuple[str, str, float, int, float]) -> dict[str, Any]:
    """The ingestion event of one queued request (docs/ingestion.md)."""
    route, method, seconds, status, at = item
    stamp = dt.datetime.fromtimestamp(at, dt.UTC).isoformat(timespec="milliseconds")
    return {"endpoint": route, "method": method, "response_time_ms": round(seconds * 1000, 3),
            "status_code": status, "timestamp": stamp.replace("+00:00", "Z")}


def public_url(url: str) -> str:
    """``url`` without user, password, query or fragment: safe to show."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@dataclass(frozen=True)
class PostOutcome:
    """What one POST did: events accepted and rejected, or a reason to try again later."""

    accepted: int = 0
    rejected: int = 0
    retry_reason: str | None = None
    retry_after: float = 0.0


class TimingReporter:
    """Queues request records and posts them to the exporter's ingestion endpoint in batches."""

    def __init__(self, url: str, token: str, interval: float = 5.0, batch: int = BATCH,
                 max_pending: int = MAX_PENDING, timeout: float = POST_TIMEOUT) -> None:
        self.url = url
        self._token = token
        self.interval = interval
        self.batch = batch
        self.max_pending = max_pending
        self.timeout = timeout
        # (route, method, seconds, status, unix time) per request: the event is built when it
        # is posted, off the request path.
        self._pending: deque[tuple[str, str, float, int, float]] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._failing: str | None = None
        self._hold_until = 0.0
        self._stopping = False
        self._in_flight = 0
        self.counts = {"observed": 0, "accepted": 0, "rejected": 0, "dropped": 0,
                       "posts": 0, "failed_posts": 0}

    # --- on the request path: must stay O(1) -------------------------------------------------
    def observe(self, record: RequestRecord) -> None:
        """Queue one answered request (the request observer)."""
        if record.service not in REPORTED_SERVICES:
            return
        self.counts["observed"] += 1
        self._pending.append((record.route, record.method, record.seconds, record.status,
                              time.time()))
        self._trim()
        if len(self._pending) >= self.batch:
            self._wake.set()

    def _trim(self) -> None:
        over = len(self._pending) - self.max_pending
        if over <= 0:
            return
        for _ in range(over):
            self._pending.popleft()
        if self.counts["dropped"] == 0:
            log.warning("timings: more than %d events queued (the exporter is away); dropping "
                        "the oldest, counted as dropped in %s", self.max_pending, STATUS_PATH)
        self.counts["dropped"] += over

    # --- the posting task ---------------------------------------------------------------------
    async def start(self) -> None:
        """Start posting in the background."""
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            headers={"Authorization": f"Bearer {self._token}",
                     "Content-Type": "application/json"})
        self._task = asyncio.create_task(self._run(), name="sandbox-timings")

    async def stop(self) -> None:
        """Post what is left (bounded in time), stop, and log anything that was not sent."""
        self._stopping = True
        self._hold_until = 0.0
        self._wake.set()
        if self._task is not None:
            # The task posts once more and ends; one stuck post is cut off by the time limit.
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._task, SHUTDOWN_FLUSH_SECONDS)
            self._task = None
        if self._pending:
            left = len(self._pending)
            self._pending.clear()
            self.counts["dropped"] += left
            log.warning("timings: %d events could not be posted before shutdown (dropped)",
                        left)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            if loop.time() >= self._hold_until:
                await self.flush()

    async def flush(self) -> None:
        """Post everything queued, batch by batch, until done or a post must be retried."""
        loop = asyncio.get_running_loop()
        while self._pending:
            events = [self._pending.popleft() for _ in range(min(self.batch,
                                                                 len(self._pending)))]
            self._in_flight = len(events)
            try:
                outcome = await self._post([_event(item) for item in events])
            except asyncio.CancelledError:
                self._pending.extendleft(reversed(events))  # counted below as not sent
                raise
            finally:
                self._in_flight = 0
            if outcome.retry_reason is not None:
                # Back at the front, oldest first; new events stay behind them.
                self._pending.extendleft(reversed(events))
                self._trim()
                self._hold_until = loop.time() + outcome.retry_after
                self._note_failing(outcome.retry_reason)
                return
            self._note_recovered()
            self.counts["accepted"] += outcome.accepted
            self.counts["rejected"] += outcome.rejected

    async def _post(self, events: list[dict[str, Any]]) -> PostOutcome:
        """One POST of ``events``: what the exporter accepted and rejected, or why to retry."""
        assert self._session is not None, "start() the reporter first"
        self.counts["posts"] += 1
        body = orjson.dumps({"events": events})
        try:
            async with self._session.post(self.url, data=body) as answer:
                status = answer.status
                text = await answer.read()
                retry_after = answer.headers.get("Retry-After", "")
        except TimeoutError:
            return self._failed("no answer in time")
        except aiohttp.ClientError as exc:
            return self._failed(f"cannot reach the exporter ({type(exc).__name__})")
        if status in RETRY_STATUSES:
            wait = float(retry_after) if retry_after.isdigit() else 0.0
            return self._failed(f"the exporter answered {status}", wait)
        try:
            document = orjson.loads(text)
        except orjson.JSONDecodeError:
            document = {}
        if status == 200 and isinstance(document, dict):
            return PostOutcome(accepted=int(document.get("accepted", 0)),
                               rejected=int(document.get("rejected", 0)))
        # Final refusals (400 none valid, 404 ingestion off, 413): these events are lost, so
        # they are counted and logged rather than retried for ever.
        log.warning("timings: the exporter refused %d events with status %d", len(events),
                    status)
        return PostOutcome(rejected=len(events))

    def _failed(self, reason: str, retry_after: float = 0.0) -> PostOutcome:
        self.counts["failed_posts"] += 1
        return PostOutcome(retry_reason=reason, retry_after=retry_after)

    def _note_failing(self, reason: str) -> None:
        if self._failing is None:
            log.warning("timings: posting to the exporter fails (%s); keeping %d events to "
                        "try again", reason, len(self._pending))
        self._failing = reason

    def _note_recovered(self) -> None:
        if self._failing is not None:
            log.warning("timings: posting to the exporter works again")
            self._failing = None

    def status(self) -> dict[str, Any]:
        """Counts and state for ``GET /_sandbox/timings`` (no token, no secrets). Every event
        observed is accepted, rejected, dropped, pending or in flight."""
        return {"enabled": True, "url": public_url(self.url), "interval_seconds": self.interval,
                "pending": len(self._pending), "in_flight": self._in_flight,
                "failing": self._failing, **self.counts}


def register(app: web.Application, context: Context) -> None:
    """Add ``GET /_sandbox/timings`` and, when configured, the reporter."""
    settings = context.settings
    reporter: TimingReporter | None = None
    if settings.timings_url:
        reporter = TimingReporter(settings.timings_url, settings.ingest_token,
                                  settings.timings_interval)
        context.request_observers.append(reporter.observe)
        context.state["timings"] = reporter

        async def running(_: web.Application) -> AsyncIterator[None]:
            assert reporter is not None
            await reporter.start()
            yield
            await reporter.stop()

        app.cleanup_ctx.append(running)

    async def show(_: web.Request) -> web.Response:
        return web.json_response(reporter.status() if reporter else {"enabled": False})

    app.router.add_get(STATUS_PATH, show)
