"""The generated part of docs/dashboards.md: every dashboard's variables and panels, from the
same JSON that Grafana loads, so the page cannot drift from the dashboards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dashboards.schemas import panels
from dashboards.settings import Board

DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "dashboards.md"
BEGIN = "<!-- generated:dashboards -->"
END = "<!-- end generated:dashboards -->"
TYPE_NAMES = {"timeseries": "time series", "stat": "stat", "state-timeline": "state timeline",
              "table": "table", "heatmap": "heatmap", "alertlist": "alert list"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _variable(variable: dict[str, Any]) -> str:
    if variable["type"] == "datasource":
        return f"`${variable['name']}`: the Prometheus datasource (default: the provisioned one)"
    if variable["type"] == "custom":
        return f"`${variable['name']}`: one of {variable['query']}"
    many = "any, several or All" if variable.get("includeAll") else "one"
    return f"`${variable['name']}` ({variable.get('label', '')}): {many} of `{variable['query']}`"


def section(models: dict[Board, dict[str, Any]]) -> str:
    """The generated Markdown: one heading per dashboard, its variables, a table of panels."""
    lines = [BEGIN]
    for board, model in models.items():
        lines += ["", f"### {model['title'].split(' / ', 1)[-1]}", "",
                  f"UID `{board.uid}` (`{board.path}`), file `grafana/dashboards/{board.file}`. "
                  f"{model.get('description', '')}", "",
                  "Variables: " + "; ".join(_variable(v) for v in model["templating"]["list"])
                  + ".", "", "| panel | type | unit | shows |", "|---|---|---|---|"]
        for panel in panels(model):
            unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
            lines.append(f"| {_cell(panel['title'])} | {TYPE_NAMES[panel['type']]} | "
                         f"`{unit}` | {_cell(panel['description'])} |")
    lines += ["", END]
    return "\n".join(lines)


def updated(text: str, models: dict[Board, dict[str, Any]]) -> str:
    """``text`` (docs/dashboards.md) with its generated section replaced."""
    head, begin, rest = text.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"{DOCUMENT} lacks the markers {BEGIN} and {END}")
    return head + section(models) + tail
