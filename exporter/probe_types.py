"""The one small interface every prober has, and what a probe run gives back (below the
probes package: the scheduler, recording and database code use these types too).

A probe knows its protocol and the catalogue, never the HTTP server or the scheduler. It
returns a ``ProbeOutcome`` or raises ``ProbeError`` with an enumerated reason and a short,
already-sanitised message (no host names, URLs, keys or raw driver text).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from exporter.config.model import Target
from exporter.metrics.store import Sample

Reason = Literal["timeout", "connect", "auth", "protocol", "error"]
# The catalogue's STATUSES, spelt out for type checkers (a test keeps the two equal).
Status = Literal["healthy", "degraded", "critical"]


class ProbeError(Exception):
    """A probe failed; ``reason`` is one of the catalogue's failure reasons."""

    def __init__(self, reason: Reason, message: str, detail: str = "",
                 samples: list[Sample] | None = None,
                 counts: list[Sample] | None = None) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason: Reason = reason
        self.message = message
        # Raw driver text for debug logs only; it goes through the log redactor.
        self.detail = detail
        # What the failed run still measured (an HTTP status code, a certificate's expiry).
        self.samples: list[Sample] = list(samples or [])
        # Counter increments the failed run still owes (e.g. an RLS leak seen before it failed).
        self.counts: list[Sample] = list(counts or [])


@dataclass
class ProbeOutcome:
    """What a successful probe run measured."""

    # The response time that the status thresholds judge (e.g. the SELECT 1 round trip).
    latency: float
    samples: list[Sample] = field(default_factory=list)
    observations: list[Sample] = field(default_factory=list)
    # Increments of the exporter's own counters (a probe's ``counters`` declares their series).
    counts: list[Sample] = field(default_factory=list)
    # A status the probe itself judged worse than the thresholds say (e.g. slow echo).
    status: Status | None = None
    details: dict[str, Any] = field(default_factory=dict)


class Probe(Protocol):
    """One protocol's prober, bound to one configured target."""

    component: str
    target: Target

    async def run(self) -> ProbeOutcome:
        """Probe the target once."""
        ...

    async def close(self) -> None:
        """Release connections; called on reload and shutdown."""
        ...
