"""The deploy gate's sentences and times, without a server: the parts that are pure arithmetic."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from exporter.deploy_gate.conditions import (
    firing_alerts,
    overall_status,
    seconds_until_local_midnight,
)
from exporter.deploy_gate.override import OverrideRequestError, parse_request
from exporter.status import TargetState

LONDON = ZoneInfo("Europe/London")


@pytest.mark.parametrize(("now", "seconds"), [
    # Sunday 29 March 2026 00:30 GMT; clocks go forward at 01:00, so the day has 23 hours.
    (datetime(2026, 3, 29, 0, 30, tzinfo=UTC), 22 * 3600 + 30 * 60),
    # Sunday 25 October 2026 00:30 BST; clocks go back at 02:00, so the day has 25 hours.
    (datetime(2026, 10, 24, 23, 30, tzinfo=UTC), 24 * 3600 + 30 * 60),
    # Saturday 6 June 2026 23:59:59.5 BST: half a second is still at least one second.
    (datetime(2026, 6, 6, 22, 59, 59, 500000, tzinfo=UTC), 1),
], ids=["spring-forward", "fall-back", "last-second"])
def test_wedding_day_lasts_until_local_midnight_on_nights_the_clocks_change(now,
                                                                           seconds) -> None:
    assert seconds_until_local_midnight(now, LONDON) == seconds


def test_firing_alerts_are_named_with_counts_and_the_list_stays_short() -> None:
    firing = Counter({f"WedSyncAlert{n:02d}": 1 for n in range(12)})
    firing["WedSyncAlert00"] = 3
    block = firing_alerts(firing)
    assert block is not None
    assert block.reason.startswith(
        "Critical alerts are firing in Alertmanager: WedSyncAlert00 (3), WedSyncAlert01, ")
    assert block.reason.endswith("WedSyncAlert09 and 2 more.")
    assert firing_alerts(Counter()) is None


def test_a_critical_non_essential_component_does_not_block() -> None:
    states = [TargetState("external", "stripe", status="critical"),
              TargetState("database", "primary", status="healthy")]
    assert overall_status(states, ("database",)) is None
    states.append(TargetState("database", "replica", status="critical"))
    block = overall_status(states, ("database",))
    assert block is not None
    assert block.reason == "Overall status is critical: database (replica) is critical."


def test_override_reason_is_kept_on_one_line() -> None:
    request = parse_request({"reason": "Hotfix:\n  RSVP form\tdrops guests"}, 7200)
    assert request.reason == "Hotfix: RSVP form drops guests"
    assert request.duration == 30 * 60
    assert parse_request({"reason": "Hotfix for the payment outage"}, 600).duration == 600
    with pytest.raises(OverrideRequestError, match="written reason"):
        parse_request({"reason": 42}, 7200)
    with pytest.raises(OverrideRequestError, match="above zero"):
        parse_request({"reason": "Hotfix for the payment outage", "duration": "0s"}, 7200)
