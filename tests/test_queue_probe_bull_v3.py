"""The queue probe against real Bull v3 jobs (npm ``bull`` 3, run by node) in a throwaway Redis:
Bull v3 keeps a paused queue's jobs in a ``paused`` list and marks it with ``meta-paused``."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.config.model import QueueDiscovery, QueuesTarget
from exporter.probes.base import ProbeOutcome
from exporter.probes.bullmq import QueueProbe
from harness.redis import RedisServer
from tests.probes_support import TIMING, probe_once
from tests.test_queue_probe import by_queue

SCRIPT = Path(__file__).with_name("node") / "bull_v3_jobs.js"
BULL = "bull@3.29.3"
# npm installs Bull here once; scripts/test.sh does it ahead of the tests.
NODE_PREFIX = Path(os.environ.get("WEDSYNC_NODE_PREFIX",
                                  Path.home() / ".cache" / "wedsync-observability" / "node"))


@pytest.fixture(scope="module")
def node_modules() -> Path:
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("node and npm are not installed (Debian nodejs, npm)")
    modules = NODE_PREFIX / "node_modules"
    if not (modules / "bull" / "package.json").exists():
        done = subprocess.run(["npm", "install", "--prefix", str(NODE_PREFIX), "--no-audit",
                               "--no-fund", "--silent", BULL], capture_output=True, text=True,
                              timeout=300, check=False)
        if done.returncode != 0:
            pytest.skip(f"npm could not install {BULL}: {done.stderr.strip()[-300:]}")
    return modules


@pytest.fixture(scope="module")
def bull_jobs(node_modules: Path) -> Iterator[RedisServer]:
    with RedisServer() as redis:
        node = subprocess.Popen(["node", str(SCRIPT), redis.url()], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "NODE_PATH": str(node_modules)})
        try:
            assert node.stdout is not None
            line = node.stdout.readline()
            assert line.strip() == "ready", node.stderr.read() if node.stderr else line
            yield redis
        finally:
            if node.stdin:
                node.stdin.close()
            try:
                node.wait(10)
            except subprocess.TimeoutExpired:
                node.kill()


def test_a_paused_bull_v3_queue_holds_its_jobs_in_the_paused_list(bull_jobs) -> None:
    outcome = probe_once(QueueProbe(QueuesTarget(name="jobs", url=bull_jobs.url(),
                                                 names=("legacy",), **TIMING)))
    legacy = by_queue(outcome)["legacy"]
    assert (legacy["paused_flag"], legacy["paused"], legacy["waiting"]) == (1, 2, 0)
    assert legacy["delayed"] == 1
    # The oldest held job was created 45 s before the script ran.
    assert 45 <= legacy["oldest_waiting_age_seconds"] < 45 + 60


def test_bull_v3_worker_states_are_counted(bull_jobs) -> None:
    worked = by_queue(probe_once(QueueProbe(QueuesTarget(
        name="jobs", url=bull_jobs.url(), names=("worked",), **TIMING))))["worked"]
    assert (worked["active"], worked["completed"], worked["failed"]) == (1, 1, 1)
    assert (worked["waiting"], worked["paused_flag"], worked["oldest_waiting_age_seconds"]) == (
        0, 0, 0)


def test_discovery_finds_bull_v3_queues(bull_jobs) -> None:
    outcome = probe_once(QueueProbe(QueuesTarget(
        name="jobs", url=bull_jobs.url(), discovery=QueueDiscovery(enabled=True), **TIMING)))
    assert isinstance(outcome, ProbeOutcome)
    assert set(by_queue(outcome)) == {"legacy", "worked"}
