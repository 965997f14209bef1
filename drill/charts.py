"""The report's charts (PNG, matplotlib's Agg backend, no display needed): the SLIs from the
recording rules, the components' up/down strip, the alert timeline with the pages, and the API
traffic the exporter saw. Every chart shades the fault's window.

``collect`` reads the series from Prometheus once, after the run; ``draw`` writes the files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib import ticker

matplotlib.use("Agg")
from matplotlib.figure import Figure

from drill.analysis import DrillTimes, Page
from drill.apis import APIError, Prometheus

Points = list[tuple[float, float]]
WIDTH, HEIGHT, DPI = 9.0, 3.2, 100
FAULT_COLOUR = "#f4b183"
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf")


@dataclass
class ChartData:
    """The series the charts draw, as offsets in seconds from the drill's start."""

    sli: dict[str, Points] = field(default_factory=dict)
    budget: dict[str, float] = field(default_factory=dict)
    components: dict[str, Points] = field(default_factory=dict)
    traffic: dict[str, Points] = field(default_factory=dict)
    latency_p95: Points = field(default_factory=list)
    k6_rate: Points = field(default_factory=list)


def _series(prometheus: Prometheus, expr: str, label: str, times: DrillTimes, step: float
            ) -> dict[str, Points]:
    try:
        result = prometheus.query_range(expr, times.started_at, times.finished_at, step)
    except APIError:
        return {}
    out: dict[str, Points] = {}
    for series in result:
        name = series["metric"].get(label, label)
        points = [(float(t) - times.started_at, float(v)) for t, v in series["values"]]
        out[name] = [(t, v) for t, v in points if math.isfinite(v)]
    return out


def collect(prometheus: Prometheus, times: DrillTimes, scrape_interval: float,
            evaluation_interval: float, testid: str) -> ChartData:
    """Every series the charts need, over the whole drill."""
    duration = times.finished_at - times.started_at
    step = max(evaluation_interval, duration / 300)
    # A rate needs a few scrapes in its window.
    window = f"{max(4 * int(scrape_interval), 10)}s"
    data = ChartData()
    data.sli = _series(prometheus, "slo:sli_error:ratio_rate5m", "slo", times, step)
    try:
        data.budget = {r["metric"]["slo"]: float(r["value"][1])
                       for r in prometheus.query("slo:error_budget:ratio", times.finished_at)}
    except APIError:
        data.budget = {}
    data.components = _series(prometheus, "min by (component) (wedsync_up)", "component",
                              times, step)
    data.traffic = _series(
        prometheus, "sum by (status_class) (rate(wedsync_http_request_duration_seconds_count"
                    f"[{window}]))", "status_class", times, step)
    data.latency_p95 = next(iter(_series(
        prometheus, "histogram_quantile(0.95, sum by (le) (rate("
                    f"wedsync_http_request_duration_seconds_bucket[{window}])))", "p95",
        times, step).values()), [])
    data.k6_rate = next(iter(_series(
        prometheus, f'sum(rate(k6_http_reqs_total{{testid="{testid}"}}[{window}]))', "k6",
        times, step).values()), [])
    return data


