"""``POST /api/system/metrics``: request timings from the serverless API (ingest token).

One event or ``{"events": [...]}``, optionally gzip- or deflate-compressed (decoded in bounded
slices only after the token was checked, see ``exporter/web/bodies.py``). Bad input gets a
4xx naming the problem: 413 for a body over ``max_body_bytes`` (as sent or decompressed), over
``max_compression_ratio`` or with more than ``max_events`` events, 400 for invalid JSON,
broken compressed data or a body of the wrong shape, 415 for another encoding or charset;
per-event problems come back with the event's index while the valid events are accepted (400
only when none was). Every refusal is counted in wedsync_ingest_rejected_total. Large batches
are parsed in one step (about 0.4 ms for 500 events) and recorded in slices of about a quarter
of a millisecond, handing the event loop back in between, and only one batch at a time is
parsed and recorded, so a scrape or a health check waits behind at most one such step.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any, Protocol

import orjson
from aiohttp import web

from exporter.gc_tuning import collector_paused
from exporter.ingestion.cache import MAX_CACHE_ENTRIES
from exporter.ingestion.recorder import Ingestion
from exporter.web.bodies import accept_encoded_bodies, check_json_charset, read_body
from exporter.web.hooks import Host
from exporter.web.refusal import RequestRefused, tag
from exporter.web.security import json_error
from exporter.yielding import step_aside

PATH = "/api/system/metrics"
# Work done before handing the event loop back (wall time, so time lost to a busy machine
# counts too): a scrape waits behind at most one slice of a batch, not the whole batch.
SLICE_SECONDS = 0.00025
# Per-event errors listed in an answer; the rest are only counted.
MAX_LISTED_ERRORS = 100


class BadBody(ValueError):
    """The body is not one event or a batch; the message says why."""

    def __init__(self, reason: str, message: str, status: int = 400, events: int = 0) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status
        # Events the refused body held, where that is known (they count as rejected).
        self.events = events


# wedsync_ingest_rejected_total's reason for a request refused while its body was read.
REFUSAL_REASONS = {"body_too_large": "body_too_large", "compression_ratio": "body_too_large",
                   "body_timeout": "body_timeout", "bad_compressed_body": "invalid_encoding",
                   "invalid_charset": "invalid_encoding", "content_encoding": "invalid_encoding"}
# wedsync_http_refused_requests_total's reason for each of BadBody's.
_REFUSAL_OF_BAD_BODY = {"invalid_json": "invalid_json", "invalid_body": "invalid_body",
                        "too_many_events": "body_too_large",
                        "too_many_cache_entries": "body_too_large"}


def _why(exc: orjson.JSONDecodeError) -> str:
    """A short reason for the client (never an echo of the body)."""
    return f"{exc.msg} at line {exc.lineno} column {exc.colno}"


def parse_events(body: bytes, max_events: int) -> tuple[list[Any], list[Any] | None]:
    """The events of a body (one event object, or the list under ``events``) and its cache
    entries (the list under ``cache``; None when the body has none)."""
    try:
        # orjson: about 3 times faster than json, and strict where Python's json is lax: NaN,
        # Infinity, invalid UTF-8, lone surrogates and nesting deeper than 1024 are errors.
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadBody("invalid_json", f"the body is not valid JSON ({_why(exc)})") from None
    if not isinstance(document, dict):
        raise BadBody("invalid_body", 'expected one event object or {"events": [...]}')
    if "events" not in document and "cache" not in document:
        return [document], None
    events = document.get("events", [])
    if not isinstance(events, list):
        raise BadBody("invalid_body", '"events" must be a list of event objects')
    cache = document.get("cache")
    if cache is not None and not isinstance(cache, list):
        raise BadBody("invalid_body", '"cache" must be a list of {"layer", "hits", "misses"} '
                                      'objects', events=len(events))
    if len(events) > max_events:
        raise BadBody("too_many_events",
                      f"{len(events)} events is more than the {max_events} allowed in one "
                      f"request; send smaller batches", 413, len(events))
    if cache is not None and len(cache) > MAX_CACHE_ENTRIES:
        raise BadBody("too_many_cache_entries",
                      f"{len(cache)} cache entries is more than the {MAX_CACHE_ENTRIES} "
                      f"allowed in one request; report each layer once", 413, len(events))
    return events, cache


async def _parse_and_record(body: bytes, max_events: int, ingestion: Ingestion
                            ) -> tuple[int, list[tuple[int, str, str]], list[Any] | None] | BadBody:
    """Parse a body and record its events, handing the loop back between steps: (accepted,
    per-event errors, cache entries), or the BadBody that says why the body was refused."""
    # Parsing is a step of its own (about 0.4 ms for a batch of 500), whole: orjson cannot be
    # paused. The request's checks and the body's last read came before it in this turn of the
    # loop: hand the loop back first, so a scrape waits behind one or the other, not both.
    await asyncio.sleep(0)
    try:
        events, cache = parse_events(body, max_events)
    except BadBody as exc:
        return exc
    accepted = 0
    errors: list[tuple[int, str, str]] = []
    start = 0
    while start < len(events):
        await step_aside()  # hand the loop back between slices (and after parsing)
        outcome = ingestion.record(events, start=start,
                                   stop_at=time.perf_counter() + SLICE_SECONDS)
        accepted += outcome.accepted
        errors += outcome.errors
        # Free the recorded events now, a slice at a time, not all at the end in one step.
        events[start:outcome.end] = itertools.repeat(None, outcome.end - start)
        start = outcome.end
    return accepted, errors, cache


async def ingest(request: web.Request, service: Host, ingestion: Ingestion) -> web.Response:
    """Handle one POST of request timings."""
    settings = ingestion.configure(service.config)
    if not settings.enabled:
        return json_error(404, "ingestion is switched off in the exporter's configuration")
    checked = service.guard.check(request, "ingestion", ("ingest",))
    if isinstance(checked, web.Response):
        ingestion.reject_request("rate_limited" if checked.status == 429 else "unauthorized")
        return checked
    try:
        # The token is checked first: a body is never read, let alone decompressed, for a
        # request that is refused anyway.
        check_json_charset(request)
        body = await read_body(request, settings.max_body_bytes,
                               service.server_settings.body_timeout,
                               settings.max_compression_ratio)
    except RequestRefused as exc:
        ingestion.reject_request(REFUSAL_REASONS[exc.reason])
        raise
    # Bodies wait here as bytes (which the garbage collector never walks): one batch at a time
    # is parsed into objects, and the collector is held off meanwhile (exporter/gc_tuning.py).
    async with ingestion.parsing:
        with collector_paused():
            recorded = await _parse_and_record(body, settings.max_events, ingestion)
    if isinstance(recorded, BadBody):
        ingestion.reject_request(recorded.reason, recorded.events)
        return tag(json_error(recorded.status, str(recorded)),
                   _REFUSAL_OF_BAD_BODY[recorded.reason])
    accepted, errors, cache = recorded
    answer: dict[str, Any] = {
        "accepted": accepted,
        "rejected": len(errors),
        "errors": [{"index": i, "reason": reason, "message": message}
                   for i, reason, message in errors[:MAX_LISTED_ERRORS]],
    }
    if len(errors) > MAX_LISTED_ERRORS:
        answer["errors_not_listed"] = len(errors) - MAX_LISTED_ERRORS
    cache_accepted, cache_errors = ingestion.cache.record(cache) if cache is not None else (0, [])
    if cache is not None:
        answer["cache"] = {
            "accepted": cache_accepted, "rejected": len(cache_errors),
            "errors": [{"index": i, "reason": reason, "message": message}
                       for i, reason, message in cache_errors],
        }
    refused = (errors or cache_errors) and not (accepted or cache_accepted)
    response = web.json_response(answer, status=400 if refused else 200)
    return tag(response, "invalid_events") if response.status == 400 else response


class IngestionHost(Host, Protocol):
    """The running exporter with the ingestion it built."""

    ingestion: Ingestion


def add_ingestion_routes(app: web.Application, service: IngestionHost) -> None:
    """Register the ingestion route."""
    ingestion = service.ingestion
    ingestion.configure(service.config)

    async def handle(request: web.Request) -> web.Response:
        return await ingest(request, service, ingestion)

    accept_encoded_bodies(PATH)
    app.router.add_post(PATH, handle)
