"""End to end: a real exporter, Prometheus (1 s scrape and evaluation), Alertmanager with the
repo's routing, and the recording webhook. A stopped Redis must page exactly once and resolve."""

from __future__ import annotations

import time

import pytest

from alerts.notification_time import Settings, alert_named, for_seconds, notification_time
from harness.stack import Stack, StackOptions
from tests.support import eventually, exporter_config

pytestmark = pytest.mark.slow

# 5m -> 6 s, 1m -> 2 s, keep_firing_for 6m -> 8 s: the whole run stays well under a minute.
FOR_SCALE = 0.02
SHORT = Settings(probe_interval=1, scrape_interval=1, evaluation_interval=1, group_wait=1,
                 for_scale=FOR_SCALE)
# A loaded machine (two cores shared by several test runs) may add this much to any step.
SLACK = 10.0


def short_stack(config: dict) -> Stack:
    return Stack(StackOptions(exporter_config=config, scrape_interval="1s",
                              evaluation_interval="1s", for_scale=FOR_SCALE, group_wait="1s",
                              group_interval="1s", repeat_interval="1h"))


def test_a_stopped_redis_pages_once_and_the_recovery_resolves_it(breakable_redis) -> None:
    config = exporter_config(redis=[{"name": "cache", "url": breakable_redis.url()}])
    with short_stack(config) as stack:
        assert stack.prometheus is not None and stack.webhook is not None
        eventually(lambda: stack.prometheus.query('wedsync_up{component="redis"} == 1'),
                   timeout=20, message="Prometheus never saw Redis up")

        faulted = time.time()
        breakable_redis.stop()
        page = stack.webhook.wait_for(60, alertname="WedSyncRedisDown", status="firing")
        detected = page.received_at - faulted

        assert page.receiver == "pager"
        [alert] = page.alerts
        labels = alert["labels"]
        assert (labels["component"], labels["target"], labels["severity"]) == (
            "redis", "cache", "critical")
        wedding_day = labels["wedding_day"] == "true"
        expected = notification_time(alert_named("WedSyncRedisDown"), wedding_day, SHORT)
        # Never before for: has passed, never much later than the computed worst case.
        assert detected >= for_seconds(alert_named("WedSyncRedisDown"), wedding_day, FOR_SCALE)
        assert detected <= expected.worst + SLACK

        recovered = time.time()
        breakable_redis.start()
        resolved = stack.webhook.wait_for(60, alertname="WedSyncRedisDown", status="resolved")
        print(f"\nfault to page {detected:.1f} s (computed for these settings: best "
              f"{expected.best:.0f} s, worst {expected.worst:.0f} s, wedding_day="
              f"{labels['wedding_day']}); recovery to resolved "
              f"{resolved.received_at - recovered:.1f} s")

        # Exactly once: one firing and one resolved notification, in the same group, and
        # nothing else reached the pager.
        redis_notes = stack.webhook.notifications(alertname="WedSyncRedisDown")
        assert [n.status for n in redis_notes] == ["firing", "resolved"]
        assert resolved.group_key == page.group_key
        assert stack.webhook.notifications(receiver="pager") == redis_notes
