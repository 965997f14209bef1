"""Time from fault to notification: computed for the production settings, and measured.

    python bench/alert_latency.py [--runs 3]

First the computed figures for every "down" alert on wedding days and other days (probe interval
+ scrape interval + evaluation interval + for: + group_wait, from the committed configs). Then a
measurement: the stack harness with 1 s probe, scrape and evaluation intervals, for: x0.02 and
group_wait 1 s, on a wedding day and on another day; a throwaway Redis is stopped and started
again ``--runs`` times, and each run
prints the seconds from the fault to the page and from the recovery to the resolved
notification, next to what the same formula computes for those short settings.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerts import durations
from alerts.notification_time import (
    Settings,
    alert_named,
    for_seconds,
    notification_time,
)
from alerts.reference import notification_times_table
from alerts.wedding_day import keep_firing_for
from harness.metrics_endpoint import MetricsEndpoint
from harness.redis import RedisServer
from harness.stack import ScrapeTarget, Stack, StackOptions

FOR_SCALE = 0.02
SHORT = Settings(probe_interval=1, scrape_interval=1, evaluation_interval=1, group_wait=1,
                 for_scale=FOR_SCALE)
ALERT = "WedSyncRedisDown"


def measure(runs: int, wedding_day: bool) -> None:
    """Stop and start a throwaway Redis ``runs`` times; the day is set by an extra target that
    serves wedsync_wedding_day (the exporter without a weddings query serves none, except on
    Saturdays, when it says 1)."""
    alert = alert_named(ALERT)
    keep = durations.seconds(durations.scaled(durations.text(keep_firing_for(alert)), FOR_SCALE))
    # probe + scrape + evaluation, then one group_interval for the resolved notification
    travel = SHORT.probe_interval + SHORT.scrape_interval + SHORT.evaluation_interval
    calendar = MetricsEndpoint(f"wedsync_wedding_day {int(wedding_day)}\n").start()
    with RedisServer() as redis:
        config = {"timezone": "Europe/London", "log": {"level": "warning"},
                  "probe_defaults": {"interval": "1s", "timeout": "1s"},
                  "database": [], "redis": [{"name": "cache", "url": redis.url()}],
                  "queries": {}}
        options = StackOptions(exporter_config=config, scrape_interval="1s",
                               evaluation_interval="1s", for_scale=FOR_SCALE, group_wait="1s",
                               group_interval="1s", repeat_interval="1h",
                               extra_targets=[ScrapeTarget("calendar", calendar.address)])
        pages, resolves = [], []
        with Stack(options) as stack:
            assert stack.webhook is not None and stack.prometheus is not None
            for run in range(1, runs + 1):
                while not stack.prometheus.query('wedsync_up{component="redis"} == 1'):
                    time.sleep(0.2)
                faulted = time.time()
                redis.stop()
                page = stack.webhook.wait_for(
                    90, alertname=ALERT, status="firing",
                    where=lambda n, t=faulted: n.received_at > t)
                labelled = page.alerts[0]["labels"]["wedding_day"] == "true"
                computed = notification_time(alert, labelled, SHORT)
                recovered = time.time()
                redis.start()
                resolved = stack.webhook.wait_for(
                    90, alertname=ALERT, status="resolved",
                    where=lambda n, p=page: n.received_at > p.received_at)
                pages.append(page.received_at - faulted)
                resolves.append(resolved.received_at - recovered)
                print(f"run {run}: wedding_day={labelled}  fault->page {pages[-1]:5.1f} s "
                      f"(computed {computed.best:.0f}-{computed.worst:.0f} s, for: "
                      f"{for_seconds(alert, labelled, FOR_SCALE):.0f} s)  recovery->resolved "
                      f"{resolves[-1]:5.1f} s (keep_firing_for {keep:.0f} s + up to "
                      f"{travel + 1:.0f} s)", flush=True)
    calendar.stop()
    print(f"median fault->page {statistics.median(pages):.1f} s, "
          f"recovery->resolved {statistics.median(resolves):.1f} s over {runs} runs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print("Computed at production settings (best / average / worst):\n")
    print(notification_times_table())
    for wedding_day in (True, False):
        print(f"\nMeasured with the stack harness ({ALERT}, "
              f"{'a wedding day' if wedding_day else 'another day'}, 1 s intervals, "
              f"for: x{FOR_SCALE}, group_wait 1 s, group_interval 1 s):\n")
        measure(args.runs, wedding_day)


if __name__ == "__main__":
    main()
