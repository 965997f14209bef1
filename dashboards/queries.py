"""Every panel query of the generated dashboards, and Grafana's template variables filled in.

The lints parse each query with the variables replaced by placeholders; the "every query
returns data" test replaces them with what Grafana would send to a real Prometheus.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from dashboards.schemas import panels
from dashboards.settings import Board

# $name, ${name} and ${name:format} (Grafana's variable syntax).
VARIABLE = re.compile(r"\$(?:\{(?P<braced>\w+)(?::\w+)?\}|(?P<bare>\w+))")
# Grafana's own variables that may appear in a query.
RATE_INTERVAL = "__rate_interval"
RANGE = "__range"
BUILT_IN = (RATE_INTERVAL, RANGE)


@dataclass(frozen=True)
class PanelQuery:
    """One target of one panel."""

    board: Board
    panel: str
    ref: str
    expr: str
    instant: bool

    @property
    def name(self) -> str:
        """``<dashboard uid> / <panel title> / <refId>``, as test ids and messages show it."""
        return f"{self.board.uid} / {self.panel} / {self.ref}"


def panel_queries(models: Mapping[Board, dict[str, Any]]) -> Iterator[PanelQuery]:
    """Every panel target of every dashboard, in dashboard and panel order."""
    for board, model in models.items():
        for panel in panels(model):
            for target in panel.get("targets", []):
                yield PanelQuery(board, panel["title"], target["refId"], target["expr"],
                                 bool(target.get("instant")))


def variable_names(expr: str) -> set[str]:
    """The template variables ``expr`` uses."""
    return {m["braced"] or m["bare"] for m in VARIABLE.finditer(expr)}


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """``expr`` with each variable replaced by ``values[name]`` (KeyError names a missing one)."""
    def replace(match: re.Match[str]) -> str:
        name = match["braced"] or match["bare"]
        if name not in values:
            raise KeyError(f"no value for ${name} in {expr!r}")
        return values[name]
    return VARIABLE.sub(replace, expr)


def variables(model: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The dashboard's template variables by name."""
    return {v["name"]: v for v in model.get("templating", {}).get("list", [])}


def label_values_query(variable: dict[str, Any]) -> tuple[str, str] | None:
    """``(series selector, label)`` of a ``label_values(selector, label)`` query variable."""
    found = re.fullmatch(r"label_values\((?P<selector>.+),\s*(?P<label>\w+)\)",
                         str(variable.get("query", "")).strip())
    return (found["selector"], found["label"]) if found else None


def custom_default(variable: dict[str, Any]) -> str:
    """The value a custom variable starts with."""
    current = variable.get("current") or {}
    return str(current.get("value") or str(variable["query"]).split(",")[0])


def rate_interval(scrape_interval: float, interval: float) -> float:
    """Grafana's ``$__rate_interval`` in seconds: max($__interval + scrape interval,
    4 x scrape interval), the scrape interval being the datasource's "scrape interval"
    (``timeInterval``)."""
    return max(interval + scrape_interval, 4 * scrape_interval)
