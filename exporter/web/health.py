"""``GET /api/system/health``: the health document (DESIGN.md), admin token, rate-limited.

``?component=`` narrows ``components`` to one document key (``external_services`` for the
``external`` component). ``last_error`` is the probe's already-safe ``reason: message``, passed
through the log redactor once more so no configured secret can ever leave in it.
"""

from __future__ import annotations

import json
import time
from typing import Any

import structlog
from aiohttp import web

from exporter.components import REGISTRY
from exporter.logs import REDACTOR
from exporter.status import TargetState
from exporter.summary import ComponentSummary, iso, milliseconds, not_monitored, summarise
from exporter.web.hooks import Host
from exporter.web.security import json_error

log = structlog.get_logger("exporter.health")
PERFORMANCE_FIELDS = ("avg_response_time", "p95_response_time", "error_rate")
NO_STORE = {"Cache-Control": "no-store"}


def _safe(text: str | None) -> str | None:
    return None if text is None else REDACTOR(text)


def _target(state: TargetState) -> dict[str, Any]:
    return {"status": state.status, "response_time_ms": milliseconds(state.latency),
            "checked_at": iso(state.checked_at), "last_error": _safe(state.last_error)}


def component_document(summary: ComponentSummary) -> dict[str, Any]:
    """One component's entry; ``targets`` lists each configured target."""
    document: dict[str, Any] = {
        "status": summary.status,
        "response_time_ms": milliseconds(summary.latency),
        "checked_at": iso(summary.checked_at),
        "last_error": _safe(summary.last_error),
        "essential": summary.essential,
    }
    if summary.targets:
        document["targets"] = {t.target: _target(t) for t in summary.targets}
    return document


def performance_metrics(service: Host, states: dict[tuple[str, str], TargetState]
                        ) -> dict[str, Any]:
    """Ingestion's last-5-minute summary (null fields until it has data) and the active
    database connections from the database probes."""
    metrics: dict[str, Any] = dict.fromkeys(PERFORMANCE_FIELDS)
    try:
        found = service.performance_summary()
    except Exception as exc:  # a broken summary must not take the document down
        log.error("performance summary failed", error=repr(exc))
        found = None
    if isinstance(found, dict):
        metrics.update({k: found.get(k) for k in PERFORMANCE_FIELDS})
    active = [s.details["active_connections"] for (c, _), s in states.items()
              if c == "database" and s.up and "active_connections" in s.details]
    metrics["active_connections"] = sum(active) if active else None
    return metrics


def health_document(service: Host, only: str | None = None) -> dict[str, Any]:
    """The whole document (or with ``components`` narrowed to the key ``only``)."""
    runtime = service.runtime
    states = dict(runtime.states) if runtime is not None else {}
    status, components = summarise(states, service.config.essential)
    return {
        "overall_status": status,
        # Beside overall_status, which leaves unknown components out: what nobody checks.
        "not_monitored": not_monitored(components),
        "checked_at": iso(service.clock()),
        "components": {s.key: component_document(s) for s in components
                       if only is None or s.key == only},
        "performance_metrics": performance_metrics(service, states),
    }


def _results(service: Host) -> tuple[object, ...]:
    """What the document shows of the probes: it changes with every probe run (a few tuples,
    so comparing costs microseconds). Not the store's version, which every ingested batch
    moves: under ingestion that rebuilt the document for every request."""
    runtime = service.runtime
    states = runtime.states if runtime is not None else {}
    return (id(runtime), id(service.config),
            *((key, s.checked_at, s.status, s.up, s.last_error) for key, s in states.items()))


class DocumentCache:
    """The encoded document, rebuilt only when a probe result changed or it is older than
    ``max_age`` (the ingestion summary and the document's own time move that often) — so a
    burst of requests costs one build, like /metrics."""

    def __init__(self, service: Host, max_age: float = 1.0) -> None:
        self.service = service
        self.max_age = max_age
        self._cached: dict[str | None, tuple[tuple[object, ...], float, bytes]] = {}

    def body(self, only: str | None) -> bytes:
        key = _results(self.service)
        now = time.monotonic()
        found = self._cached.get(only)
        if found is None or found[0] != key or now - found[1] > self.max_age:
            encoded = json.dumps(health_document(self.service, only)).encode()
            found = (key, now, encoded)
            self._cached[only] = found
        return found[2]


def add_health_routes(app: web.Application, service: Host) -> None:
    for family in ("wedsync_http_unauthorized_total", "wedsync_http_rate_limited_total"):
        service.store.zero(family, {"route": "health"})
    cache = DocumentCache(service)

    async def health(request: web.Request) -> web.Response:
        checked = service.guard.check(request, "health", ("admin",))
        if isinstance(checked, web.Response):
            return checked
        only = request.query.get("component")
        if only is not None and REGISTRY.by_document_key(only) is None:
            return json_error(400, f"unknown component {only!r}; known: "
                                   f"{', '.join(REGISTRY.document_keys().values())}")
        return web.Response(body=cache.body(only), content_type="application/json",
                            headers=NO_STORE)

    app.router.add_get("/api/system/health", health)
