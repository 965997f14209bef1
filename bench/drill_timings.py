"""Figures: time to dashboard, detect and page for each fault the drill injects, at the shipped
production settings — computed (``drill.timing``: the intervals of exporter/example.yaml,
prometheus/prometheus.yml and prometheus/alertmanager.yml, the rules' ``for:`` and burn-rate
windows) — and, with ``--measure``, cross-checked against fast drills on a stack of the drill's
own: each fault measured next to what the same computation promises for the fast settings and
that stack's history.

    python bench/drill_timings.py [--measure]

Bounded: four drills of 25-35 s (SLO faults wait up to 30 s more for an all-clear that their
5-minute windows cannot give). Loopback only.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drill.faults import FAULTS, Fault
from drill.own_stack import OwnStack
from drill.run import Plan, run_drill
from drill.timing import FAST, PRODUCTION, Timing, dashboard_worst, fault_promise

# The faults with the parameters the figures are given for.
CASES: tuple[tuple[str, dict[str, float], str], ...] = (
    ("redis-stop", {}, "Redis stops"),
    ("postgres-pause", {}, "PostgreSQL hangs"),
    ("realtime-slow", {"delay_ms": 250.0}, "Realtime echo 250 ms late (every broadcast)"),
    ("api-errors", {"rate": 1.0}, "API fails every request"),
    ("api-errors", {"rate": 0.05}, "API fails 5% of requests"),
    ("api-errors", {"rate": 0.02}, "API fails 2% of requests"),
)
SCHEDULE = {"at": 4.0, "fault_duration": 6.0, "load_duration": 18.0, "resolve_timeout": 30.0}
# API errors last longer: the first 5xx of each route creates that route's 5xx series, and
# rate() counts a series only from its second sample, so a short burst spread over ten routes
# is nearly invisible to the burn-rate rules (docs/drill.md, "Findings").
LONGER = {"api-errors": {"fault_duration": 15.0, "load_duration": 25.0}}


def span(best: float, worst: float) -> str:
    def text(seconds: float) -> str:
        if seconds >= 60:
            minutes, rest = divmod(round(seconds), 60)
            return f"{minutes}m{rest:02d}s"
        return f"{seconds:.0f}s"
    return f"{text(best)}–{text(worst)}"


def computed_row(fault: Fault, params: dict[str, float], wedding_day: bool,
                 timing: Timing) -> str:
    promise = fault_promise(fault, params, wedding_day, timing)
    if promise is None:
        return f"{'no paging alert':<28}{'-':>15}{'-':>15}"
    return (f"{promise.alert:<28}{span(promise.detect_best, promise.detect_worst):>15}"
            f"{span(promise.best, promise.worst):>15}")


def computed() -> None:
    print("computed at the shipped production settings (probe, scrape, evaluation 15 s, the "
          "down alerts evaluated every 5 s; pager group_wait 5 s for critical alerts, 15 s for "
          "burn-rate pages; timings posted every 5 s; windows full)")
    print(f"{'fault':<45}{'dashboard':>10}  {'day':<8}{'first paging alert':<28}"
          f"{'detect':>15}{'page':>15}")
    for name, params, title in CASES:
        fault = FAULTS[name]
        board = f"≤{dashboard_worst(fault, PRODUCTION):.0f}s"
        for day, label in ((True, "wedding"), (False, "other")):
            first = f"{title:<45}{board:>10}" if day else " " * 55
            print(f"{first}  {label:<8}{computed_row(fault, params, day, PRODUCTION)}")
    print()


def measured() -> None:
    print("measured: fast drills on a stack of the drill's own (probe, scrape, evaluation "
          "1 s; for: x0.03; group_wait 1 s; weddings today), next to the promise computed for "
          "those settings and the stack's history")
    print(f"{'fault':<16}{'dashboard':>10}{'detect':>8}{'page':>8}{'promised page':>15}"
          f"{'pages':>6}  alert / verdict")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="wedsync-bench-drill-") as out, \
            OwnStack(FAST) as target:
        print(f"(stack started in {time.monotonic() - started:.0f} s)")
        for name in ("redis-stop", "postgres-pause", "realtime-slow", "api-errors"):
            schedule = {**SCHEDULE, **LONGER.get(name, {})}
            report = run_drill(target, Plan(fault=FAULTS[name], out=Path(out), **schedule),
                               say=lambda _: None).report
            detection = report["detection"]
            promise = detection["promise"] or {}

            def shown(value: float | None) -> str:
                return "-" if value is None else f"{value:.1f}s"

            promised = (f"{promise['best_seconds']:.0f}–{promise['worst_seconds']:.0f}s"
                        if promise else "-")
            print(f"{name:<16}{shown(detection['dashboard_seconds']):>10}"
                  f"{shown(detection['detect_seconds']):>8}{shown(detection['page_seconds']):>8}"
                  f"{promised:>15}{len(report['pages']['for_fault']):>6}  "
                  f"{detection['alert']} / {report['headline'][:150]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--measure", action="store_true",
                        help="also run fast drills and print what they measured")
    args = parser.parse_args()
    computed()
    if args.measure:
        measured()


if __name__ == "__main__":
    main()
