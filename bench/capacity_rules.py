"""What the capacity rules cost Prometheus with a full week of history.

    python bench/capacity_rules.py [--days 8] [--step 15]

Backfills ``--days`` of ``wedsync:capacity_usage:current`` (every resource, a sample every
``--step`` seconds, as the rule records it at the production evaluation interval) into a
throwaway Prometheus with the shipped rules, lets it evaluate every 15 s for a minute and
prints each capacity group's last evaluation time and the Saturday peaks it computed. The
peaks' 7-day subquery (2,016 steps a resource) is the part that grows with history.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerts import build as rule_build
from alerts.capacity import LAST_SATURDAY_PEAK, RESOURCES, USAGE
from harness.ports import free_port
from harness.prometheus import PrometheusServer

GROUPS = ("wedsync-capacity-recordings", "wedsync-capacity-saturday", "wedsync-capacity",
          "wedsync-hosts-recordings", "wedsync-hosts")


def history(days: int, step: int) -> str:
    """OpenMetrics text: a daily wave of every resource, ending two hours ago."""
    end = int(time.time()) - 7200
    start = end - days * 86400
    lines = [f"# TYPE {USAGE} gauge"]
    for resource in RESOURCES:
        for at in range(start, end, step):
            hour = datetime.fromtimestamp(at, UTC).hour
            lines.append(f'{USAGE}{{resource="{resource.name}"}} '
                         f"{0.2 + 0.6 * (12 <= hour < 17):g} {at}")
    return "\n".join([*lines, "# EOF", ""])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=8)
    parser.add_argument("--step", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as rules:
        rule_build.write(Path(rules))
        port = free_port()
        # It scrapes itself: the rule groups' evaluation times are its own metrics.
        config = {"global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
                  "rule_files": [f"{rules}/*.yml"],
                  "scrape_configs": [{"job_name": "prometheus", "static_configs": [
                      {"targets": [f"127.0.0.1:{port}"]}]}]}
        server = PrometheusServer(config, port=port, retention="35d")
        began = time.monotonic()
        server.backfill(history(args.days, args.step))
        print(f"backfilled {args.days} days x {len(RESOURCES)} resources every {args.step}s "
              f"in {time.monotonic() - began:.1f}s")
        with server:
            time.sleep(60)
            durations = {r["metric"]["rule_group"].split(";")[-1]: float(r["value"][1])
                         for r in server.query("prometheus_rule_group_last_duration_seconds")}
            for group in GROUPS:
                print(f"{group:<30} {durations.get(group, float('nan')) * 1000:8.1f} ms")
            for sample in server.query(LAST_SATURDAY_PEAK):
                print(f"{LAST_SATURDAY_PEAK}{{resource={sample['metric']['resource']}}} = "
                      f"{sample['value'][1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
