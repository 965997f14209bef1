"""The conditions that block a deploy: each a plain sentence and when it may clear.

Pure functions of what the exporter knows (clock, weddings count, target statuses, alert
names), so the sentences and times can be read and tested without a server.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from exporter.status import TargetState, overall, worst
from exporter.wedding_day import SATURDAY, is_wedding_day, local_date

# Conditions that may clear at any moment (an alert resolves, a probe recovers, a query
# succeeds) are worth asking about again after a minute: about four probe intervals, and
# well inside the gate's default rate limit of 60 questions a minute.
RECHECK_SECONDS = 60
# Right after start-up the first round of probes takes a few seconds.
STARTING_SECONDS = 5
# Enough alert names to recognise the incident without a reason running to pages.
MOST_ALERTS_NAMED = 10


@dataclass(frozen=True)
class Block:
    """One reason not to deploy now, and the seconds after which it may have cleared."""

    reason: str
    retry_after: int


def seconds_until_local_midnight(now: datetime, timezone: ZoneInfo) -> int:
    """Seconds from ``now`` until the next midnight in ``timezone`` (at least 1)."""
    midnight = datetime.combine(local_date(now, timezone) + timedelta(days=1), time(0),
                                tzinfo=timezone)
    # Aware datetimes that share a tzinfo subtract as wall-clock times, which would be an hour
    # off on the nights clocks change; in UTC the difference is the real one.
    seconds = (midnight.astimezone(UTC) - now.astimezone(UTC)).total_seconds()
    return max(1, math.ceil(seconds))


def _weddings(count: int) -> str:
    return f"{count} wedding{'' if count == 1 else 's'} today"


def wedding_day(now: datetime, timezone: ZoneInfo, weddings_today: int | None,
                unknown_because: str) -> Block | None:
    """A block on a wedding day (or when it cannot be known whether it is one), else None.

    ``weddings_today`` is None when today's weddings were not counted; ``unknown_because``
    then says why, as a clause ("the weddings query is failing").
    """
    verdict = is_wedding_day(now, timezone, weddings_today)
    if verdict is False:
        return None
    today = local_date(now, timezone)
    zone = timezone.key
    if verdict is None:
        return Block(f"Whether today ({today.isoformat()}) is a wedding day in {zone} cannot "
                     f"be known because {unknown_because}, so the gate fails closed.",
                     RECHECK_SECONDS)
    # A wedding day lasts until local midnight; tomorrow is judged afresh then.
    until_midnight = seconds_until_local_midnight(now, timezone)
    if today.weekday() == SATURDAY:
        count = f": {_weddings(weddings_today)}" if weddings_today else ""
        return Block(f"It is Saturday in {zone} ({today.isoformat()}), a wedding day{count}.",
                     until_midnight)
    assert weddings_today is not None
    return Block(f"It is a wedding day in {zone} ({today.isoformat()}): "
                 f"{_weddings(weddings_today)}.", until_midnight)


def overall_status(states: Iterable[TargetState], essential: Iterable[str]) -> Block | None:
    """A block when the overall status (worst essential component) is critical."""
    by_component: dict[str, list[TargetState]] = {}
    for state in states:
        by_component.setdefault(state.component, []).append(state)
    statuses = {component: worst(s.status for s in targets)
                for component, targets in by_component.items()}
    essential = tuple(essential)
    if overall(statuses, essential) != "critical":
        return None
    named = []
    for component, targets in sorted(by_component.items()):
        if component in essential and statuses[component] == "critical":
            critical = sorted(s.target for s in targets if s.status == "critical")
            named.append(f"{component} ({', '.join(critical)})")
    verb = "is" if len(named) == 1 else "are"
    return Block(f"Overall status is critical: {', '.join(named)} {verb} critical.",
                 RECHECK_SECONDS)


def firing_alerts(firing: Mapping[str, int]) -> Block | None:
    """A block naming the critical alerts firing in Alertmanager (alert name → count)."""
    if not firing:
        return None
    names = sorted(firing)
    shown = [name if firing[name] == 1 else f"{name} ({firing[name]})"
             for name in names[:MOST_ALERTS_NAMED]]
    more = len(names) - len(shown)
    listed = ", ".join(shown) + (f" and {more} more" if more else "")
    if len(names) == 1 and firing[names[0]] == 1:
        return Block(f"A critical alert is firing in Alertmanager: {listed}.", RECHECK_SECONDS)
    return Block(f"Critical alerts are firing in Alertmanager: {listed}.", RECHECK_SECONDS)


def alertmanager_unreachable(cause: str) -> Block:
    """A block when Alertmanager could not be asked (the default: fail closed)."""
    return Block(f"Alertmanager could not be asked about critical alerts ({cause}), so the "
                 f"gate fails closed.", RECHECK_SECONDS)


def alertmanager_unreachable_warning(cause: str) -> str:
    """What an answer says when Alertmanager could not be asked and the gate fails open."""
    return (f"Alertmanager could not be asked about critical alerts ({cause}); allowed anyway "
            f"because deploy_gate.fail_open is set.")


def starting() -> Block:
    """A block while the exporter has not yet finished its first round of checks."""
    return Block("The exporter has not finished its first round of checks since it started.",
                 STARTING_SECONDS)
