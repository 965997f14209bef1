"""What holds the exporter's event loop, and for how long: each callback's CPU time.

    python -m bench.loop_holders [--seconds 10] [--no-probes]

Wall-clock latencies on a shared machine mostly measure the neighbours (see the floor that
``bench.ingestion`` prints beside its figures); the time a callback holds the loop, on the
loop thread's own CPU clock, is the exporter's alone: a scrape can wait behind at most the
callbacks ahead of it. This runs the example configuration probing the sandbox (as
``bench.ingestion --all-probes``; ``--no-probes``: an exporter that probes nothing) with
``bench/loop_tracer.py`` loaded into the exporter, and for each phase — quiet, ingesting
5,000 and 50,000 events/s in batches of 500, with /metrics and the health document asked all
along — prints how many callbacks held the loop for how long, the garbage collector's passes,
and the longest holders by what they were.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench.ingestion import (
    BATCH,
    BUSY_RATE,
    CALM_RATE,
    all_probes_on,
    events,
    paced_with_scrapes,
    start_exporter,
)
from harness.exporter import ExporterProcess

REPO = Path(__file__).resolve().parent.parent
SITE = f"import sys\nsys.path.insert(0, {str(REPO)!r})\n" \
       "from bench.loop_tracer import install\ninstall()\n"


@contextlib.contextmanager
def traced_exporter(probes: bool, out: Path) -> Iterator[ExporterProcess]:
    with tempfile.TemporaryDirectory(prefix="wedsync-loop-trace-") as site:
        Path(site, "sitecustomize.py").write_text(SITE)
        env = {"PYTHONPATH": site, "WEDSYNC_LOOP_TRACE": str(out)}
        if probes:
            with all_probes_on(env) as exporter:
                yield exporter
        else:
            exporter = start_exporter(env)
            try:
                yield exporter
            finally:
                exporter.stop()


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def report(name: str, phase: dict) -> None:
    seconds = phase["seconds"]
    bounds = [0.0, *phase["bounds"]]
    print(f"{name}: {phase['callbacks']:,} callbacks in {seconds:.1f} s")
    for index, count in enumerate(phase["buckets"]):
        low = ms(bounds[index])
        high = ms(bounds[index + 1]) if index + 1 < len(bounds) else "and over"
        print(f"  held {low:>9} - {high:<9} {count:>8,}   ({count / seconds * 60:,.0f} a minute)")
    for generation, (count, total, longest) in phase["gc"].items():
        if count:
            print(f"  gc generation {generation}: {count:,} passes, {ms(total)} in all, "
                  f"longest {ms(longest)}")
    oldest = phase.get("oldest", [])
    print(f"  oldest generation at the end: {sum(n for _, n in oldest):,}+ objects ("
          + ", ".join(f"{name} {n:,}" for name, n in oldest) + ")")
    print("  longest holders (count at 0.5 ms or more, longest):")
    for what, count, longest in sorted(phase["worst"], key=lambda w: -w[2])[:8]:
        print(f"    {ms(longest):>9}  x{count:<5} {what[:150]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--no-probes", action="store_true",
                        help="an exporter that probes nothing instead of the example "
                             "configuration probing the sandbox")
    args = parser.parse_args()
    os.sched_setaffinity(0, {1})
    rng = random.Random(1)
    sample = events(rng, 100 * BATCH)
    bodies = [json.dumps({"events": sample[i:i + BATCH]}).encode()
              for i in range(0, len(sample), BATCH)]
    with tempfile.TemporaryDirectory(prefix="wedsync-loop-holders-") as tmp:
        out = Path(tmp, "trace.jsonl")
        with traced_exporter(not args.no_probes, out) as exporter:
            assert exporter.process is not None
            pid = exporter.process.pid
            time.sleep(2)
            os.kill(pid, signal.SIGUSR1)  # start afresh: start-up is not what is measured
            phases = []
            for rate in (0, CALM_RATE, BUSY_RATE):
                paced_with_scrapes(exporter, bodies, rate, args.seconds, health=True,
                                   period=0.01)
                os.kill(pid, signal.SIGUSR1)
                phases.append(f"ingesting {rate:,} events/s" if rate else "quiet")
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and (
                    not out.exists() or len(out.read_text().splitlines()) < 4):
                time.sleep(0.1)
        lines = [json.loads(line) for line in out.read_text().splitlines()]
    print("event loop held, per callback, CPU time of the loop thread "
          + ("(the example configuration probing the sandbox)" if not args.no_probes
             else "(an exporter that probes nothing)"))
    for name, phase in zip(phases, lines[1:], strict=False):
        report(name, phase)


if __name__ == "__main__":
    main()
