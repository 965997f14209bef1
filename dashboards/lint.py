"""The conventions every generated dashboard keeps, as checks that return what breaks them.

- panel ids unique; the grid within 24 columns, no two panels overlapping;
- every panel with a title, a description and a known unit; no Angular panel types;
- the datasource as ``{type: prometheus, uid: ${datasource}}`` through a template variable;
- every query parses; every variable it uses is defined; ``rate``/``irate`` over
  ``$__rate_interval`` and ``increase`` over it or ``$__range``, and all three only over
  counters; every metric allowed by DESIGN.md's catalogue rule (``alerts.metric_names``);
- links to dashboards that exist and to runbooks of alerts that exist.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import promql_parser

from alerts.build import all_alerts, recorded_names
from alerts.metric_names import unknown_metrics
from alerts.settings import RUNBOOK_BASE_URL
from dashboards.promql import counter_names
from dashboards.queries import (
    BUILT_IN,
    RANGE,
    RATE_INTERVAL,
    custom_default,
    substitute,
    variable_names,
    variables,
)
from dashboards.schemas import panels
from dashboards.settings import BOARDS, DATASOURCE_REF, DATASOURCE_TYPE, DATASOURCE_VARIABLE
from dashboards.units import is_known_unit
from loadtests.metrics import REMOTE_WRITE_METRICS

COLUMNS = 24
# Grafana's Angular panels (removed in Grafana 12) and the React panels that replace them.
ANGULAR_TYPES = frozenset({"graph", "singlestat", "table-old", "grafana-singlestat-panel",
                           "grafana-piechart-panel", "grafana-worldmap-panel"})
CORE_TYPES = frozenset({"timeseries", "stat", "gauge", "bargauge", "table", "heatmap",
                        "state-timeline", "status-history", "text", "alertlist", "barchart",
                        "piechart", "histogram", "dashlist"})
# Placeholders for parsing: durations no panel writes by hand, so each is recognisable.
PLACEHOLDER_RATE_INTERVAL = dt.timedelta(hours=1, minutes=1, seconds=1)
PLACEHOLDER_RANGE = dt.timedelta(hours=2, minutes=2, seconds=2)
PLACEHOLDERS = {RATE_INTERVAL: "1h1m1s", RANGE: "2h2m2s"}
COUNTER_FUNCTIONS = ("rate", "irate", "increase", "resets")
WINDOWS = {"rate": (PLACEHOLDER_RATE_INTERVAL,), "irate": (PLACEHOLDER_RATE_INTERVAL,),
           "increase": (PLACEHOLDER_RATE_INTERVAL, PLACEHOLDER_RANGE)}


def allowed_names() -> frozenset[str]:
    """Metrics a panel may name besides the catalogue's: recording rules and k6's series."""
    return recorded_names() | REMOTE_WRITE_METRICS


def placeholder_values(model: dict[str, Any]) -> dict[str, str]:
    """A value for every variable the dashboard defines, good enough to parse a query."""
    values = dict(PLACEHOLDERS)
    for name, variable in variables(model).items():
        values[name] = custom_default(variable) if variable["type"] == "custom" else "x"
    return values


def query_problems(expr: str, values: dict[str, str]) -> Iterator[str]:
    """What is wrong with one panel query."""
    missing = variable_names(expr) - set(values) - set(BUILT_IN)
    if missing:
        yield f"uses undefined variables {sorted(missing)}"
        return
    text = substitute(expr, values)
    try:
        tree = promql_parser.parse(text)
    except ValueError as error:
        yield f"does not parse: {error}"
        return
    unknown = unknown_metrics(text, allowed_names())
    if unknown:
        yield f"names metrics outside the catalogue rule: {sorted(unknown)}"
    counters = counter_names()
    problems: list[str] = []

    def visit(node: object) -> None:
        if isinstance(node, promql_parser.MatrixSelector) and not any(
                node.range == w for ws in WINDOWS.values() for w in ws):
            problems.append(f"a range of {node.range} instead of $__rate_interval or $__range")
        if not isinstance(node, promql_parser.Call) or node.func.name not in COUNTER_FUNCTIONS:
            return
        for argument in node.args:
            if isinstance(argument, promql_parser.MatrixSelector):
                name = argument.vector_selector.name
                if name not in counters:
                    problems.append(f"{node.func.name}() over {name}, which is not a counter")
                windows = WINDOWS.get(node.func.name, ())
                if windows and argument.range not in windows:
                    problems.append(f"{node.func.name}() over {argument.range}, not "
                                    + " or ".join(f"${n}" for n in BUILT_IN[:len(windows)]))

    promql_parser.walk(tree, visit)
    yield from dict.fromkeys(problems)


def _overlap(a: dict[str, int], b: dict[str, int]) -> bool:
    return (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
            and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])


def grid_problems(model: dict[str, Any]) -> Iterator[str]:
    """Ids unique, panels within 24 columns and not overlapping (rows included)."""
    every = [p for top in model.get("panels", [])
             for p in (top, *top.get("panels", []))]
    ids = [p.get("id") for p in every]
    for duplicate in sorted({i for i in ids if ids.count(i) > 1}, key=str):
        yield f"panel id {duplicate} is used more than once"
    placed = [(p["title"], p["gridPos"]) for p in every if "gridPos" in p]
    for title, pos in placed:
        if pos["x"] < 0 or pos["w"] < 1 or pos["x"] + pos["w"] > COLUMNS:
            yield f"panel {title!r} leaves the 24-column grid ({pos})"
    for i, (title, pos) in enumerate(placed):
        for other, other_pos in placed[i + 1:]:
            if _overlap(pos, other_pos):
                yield f"panels {title!r} and {other!r} overlap"


def panel_problems(panel: dict[str, Any]) -> Iterator[str]:
    """Title, description, unit, type and datasource of one panel."""
    title = panel.get("title", "")
    if not title.strip():
        yield f"a {panel['type']} panel has no title"
    if not panel.get("description", "").strip():
        yield f"panel {title!r} has no description"
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
    if not unit:
        yield f"panel {title!r} has no unit"
    elif not is_known_unit(unit):
        yield f"panel {title!r} has unit {unit!r}, which Grafana does not know"
    if panel["type"] in ANGULAR_TYPES or panel["type"] not in CORE_TYPES:
        yield f"panel {title!r} has type {panel['type']!r}, not one of Grafana's React panels"
    if panel.get("targets"):
        sources = [panel.get("datasource"), *(t.get("datasource") for t in panel["targets"])]
        if any(source != DATASOURCE_REF for source in sources):
            yield f"panel {title!r} does not use the datasource variable ({DATASOURCE_REF})"


def link_problems(model: dict[str, Any]) -> Iterator[str]:
    """Links to dashboards that exist and runbooks of alerts that exist."""
    uids = {board.path for board in BOARDS}
    alerts = {alert.name for alert in all_alerts()}
    found = [(f"panel {p['title']!r}", link) for p in panels(model) for link in p.get("links", [])]
    found += [("the dashboard", link) for link in model.get("links", [])]
    for owner, link in found:
        url = link.get("url", "")
        if url.startswith("/d/") and url not in uids:
            yield f"{owner} links to {url}, which is no WedSync dashboard"
        if url.startswith(RUNBOOK_BASE_URL + "/"):
            alert = url.removeprefix(RUNBOOK_BASE_URL + "/").removesuffix(".md")
            if alert not in alerts:
                yield f"{owner} links to the runbook of {alert}, which is no alert"


def datasource_problems(model: dict[str, Any]) -> Iterator[str]:
    """The datasource variable exists and picks Prometheus datasources."""
    variable = variables(model).get(DATASOURCE_VARIABLE)
    if not variable or variable.get("type") != "datasource" \
            or variable.get("query") != DATASOURCE_TYPE:
        yield f"no ${DATASOURCE_VARIABLE} variable of type datasource for {DATASOURCE_TYPE}"
    for name, other in variables(model).items():
        if other["type"] == "query" and other.get("datasource") != DATASOURCE_REF:
            yield f"variable ${name} does not query the datasource variable"


def problems(model: dict[str, Any]) -> list[str]:
    """Everything about one dashboard that breaks the conventions."""
    out = [*grid_problems(model), *link_problems(model), *datasource_problems(model)]
    values = placeholder_values(model)
    for panel in panels(model):
        out += panel_problems(panel)
        for target in panel.get("targets", []):
            out += [f"panel {panel['title']!r} query {target['refId']}: {problem}"
                    for problem in query_problems(target["expr"], values)]
    for name, variable in variables(model).items():
        query = str(variable.get("query", ""))
        if variable["type"] == "query" and query.startswith("label_values("):
            selector = query.removeprefix("label_values(").rsplit(",", 1)[0]
            out += [f"variable ${name}: {problem}"
                    for problem in query_problems(selector, values)]
    return out
