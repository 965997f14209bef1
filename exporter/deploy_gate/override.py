"""An admin's emergency override: deploys allowed for a bounded time, with a written reason.

Without shared state the override lives in the exporter's memory: a restart ends it (the gate
fails closed again). With ``shared_state`` it lives in the shared Redis (with a time to live
ending when it does), so every replica honours it within the shared state's refresh.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from exporter.durations import parse_duration

DEFAULT_DURATION = "30m"
# Long enough to say what is broken and why it cannot wait; short enough for one log line.
SHORTEST_REASON = 10
LONGEST_REASON = 500
LONGEST_NAME = 100
FIELDS = ("reason", "duration", "by")


class OverrideRequestError(ValueError):
    """The override request cannot be used; the message says what to send instead."""


@dataclass(frozen=True)
class OverrideRequest:
    """What the admin asked for: a reason, a duration in seconds and optionally who."""

    reason: str
    duration: float
    by: str | None


@dataclass(frozen=True)
class Override:
    """An open override."""

    reason: str
    by: str | None
    opened_at: datetime
    expires_at: datetime

    def active(self, now: datetime) -> bool:
        """True until it expires."""
        return now < self.expires_at

    @classmethod
    def from_document(cls, document: Any) -> Override | None:
        """An override as ``describe()`` wrote it (None if it is not one)."""
        try:
            return cls(reason=str(document["reason"]),
                       by=None if document["by"] is None else str(document["by"]),
                       opened_at=_parse(document["opened_at"]),
                       expires_at=_parse(document["expires_at"]))
        except (TypeError, KeyError, ValueError):
            return None

    def describe(self) -> dict[str, Any]:
        """The override as JSON for answers."""
        return {"reason": self.reason, "by": self.by,
                "opened_at": _iso(self.opened_at), "expires_at": _iso(self.expires_at)}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _one_line(text: str) -> str:
    # Collapsed whitespace keeps every audit log entry on one line.
    return " ".join(text.split())


def parse_request(body: Any, longest: float) -> OverrideRequest:
    """Check an override request body against the rules; ``longest`` is the most seconds."""
    if not isinstance(body, dict):
        raise OverrideRequestError(
            'the body must be a JSON object such as {"reason": "…", "duration": "30m"}')
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise OverrideRequestError(f"unknown field(s) {', '.join(unknown)}; expected "
                                   f"{', '.join(FIELDS)}")
    reason = body.get("reason")
    if not isinstance(reason, str) or len(_one_line(reason)) < SHORTEST_REASON:
        raise OverrideRequestError(
            f"an override needs a written reason: a \"reason\" of at least {SHORTEST_REASON} "
            f"characters saying why the deploy cannot wait")
    reason = _one_line(reason)
    if len(reason) > LONGEST_REASON:
        raise OverrideRequestError(f"the reason is longer than {LONGEST_REASON} characters")
    by = body.get("by")
    if by is not None and (not isinstance(by, str) or not _one_line(by)
                           or len(_one_line(by)) > LONGEST_NAME):
        raise OverrideRequestError(f'"by" must be a name of 1 to {LONGEST_NAME} characters')
    # Without a duration: the default, or the longest allowed when that is shorter.
    text = body.get("duration", DEFAULT_DURATION if parse_duration(DEFAULT_DURATION) <= longest
                    else f"{longest:g}s")
    try:
        duration = parse_duration(text) if isinstance(text, str) else float("nan")
    except ValueError:
        duration = float("nan")
    if not duration > 0:
        raise OverrideRequestError(
            f'"duration" must be a duration above zero such as 30m or 1h, not {text!r}')
    if duration > longest:
        raise OverrideRequestError(
            f'"duration" {text} is longer than the longest override allowed '
            f"({_minutes(longest)}; deploy_gate.override_max_duration)")
    return OverrideRequest(reason=reason, duration=duration, by=_one_line(by) if by else None)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g} minutes"


def open_override(request: OverrideRequest, now: datetime) -> Override:
    """The override ``request`` opens at ``now``."""
    return Override(reason=request.reason, by=request.by, opened_at=now,
                    expires_at=now + timedelta(seconds=request.duration))
