"""Alert settings a user overrides without editing the code: an overrides file (or the
WEDSYNC_ALERTS_OVERRIDES variable) changes the runbook base URL and named alerts' thresholds and
for:, everything else stays as shipped, and a typo is refused instead of silently ignored."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest
import yaml

from alerts import build
from alerts.overrides import Overrides, OverridesError, parse
from exporter.catalogue import STATUSES
from exporter.probe_types import Status
from exporter.status import ORDER
from tests.conftest import REPO

OVERRIDES = """
runbook_base_url: https://wiki.example.com/wedsync/runbooks/
alerts:
  WedSyncDatabaseConnectionsHigh:
    other_days: {threshold: 0.85, for: 15m}
    wedding_days: {threshold: 0.75}
  WedSyncExternalServiceDown:
    other_days: {for: 30m}
"""


def rules_of(texts: dict[str, str], name: str) -> list[dict]:
    return [rule for text in texts.values() for group in yaml.safe_load(text)["groups"]
            for rule in group["rules"] if rule.get("alert") == name]


def test_overrides_change_only_what_they_name() -> None:
    shipped = build.render()
    mine = build.render(overrides=parse(yaml.safe_load(OVERRIDES)))
    wedding, other = rules_of(mine, "WedSyncDatabaseConnectionsHigh")
    assert "wedsync:db_connections:ratio > 0.75" in wedding["expr"]
    assert wedding["for"] == "5m"  # not overridden: the shipped wedding-day for:
    assert "wedsync:db_connections:ratio > 0.85" in other["expr"] and other["for"] == "15m"
    assert other["keep_firing_for"] == "16m"  # the longest for: plus the midnight bridge
    (external,) = [r for r in rules_of(mine, "WedSyncExternalServiceDown")
                   if r["labels"].get("wedding_day") == "false"]
    assert external["for"] == "30m"
    assert other["annotations"]["runbook_url"] == \
        "https://wiki.example.com/wedsync/runbooks/WedSyncDatabaseConnectionsHigh.md"
    # Everything else is as shipped, once the runbook base is put back.
    shipped_base = build.RUNBOOK_BASE_URL
    for name in ("wedding-day.yml", "slo.yml", "monitoring.yml"):
        assert mine[name].replace("https://wiki.example.com/wedsync/runbooks",
                                  shipped_base) == shipped[name]
    assert build.render(overrides=Overrides()) == shipped


@pytest.mark.parametrize(("document", "problem"), [
    ({"alerts": {"WedSyncNope": {"other_days": {"for": "5m"}}}},
     "alerts.WedSyncNope: there is no such alert"),
    ({"alerts": {"WedSyncDatabaseDown": {"other_days": {"threshold": 2}}}},
     "alerts.WedSyncDatabaseDown.other_days.threshold: this alert's expression has no "
     "threshold"),
    ({"alerts": {"WedSyncDatabaseDeadlocks": {"wedding_days": {"for": "1m"}}}},
     "alerts.WedSyncDatabaseDeadlocks.wedding_days: this alert has one timing for every day"),
    ({"alerts": {"WedSyncDatabaseDown": {"other_days": {"for": "5 minutes"}}}},
     "is not a duration"),
    ({"alerts": {"WedSyncDatabaseDown": {"other_day": {"for": "5m"}}}},
     "unknown key 'other_day'"),
    ({"alerts": {"WedSyncDatabaseDown": {"other_days": {"fore": "5m"}}}},
     "unknown key 'fore'"),
    ({"runbook_url": "https://x"}, "unknown key 'runbook_url'"),
    ({"runbook_base_url": "wiki/runbooks"}, "must be a URL"),
])
def test_a_mistake_in_the_overrides_is_refused_with_where_and_what(document, problem) -> None:
    with pytest.raises(OverridesError, match=problem.replace(".", r"\.").replace("(", r"\(")):
        build.render(overrides=parse(document))


def run_build(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "alerts", "build", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120, env=env, check=False)


def test_the_build_command_takes_an_overrides_file_or_the_environment(tmp_path: Path) -> None:
    overrides = tmp_path / "my-alerts.yaml"
    overrides.write_text(OVERRIDES)
    done = run_build("--overrides", str(overrides), "--out", str(tmp_path / "rules"))
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "rules" / "components.yml").read_text()
    assert "wedsync:db_connections:ratio > 0.85" in text
    if shutil.which("promtool"):
        checked = subprocess.run(["promtool", "check", "rules",
                                  *map(str, sorted((tmp_path / "rules").glob("*.yml")))],
                                 capture_output=True, text=True, timeout=120, check=False)
        assert checked.returncode == 0, checked.stdout + checked.stderr

    env = {**os.environ, "WEDSYNC_ALERTS_OVERRIDES": str(overrides)}
    done = run_build("--out", str(tmp_path / "from-env"), env=env)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "from-env" / "components.yml").read_text() == text

    # The committed rules are the shipped ones: overridden rules go elsewhere.
    refused = run_build("--overrides", str(overrides))
    assert refused.returncode == 2 and "--out" in refused.stderr
    assert build.differences() == []

    overrides.write_text("alerts: {WedSyncNope: {other_days: {for: 5m}}}\n")
    wrong = run_build("--overrides", str(overrides), "--out", str(tmp_path / "wrong"))
    assert wrong.returncode == 1
    assert "alerts.WedSyncNope: there is no such alert" in wrong.stderr
    assert not (tmp_path / "wrong").exists()


def test_the_status_set_is_the_catalogues() -> None:
    assert get_args(Status) == STATUSES
    assert list(ORDER) == list(STATUSES)
