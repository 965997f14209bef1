"""What the report of a documented drill must say, beyond its exit code.

tests/test_docs_commands.py runs every documented drill command as written (docs/drill.md's
shortest drill, docs/scaling.md's shortest HA drill); a drill writes ``reports/<id>/`` in the
directory it runs from, and each report found there after a block is checked here. So each of
those drills runs once in the suite and is checked both ways: as a user's command (exit 0,
READY) and in detail:

- a stopped Redis pages exactly once (the pager, explained by the fault), resolves after the
  mend, within the promised time; the charts are drawn and the HTML report shows the verdict and
  every chart in headless Chromium (until 2026-12 tests/test_drill.py ran this drill a second
  time on its own stack);
- with ``--ha``, one Alertmanager (and one Prometheus and one exporter) killed during the fault
  still gives one page and its resolution, and the Watchdog keeps coming (until 2026-12
  tests/test_drill_ha.py ran this drill a second time).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import matplotlib.image
import pytest

from loadtests.model import load_model
from tests.support import headless_chromium


def reports_in(directory: Path) -> list[Path]:
    """The drill reports a command left under ``directory`` (``reports/<drill id>/``)."""
    return sorted(directory.glob("reports/*/report.json"))


def check_report(path: Path) -> None:
    """Everything a documented drill's report must say (it ran READY: exit code 0)."""
    report: dict[str, Any] = json.loads(path.read_text())
    assert report["verdict"] == "READY", report["reasons"]
    assert report["fault"]["errors"] == []
    if report["fault"]["name"] == "redis-stop":
        check_a_stopped_redis(report)
        check_the_charts_and_the_html(report, path.parent)
    if "ha" in report:
        check_one_of_each_killed(report)


def check_a_stopped_redis(report: dict[str, Any]) -> None:
    """Redis stopped: one page for it, resolved after the mend, in the promised time."""
    fault, detection = report["fault"], report["detection"]
    [redis] = [a for a in report["alerts"] if a["alertname"] == "WedSyncRedisDown"]
    assert redis["fired_offset_seconds"] > fault["injected_offset_seconds"]
    assert redis["resolved_offset_seconds"] > fault["recovered_offset_seconds"]
    assert redis["explained_by_fault"] and redis["receivers"] == ["pager"]

    assert detection["alert"] == "WedSyncRedisDown"
    assert 0 < detection["dashboard_seconds"] <= detection["detect_seconds"]
    assert detection["detect_seconds"] <= detection["page_seconds"]
    assert detection["page_seconds"] <= detection["promise"]["worst_seconds"] + 10
    assert detection["resolve_seconds"] > 0 and detection["all_clear_seconds"] > 0

    pages = report["pages"]
    [page] = pages["during_drill"]
    assert page["for_fault"] and page["description"] == (
        "WedSyncRedisDown{component=redis,target=cache}")
    assert page["resolved_at"] is not None
    assert pages["duplicated"] == [] and not pages["missed"] and pages["unexpected"] == []

    assert report["load"]["verdict"] in ("PASS", "FAIL")
    assert set(report["load"]["scenarios"]) == set(load_model().scenarios)
    assert report["exporter"]["healthy"]


def check_the_charts_and_the_html(report: dict[str, Any], directory: Path) -> None:
    """The PNG charts hold a drawing, and the HTML report shows the verdict and every chart."""
    for chart in report["charts"]:
        image = matplotlib.image.imread(directory / chart["file"])
        assert image.shape[0] > 100 and image.shape[1] > 400
        ink = (image[..., :3] < 0.9).any(axis=2).mean()  # share of pixels that are not white
        assert ink > 0.02, f"{chart['file']} is nearly blank"

    profile = tempfile.mkdtemp(prefix="wedsync-drill-chromium-")
    driver = headless_chromium(profile)
    if driver is None:
        pytest.skip("Debian chromium and chromium-driver are not installed")
    try:
        driver.get((directory / "report.html").as_uri())
        shown = driver.execute_script(
            "return {verdict: document.getElementById('verdict').innerText,"
            " images: Array.from(document.images).map(i => i.complete && i.naturalWidth)}")
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    assert shown["verdict"] == report["headline"]
    assert shown["verdict"].startswith(report["verdict"])
    assert len(shown["images"]) == 4 and all(width > 400 for width in shown["images"])


def check_one_of_each_killed(report: dict[str, Any]) -> None:
    """--ha: an Alertmanager killed during the fault; still one page, resolved, no duplicate,
    and the Watchdog's longest gap measured."""
    assert len(report["ha"]["killed"]) == 1 and "Alertmanager" in report["ha"]["killed"][0]
    pages = report["pages"]
    [page] = pages["during_drill"]
    assert page["for_fault"] and page["resolved_at"] is not None
    assert pages["duplicated"] == [] and pages["unexpected"] == []
    assert report["ha"]["watchdog_longest_gap_seconds"] is not None
    print(f"time to page with one of each killed: {report['detection']['page_seconds']}s; "
          f"longest Watchdog gap {report['ha']['watchdog_longest_gap_seconds']}s")
