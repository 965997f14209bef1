"""The short text verdict of a run summary: per scenario requests, failure rate, p95 and p99,
the thresholds (the SLOs) with what was observed, and PASS or FAIL."""

from __future__ import annotations

from typing import Any

from exporter.human_time import elapsed_text
from loadtests.summary import ALL, format_value

COLUMNS = ("scenario", "weight", "share", "iters", "requests", "failed", "p95 ms", "p99 ms",
           "result")
WIDTHS = (22, 7, 7, 7, 9, 8, 9, 9, 6)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _line(cells: tuple[str, ...]) -> str:
    first, *rest = cells
    return (first.ljust(WIDTHS[0]) + "".join(c.rjust(w) for c, w in zip(rest[:-1], WIDTHS[1:-1],
                                                                        strict=True))
            + "  " + rest[-1]).rstrip()


def _row(name: str, row: dict[str, Any]) -> str:
    failure = row.get("failure_rate")
    return _line((name, _percent(row.get("weight")), _percent(row.get("iteration_share")),
                  str(row.get("iterations", 0)), str(row.get("requests", 0)),
                  "-" if failure is None else f"{failure * 100:.2f}%",
                  _ms(row.get("p95_ms")), _ms(row.get("p99_ms")),
                  "PASS" if row.get("passed") else "FAIL"))


def render(summary: dict[str, Any]) -> str:
    """The verdict text (ends with a newline)."""
    duration = summary.get("duration_seconds")
    lines = [
        f"WedSync load test {summary.get('testid') or '(no test id)'}: {summary['verdict']}",
        f"profile {summary.get('profile') or '?'}"
        + (f", {elapsed_text(duration)}" if duration is not None else "")
        + (f", k6 exit code {summary['k6_exit_code']}"
           if summary.get("k6_exit_code") is not None else "")
        + (f", {summary['base_url']}" if summary.get("base_url") else ""),
        "",
        _line(COLUMNS),
    ]
    scenarios = summary.get("scenarios", {})
    lines += [_row(name, row) for name, row in scenarios.items()]
    lines.append(_row(ALL, summary["overall"]))
    realtime = [name for name, row in scenarios.items() if row.get("kind") == "realtime"]
    if realtime:
        lines.append(f"({realtime[0]}: requests = Core Field deliveries measured, failed = "
                     f"not delivered; latency = propagation to the other clients)")
    dropped = summary["overall"].get("dropped_iterations")
    if dropped:
        lines.append(f"note: k6 dropped {dropped} iterations for want of VUs: the load asked "
                     f"for was not all offered (raise MAX_ITERATION_SECONDS or check the "
                     f"machine running k6)")
    lines += ["", "thresholds (the SLOs)"]
    for threshold in summary.get("thresholds", []):
        lines.append(f"  {'PASS' if threshold['ok'] else 'FAIL'}  "
                     f"{threshold['scenario']:<22}{threshold['metric']:<46}"
                     f"{threshold['expression']:<14}"
                     f"{format_value(threshold['value'], threshold['unit'])}")
    lines.append("")
    if summary["verdict"] == "PASS":
        lines.append("VERDICT: PASS")
    else:
        lines.append("VERDICT: FAIL")
        lines += [f"  - {reason}" for reason in summary.get("reasons", [])]
    return "\n".join(lines) + "\n"
