"""End to end, the HA shape (harness.ha_stack): two exporters sharing state, two Prometheus,
three clustered Alertmanagers, fast settings, one stack for the module. It starts and is
quiet; a Redis fault pages once and resolves once, first with everything up and then with one
Prometheus, one Alertmanager and one exporter killed, the Watchdog arriving throughout."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import pytest

from alerts import durations
from alerts.monitoring import WATCHDOG
from harness.ha_stack import HAOptions, HAStack, group_wait_between_evaluations
from harness.redis import RedisServer
from harness.stack import StackOptions
from tests.support import eventually, exporter_config

pytestmark = pytest.mark.slow

FOR_SCALE = 0.02
WATCHDOG_REPEAT = 3.0
ALERT = "WedSyncRedisDown"


@pytest.fixture(scope="module")
def platform_redis() -> Iterator[RedisServer]:
    """The Redis the exporters probe (the platform's stand-in, which the test breaks)."""
    with RedisServer() as server:
        yield server  # type: ignore[misc]


@pytest.fixture(scope="module")
def ha(platform_redis: RedisServer) -> Iterator[HAStack]:
    options = StackOptions(
        exporter_config=exporter_config(redis=[{"name": "cache", "url": platform_redis.url()}]),
        scrape_interval="1s", evaluation_interval="1s", for_scale=FOR_SCALE,
        # group_interval above the pair's disagreement window (a scrape plus an evaluation
        # interval: one replica resolves before the other): at 1 s, Alertmanager would flush
        # between the two and flip resolved -> firing. Production's minutes are far above it.
        # group_wait half an evaluation off the grid: with 1 s, a loaded machine paged twice
        # in 11 of 12 faults, with 1.5 s in none (harness.ha_stack, docs/scaling.md).
        group_wait=durations.text(group_wait_between_evaluations(1.0, 1.0)),
        group_interval="5s", repeat_interval="1h")
    stack = HAStack(options, HAOptions(peer_timeout="2s", probe_interval="250ms",
                                       watchdog_repeat=f"{WATCHDOG_REPEAT:g}s"))
    with stack:
        yield stack


def _fault(ha: HAStack, platform_redis: RedisServer) -> tuple[float, float]:
    """Stop Redis until it pages, start it until it resolves; (to page, to resolved) in s."""
    assert ha.webhook is not None
    before = len(ha.webhook.notifications(alertname=ALERT))
    faulted = time.time()
    platform_redis.stop()
    page = ha.webhook.wait_for(90, alertname=ALERT, status="firing",
                               where=lambda n: n.received_at >= faulted)
    to_page = page.received_at - faulted
    recovered = time.time()
    platform_redis.start()
    resolved = ha.webhook.wait_for(90, alertname=ALERT, status="resolved",
                                   where=lambda n: n.received_at >= recovered)
    to_resolve = resolved.received_at - recovered
    time.sleep(3)  # a late duplicate from another member would arrive by now
    notes = [n for n in ha.webhook.notifications(alertname=ALERT)[before:]
             if n.received_at >= faulted]
    # One page, then one resolved notification. (A member killed just after it sent the last
    # fault's "resolved" may leave a peer to send that again: at least once. No page.)
    firing = [n for n in notes if n.status == "firing"]
    assert firing == [page], notes
    assert [n.status for n in notes if n.received_at >= page.received_at] == [
        "firing", "resolved"], notes
    [alert] = page.alerts  # once per target, not once per exporter or Prometheus replica
    assert "instance" not in alert["labels"] and "replica" not in alert["labels"]
    return to_page, to_resolve


def _watchdog_gaps(ha: HAStack, since: float) -> list[float]:
    assert ha.webhook is not None
    times = [n.received_at for n in ha.webhook.notifications(alertname=WATCHDOG)
             if n.received_at >= since]
    return [b - a for a, b in itertools.pairwise(times)]


def test_the_ha_stack_starts_and_is_quiet(ha: HAStack) -> None:
    assert ha.webhook is not None
    for server in ha.prometheuses:
        eventually(lambda s=server: s.query('min(alertmanager_cluster_members) == 3'),
                   timeout=30, message="the cluster has three members")
        assert len(server.query('up{job="wedsync-exporter"} == 1')) == 2
        assert len(server.query('up{job="prometheus"} == 1')) == 2
        labels = server.api("status/config")["yaml"]
        assert "replica:" in labels
    time.sleep(5)
    firing = {a["labels"]["alertname"] for a in ha.firing_anywhere(WATCHDOG)}
    assert firing == {WATCHDOG}
    others = [a for s in ha.prometheuses for a in s.api("alerts")["alerts"]
              if a["labels"]["alertname"] != WATCHDOG and a["state"] == "firing"]
    assert others == []
    told = {(n.receiver, name) for n in ha.webhook.notifications() for name in n.alertnames()}
    assert {receiver for receiver, _ in told} == {"watchdog"}, told


def test_a_redis_fault_pages_once_with_and_without_one_of_each_killed(
        ha: HAStack, platform_redis: RedisServer) -> None:
    eventually(lambda: ha.prometheus.query('min(wedsync_up{component="redis"}) == 1')
               if ha.prometheus else None, timeout=20)
    plain = _fault(ha, platform_redis)
    eventually(lambda: not ha.firing_anywhere(ALERT), timeout=30)
    time.sleep(10)  # two group intervals: the last fault's notifications are all out

    killed_at = time.time()
    # The first of each: the Alertmanager that would notify first, the Prometheus and the
    # exporter the single stack's attributes point at.
    ha.kill(ha.alertmanagers[0])
    ha.kill(ha.prometheuses[0])
    ha.kill(ha.exporters[0])
    survivor = ha.prometheuses[1]
    eventually(lambda: survivor.query('up{job="wedsync-exporter"} == 0'), timeout=20)
    # The two live members agree the third is gone (until then a page may go out twice:
    # docs/scaling.md); with one of each dead, the fault pages once.
    ha.wait_for_cluster()
    settled = time.time() - killed_at
    killed = _fault(ha, platform_redis)

    gaps = _watchdog_gaps(ha, killed_at)
    assert gaps, "no Watchdog notification after the kills"
    # Uninterrupted: never a silence much longer than its repeat (plus the cluster's failover
    # to the next member, peer_timeout, and a loaded machine's slack).
    assert max(gaps) < WATCHDOG_REPEAT + 5 + 2 + 10, gaps
    assert ha.webhook is not None
    assert {n.receiver for n in ha.webhook.notifications()} <= {"watchdog", "pager", "ticket"}
    print(f"\nfault to page: {plain[0]:.1f}s with everything up, {killed[0]:.1f}s with one "
          f"Prometheus, one Alertmanager and one exporter killed; to resolved: "
          f"{plain[1]:.1f}s / {killed[1]:.1f}s; longest Watchdog gap after the kills "
          f"{max(gaps):.1f}s; the cluster agreed on two members {settled:.1f}s after the "
          f"kill")