def _frame(title: str, times: DrillTimes, height: float = HEIGHT) -> tuple[Figure, Any]:
    figure = Figure(figsize=(WIDTH, height), dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(title, fontsize=11, loc="left")
    axes.set_xlabel("seconds since the drill started")
    axes.set_xlim(0, max(1.0, times.finished_at - times.started_at))
    if times.injected_at is not None:
        end = times.recovered_at or times.finished_at
        axes.axvspan(times.injected_at - times.started_at, end - times.started_at,
                     color=FAULT_COLOUR, alpha=0.35, label="fault", lw=0)
    axes.grid(True, alpha=0.3)
    return figure, axes


def _no_data(axes: Any, what: str) -> None:
    axes.text(0.5, 0.5, f"no {what} in Prometheus", transform=axes.transAxes,
              ha="center", va="center", color="#666666")


def sli_chart(data: ChartData, times: DrillTimes, path: Path) -> None:
    """SLI error ratios (5-minute recording rules) against each SLO's error budget."""
    figure, axes = _frame("SLI error ratio (slo:sli_error:ratio_rate5m) and error budgets",
                          times)
    for index, slo in enumerate(sorted(set(data.sli) | set(data.budget))):
        colour = COLOURS[index % len(COLOURS)]
        points = data.sli.get(slo, [])
        if points:
            axes.plot(*zip(*points, strict=True), color=colour, label=slo, lw=1.6)
        else:
            # The ratio has no series when no bad event was recorded at all (no 5xx, say).
            axes.plot([], [], color=colour, label=f"{slo} (no failures recorded)")
        if slo in data.budget:
            axes.axhline(data.budget[slo], color=colour, ls="--", lw=0.9, alpha=0.8)
    if not any(data.sli.values()):
        _no_data(axes, "SLI series")
    axes.set_ylabel("share of events failing")
    axes.yaxis.set_major_formatter(ticker.PercentFormatter(1.0))
    axes.legend(fontsize=8, loc="upper right")
    figure.savefig(path)


def component_chart(data: ChartData, times: DrillTimes, path: Path) -> None:
    """One strip per component: green while its probe succeeds, red while it fails."""
    names = sorted(data.components)
    figure, axes = _frame("Components (wedsync_up): what the dashboard showed", times,
                          height=max(2.0, 0.45 * len(names) + 1.3))
    for row, name in enumerate(names):
        points = data.components[name]
        for (start, value), (end, _) in zip(points, [*points[1:], points[-1]], strict=True):
            axes.broken_barh([(start, max(end - start, 0.5))], (row - 0.35, 0.7),
                             color="#2ca02c" if value >= 1 else "#d62728")
    axes.set_yticks(range(len(names)), names)
    axes.set_ylim(-0.6, max(len(names), 1) - 0.4)
    if not names:
        _no_data(axes, "wedsync_up series")
    figure.savefig(path)


def alert_chart(alerts: list[dict[str, Any]], pages: list[Page], times: DrillTimes,
                path: Path) -> None:
    """A bar per alert while it fired; a triangle where a page opened, a circle where it was
    resolved."""
    rows = sorted({_alert_label(a) for a in alerts})
    figure, axes = _frame("Alerts firing (bars) and pages (▼ opened, ● resolved)", times,
                          height=max(2.0, 0.45 * len(rows) + 1.3))
    end = times.finished_at - times.started_at
    for alert in alerts:
        row = rows.index(_alert_label(alert))
        start = max(0.0, alert["fired_offset_seconds"])
        stop = alert["resolved_offset_seconds"] or end
        colour = "#d62728" if alert["explained_by_fault"] else "#7f7f7f"
        axes.broken_barh([(start, max(stop - start, 0.3))], (row - 0.3, 0.6), color=colour)
    for page in pages:
        for name in page.alertnames():
            matching = [r for r in rows if r.split("{")[0] == name]
            for label in matching:
                row = rows.index(label)
                axes.plot(page.opened_at - times.started_at, row + 0.42, "v", color="black")
                if page.resolved_at is not None:
                    axes.plot(page.resolved_at - times.started_at, row + 0.42, "o",
                              color="black", mfc="white")
    axes.set_yticks(range(len(rows)), rows, fontsize=8)
    axes.set_ylim(-0.6, max(len(rows), 1) - 0.1)
    if not rows:
        _no_data(axes, "alerts")
    figure.savefig(path)


def _alert_label(alert: dict[str, Any]) -> str:
    keep = {k: v for k, v in alert["labels"].items() if k in ("slo", "component", "target")}
    inner = ",".join(f"{k}={v}" for k, v in sorted(keep.items()))
    return f"{alert['alertname']}{{{inner}}}" if inner else alert["alertname"]


def traffic_chart(data: ChartData, times: DrillTimes, path: Path) -> None:
    """API requests per second as the exporter received them (by status class), k6's own
    request rate, and the p95 latency the exporter computed."""
    figure, axes = _frame("API traffic seen by the exporter (ingested request timings)", times)
    for index, (status, points) in enumerate(sorted(data.traffic.items())):
        if points:
            axes.plot(*zip(*points, strict=True), color=COLOURS[index % len(COLOURS)],
                      label=f"{status} /s", lw=1.4)
    if data.k6_rate:
        axes.plot(*zip(*data.k6_rate, strict=True), color="black", ls=":", lw=1.2,
                  label="k6 requests /s")
    axes.set_ylabel("requests per second")
    axes.set_ylim(bottom=0)
    if data.latency_p95:
        right = axes.twinx()
        right.plot(*zip(*[(t, v * 1000) for t, v in data.latency_p95], strict=True),
                   color="#ff7f0e", lw=1.0, alpha=0.8, label="p95 ms")
        right.set_ylabel("p95 latency (ms)", color="#ff7f0e")
        right.set_ylim(bottom=0)
    if not data.traffic:
        _no_data(axes, "request timings")
    axes.legend(fontsize=8, loc="upper left")
    figure.savefig(path)


CHARTS: tuple[tuple[str, str], ...] = (
    ("slis.png", "SLIs from the recording rules"),
    ("components.png", "Components"),
    ("alerts.png", "Alerts and pages"),
    ("traffic.png", "API traffic"),
)


def draw(directory: Path, data: ChartData, alerts: list[dict[str, Any]], pages: list[Page],
         times: DrillTimes) -> list[dict[str, str]]:
    """Write every chart into ``directory``; their file names and titles."""
    sli_chart(data, times, directory / "slis.png")
    component_chart(data, times, directory / "components.png")
    alert_chart(alerts, pages, times, directory / "alerts.png")
    traffic_chart(data, times, directory / "traffic.png")
    return [{"file": name, "title": title} for name, title in CHARTS]
