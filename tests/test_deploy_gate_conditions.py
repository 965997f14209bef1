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


def test_why_weddings_are_unknown_comes_from_the_runtimes_wedding_day_state() -> None:
    import yaml

    from exporter.config import parse_config
    from exporter.deploy_gate.gate import _weddings_unknown_because
    from exporter.wedding_day import WeddingDayState

    none = parse_config(yaml.safe_dump({}), {})
    config = parse_config(yaml.safe_dump({
        "database": [{"name": "primary", "dsn": "postgresql://u@h/db"}],
        "queries": {"weddings": {"builtin": "weddings"}}}), {})
    state = WeddingDayState(ZoneInfo("Europe/London"))
    assert _weddings_unknown_because(none, state) == "no built-in weddings query is configured"
    assert _weddings_unknown_because(config, state) == "the weddings query has not run yet"
    state.query_ran("weddings", False)
    assert _weddings_unknown_because(config, state) == "the weddings query is failing"
    state.query_ran("weddings", True)
    assert _weddings_unknown_because(config, state) == \
        "today's weddings have not been counted yet"
    state.query_turned_off("weddings", "missing_table")
    assert _weddings_unknown_because(config, state) == \
        "the weddings query is turned off (missing table)"
