"""Writing the report: ``report.json`` (``FORMAT``) and ``report.html``, which shows the same
document for people — the verdict line first, then the reasons, the fault's timings, the
charts (PNG files beside it), the alerts, the pages, the SLOs, the load test and the exporter.
Every value is escaped; the page needs nothing but the files in its directory.
"""

from __future__ import annotations

import datetime as dt
import json
from html import escape
from pathlib import Path
from typing import Any

from exporter.human_time import duration_text, elapsed_text

FORMAT = "wedsync-drill-report/1"

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 70em;
       color: #1d1d1d; padding: 0 1em; }
#verdict { font-size: 1.35em; font-weight: 700; padding: .6em .8em; border-radius: 6px; }
#verdict.ready { background: #e3f4e1; border: 2px solid #2ca02c; }
#verdict.not-ready { background: #fbe3e1; border: 2px solid #d62728; }
table { border-collapse: collapse; margin: .5em 0 1em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.bad { color: #b00020; font-weight: 600; } .good { color: #1b7a1b; }
img { max-width: 100%; border: 1px solid #ddd; margin: .3em 0 1em; }
code { background: #f3f3f3; padding: 0 .2em; }
"""


def _text(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _seconds(value: float | None) -> str:
    return "–" if value is None else elapsed_text(value)


def _offset(value: float | None) -> str:
    """``t+12.3 s`` or ``t+5 min 13 s``: when, counted from the drill's start."""
    return "–" if value is None else f"t+{elapsed_text(value)}"


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.3g}%"


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "–"
    moment = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _table(headers: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td{" class=num" if i in numeric else ""}>{escape(cell)}</td>'
                         for i, cell in enumerate(row)) + "</tr>"
        for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _pairs(rows: list[tuple[str, str]]) -> str:
    return ("<table>" + "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>"
                                for k, v in rows) + "</table>")


def _verdict_section(report: dict[str, Any]) -> str:
    css = "ready" if report["verdict"] == "READY" else "not-ready"
    reasons = "".join(f"<li><code>{escape(r['rule'])}</code> {escape(r['text'])}</li>"
                      for r in report["reasons"])
    return (f'<p id="verdict" class="{css}">{escape(report["headline"])}</p>'
            + (f'<ul id="reasons">{reasons}</ul>' if reasons else ""))


def _fault_section(report: dict[str, Any]) -> str:
    fault, detection, pages = report["fault"], report["detection"], report["pages"]
    promise = detection.get("promise") or {}
    rows = [
        ("fault", f"{fault['name']}: {fault['title']}"),
        ("what it broke", fault["injector"]),
        ("injected", f"{_offset(fault['injected_offset_seconds'])} "
                     f"({_when(fault['injected_at'])})"),
        ("recovered", _offset(fault['recovered_offset_seconds'])),
        ("detecting alert", _text(detection["alert"])),
        ("time to dashboard", _seconds(detection["dashboard_seconds"])),
        ("time to detect", _seconds(detection["detect_seconds"])),
        ("time to page", _seconds(detection["page_seconds"])),
        ("promised time to page", "–" if not promise else
         f"{duration_text(promise['best_seconds'])}–{duration_text(promise['worst_seconds'])} "
         f"({promise['alert']})"),
        ("time to resolve (recovery → alert resolved)", _seconds(detection["resolve_seconds"])),
        ("time to all-clear (recovery → pager resolved)",
         _seconds(detection["all_clear_seconds"])),
        ("pages for the fault", str(len(pages["for_fault"]))),
        ("missed pages", "1" if pages["missed"] else "0"),
        ("duplicated pages", str(len(pages["duplicated"]))),
        ("unexpected pages", str(len(pages["unexpected"]))),
        ("Watchdog notifications during the drill", str(pages["watchdog_notifications"])),
    ]
    return "<h2>The fault and the pager</h2>" + _pairs(rows)


def _charts_section(report: dict[str, Any]) -> str:
    images = "".join(f'<figure><img src="{escape(c["file"])}" alt="{escape(c["title"])}">'
                     f"<figcaption>{escape(c['title'])}</figcaption></figure>"
                     for c in report["charts"])
    return f"<h2>Charts</h2>{images}"


def _alerts_section(report: dict[str, Any]) -> str:
    rows = []
    for alert in report["alerts"]:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(alert["labels"].items())
                           if k not in ("severity", "category", "source"))
        fired = ("before the drill" if alert["firing_before_drill"]
                 else _offset(alert['fired_offset_seconds']))
        resolved = ("still firing" if alert["resolved_offset_seconds"] is None
                    else _offset(alert['resolved_offset_seconds']))
        rows.append([alert["alertname"], labels, alert["severity"], fired, resolved,
                     _text(alert["explained_by_fault"]), ", ".join(alert["receivers"]),
                     _text(alert["inhibited"])])
    return "<h2>Alerts</h2>" + _table(
        ["alert", "labels", "severity", "fired", "resolved", "explained by the fault",
         "receivers", "inhibited"], rows)


def _pages_section(report: dict[str, Any]) -> str:
    started = report["started_at"]
    rows = [[page["description"], _offset(page["opened_at"] - started),
             "never" if page["resolved_at"] is None
             else _offset(page["resolved_at"] - started),
             str(page["notifications"]), "for the fault" if page["for_fault"] else "unexpected"]
            for page in report["pages"]["during_drill"]]
    return (f"<h2>Pages (receiver {escape(report['pages']['receiver'])})</h2>"
            + (_table(["alerts", "opened", "resolved", "notifications", "kind"], rows)
               if rows else "<p>No page during the drill.</p>"))


def _slo_section(report: dict[str, Any]) -> str:
    rows = [[slo["slo"], f"{slo['objective'] * 100:g}%", _ratio(slo["budget"]),
             _ratio(slo["error_ratio"]), _text(None if slo["events"] is None
                                               else round(slo["events"])),
             _ratio(slo["max_ratio_5m"]),
             "broken by the fault (by design)" if slo["broken_by_fault"]
             else ("held" if slo["held"] else "NOT held")]
            for slo in report["slos"]]
    return ("<h2>SLOs over the load</h2>"
            + _table(["SLO", "objective", "error budget", "failed over the load", "events",
                      "peak 5-minute ratio", "result"], rows, numeric={3, 4, 5}))


def _load_section(report: dict[str, Any]) -> str:
    load = report["load"]
    rows = []
    for name, row in load["scenarios"].items():
        rows.append([name, str(row.get("requests", 0)), _ratio(row.get("failure_rate")),
                     _text(None if row.get("p95_ms") is None else round(row["p95_ms"], 1)),
                     _text(None if row.get("p99_ms") is None else round(row["p99_ms"], 1)),
                     "PASS" if row.get("passed") else "FAIL"])
    reasons = "".join(
        f"<li>{escape(r)}{' (crossed by the fault, by design)' if r in load['excused'] else ''}"
        "</li>" for r in load["reasons"])
    return (f"<h2>Load test (k6): {escape(load['verdict'])}</h2>"
            + _table(["scenario", "requests", "failed", "p95 ms", "p99 ms", "result"], rows,
                     numeric={1, 2, 3, 4})
            + (f"<ul>{reasons}</ul>" if reasons else ""))


def _exporter_section(report: dict[str, Any]) -> str:
    health = report["exporter"]
    state = "healthy" if health["healthy"] else "NOT healthy"
    rows = [("scrapes (failed)", f"{_text(health['scrapes'])} ({_text(health['failed_scrapes'])})"),
            ("slowest scrape", _seconds(health["max_scrape_seconds"])),
            ("worst event-loop lag", _seconds(health["max_loop_lag_seconds"])),
            ("/-/healthy checks (failed)",
             f"{health['liveness_polls']} ({health['liveness_failures']})"),
            ("request timings accepted", _text(None if health["ingest_accepted"] is None
                                               else round(health["ingest_accepted"]))),
            ("request timings rejected", _text(None if health["ingest_rejected"] is None
                                               else round(health["ingest_rejected"])))]
    return f"<h2>Exporter: {state}</h2>" + _pairs(rows)


def _settings_section(report: dict[str, Any]) -> str:
    rows = [(key, _text(value)) for key, value in report["settings"].items()]
    rows += [(f"target {key}", _text(value)) for key, value in report["target"].items()]
    return "<h2>Settings</h2>" + _pairs(rows)


def html(report: dict[str, Any]) -> str:
    """The HTML page of a report."""
    title = f"WedSync drill {report['drill_id']}: {report['verdict']}"
    sections = (_verdict_section, _fault_section, _charts_section, _alerts_section,
                _pages_section, _slo_section, _load_section, _exporter_section,
                _settings_section)
    body = "".join(section(report) for section in sections)
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{escape(title)}</h1>{body}</body></html>\n")


def write(report: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    """Write report.json and report.html into ``directory``; their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / "report.json"
    json_path.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")
    html_path = directory / "report.html"
    html_path.write_text(html(report))
    return json_path, html_path
