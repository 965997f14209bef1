"""What the HA shape costs in CPU over the single stack, idle, at the same settings.

    python bench/ha_cost.py --seconds 120 [--interval 15s]

Starts the single stack (one exporter, Prometheus, Alertmanager) and then the HA stack (two
exporters sharing state through their own Redis, two Prometheus, three clustered
Alertmanagers), each probing one throwaway Redis, lets each settle, and reads the CPU time
(user + system, from /proc) every process used over ``--seconds``. Prints CPU per part and in
total, as a share of one core.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.binaries import ManagedProcess
from harness.ha_stack import HAOptions, HAStack
from harness.redis import RedisServer
from harness.stack import Stack, StackOptions

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(part: ManagedProcess) -> float:
    """User + system CPU seconds of a running part so far."""
    if part.process is None:
        return 0.0
    stat = Path(f"/proc/{part.process.pid}/stat").read_text()
    fields = stat[stat.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def parts(stack: Stack) -> dict[str, ManagedProcess]:
    """Every process of the stack, by a name for people."""
    if isinstance(stack, HAStack):
        found: dict[str, ManagedProcess] = {}
        for kind, items in (("exporter", stack.exporters), ("prometheus", stack.prometheuses),
                            ("alertmanager", stack.alertmanagers)):
            for index, item in enumerate(items):
                found[f"{kind} {index + 1}"] = item
        if stack.shared_redis is not None:
            found["shared-state redis"] = stack.shared_redis
        return found
    return {name: part for name, part in (("exporter", stack.exporter),
                                          ("prometheus", stack.prometheus),
                                          ("alertmanager", stack.alertmanager)) if part}


def measure(stack: Stack, settle: float, seconds: float) -> dict[str, float]:
    """CPU share of one core per part over ``seconds``, after ``settle``."""
    time.sleep(settle)
    found = parts(stack)
    before = {name: cpu_seconds(part) for name, part in found.items()}
    started = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - started
    return {name: (cpu_seconds(part) - before[name]) / elapsed for name, part in found.items()}


def report(title: str, shares: dict[str, float]) -> float:
    total = sum(shares.values())
    print(f"{title}: {total * 100:.1f}% of one core")
    for name, share in shares.items():
        print(f"  {name:<20} {share * 100:5.2f}%")
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="measuring window")
    parser.add_argument("--settle", type=float, default=20.0, help="wait after start-up")
    parser.add_argument("--interval", default="15s",
                        help="probe, scrape and evaluation interval (default: production's)")
    args = parser.parse_args(argv)
    with RedisServer() as redis:
        config = {"timezone": "Europe/London",
                  "probe_defaults": {"interval": args.interval, "timeout": "5s"},
                  "redis": [{"name": "cache", "url": redis.url()}],  # type: ignore[attr-defined]
                  "database": [], "queries": {}}

        def options() -> StackOptions:
            return StackOptions(exporter_config=config, scrape_interval=args.interval,
                                evaluation_interval=args.interval)

        with Stack(options()) as single:
            one = report("single stack", measure(single, args.settle, args.seconds))
        with HAStack(options(), HAOptions()) as ha:
            two = report("HA stack", measure(ha, args.settle, args.seconds))
    print(f"extra CPU of the HA stack: {(two - one) * 100:.1f}% of one core "
          f"({two / one if one else float('inf'):.1f}x the single stack)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
