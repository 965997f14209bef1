"""``wedsync-drill run --ha`` end to end (fast intervals): on the HA stack of the drill's own,
stopping Redis while one Prometheus, one Alertmanager and one exporter are killed pages exactly
once, resolves, keeps the Watchdog coming, and the verdict is READY."""

from __future__ import annotations

from pathlib import Path

import pytest

from drill.faults import fault_named
from drill.own_stack import OwnStack
from drill.run import Plan, run_drill
from drill.timing import FAST

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SCHEDULE = {"at": 4.0, "fault_duration": 8.0, "load_duration": 24.0, "resolve_timeout": 40.0}


def test_a_stopped_redis_with_one_of_each_killed_pages_once_and_is_ready(tmp_path: Path) -> None:
    own = OwnStack(FAST, ha=True)
    target = own.start()
    try:
        assert target.kill_one_of_each is not None
        outcome = run_drill(target, Plan(fault=fault_named("redis-stop"), out=tmp_path,
                                         **SCHEDULE), say=print)
    finally:
        own.stop()
    report = outcome.report
    assert len(report["ha"]["killed"]) == 1 and "Alertmanager" in report["ha"]["killed"][0]
    pages = report["pages"]
    [page] = pages["during_drill"]
    assert page["for_fault"] and page["resolved_at"] is not None
    assert pages["duplicated"] == [] and pages["unexpected"] == []
    assert report["ha"]["watchdog_longest_gap_seconds"] is not None
    assert report["verdict"] == "READY", report["reasons"]
    print(f"time to page with one of each killed: {report['detection']['page_seconds']}s; "
          f"longest Watchdog gap {report['ha']['watchdog_longest_gap_seconds']}s")
