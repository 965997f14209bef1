"""Panel factories: every panel gets a title, a description, a unit and the datasource variable
here, so the dashboard modules only say what differs.

The factories build grafanalib objects. Two panel types grafanalib 0.7.1 only knows in their
retired shape (the heatmap before Grafana 9 and the alert list before unified alerting) are
small ``Panel`` subclasses below that write today's options; ``dashboards.normalise`` turns
the rest of grafanalib's output into current Grafana's schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import attr
from grafanalib import core

from dashboards.settings import DATASOURCE_REF

# Colours by meaning, so every dashboard says "bad" the same way.
GOOD, WARN, BAD, INFO = "green", "orange", "red", "blue"
REF_IDS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class Query:
    """One panel query: PromQL, the legend, and whether Grafana asks for one instant only."""

    expr: str
    legend: str = ""
    instant: bool = False
    table: bool = False


@dataclass(frozen=True)
class Step:
    """A threshold: from ``value`` up the colour is ``color`` (None: from minus infinity)."""

    value: float | None
    color: str


@dataclass(frozen=True)
class Override:
    """Field properties (``{"custom.lineStyle": {...}}``) for the series with these names.

    Matched with Grafana's ``byNames`` matcher, whose options are an object (the schema
    refuses the string option of ``byName``)."""

    names: tuple[str, ...]
    properties: dict[str, Any] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        matcher = {"id": "byNames", "options": {"mode": "include", "names": list(self.names),
                                                "prefix": "All except:", "readOnly": True}}
        return {"matcher": matcher,
                "properties": [{"id": k, "value": v} for k, v in self.properties.items()]}


def rising(*steps: tuple[float, str], base: str = GOOD) -> list[Step]:
    """Thresholds for a value where higher is worse: ``base`` below the first step."""
    return [Step(None, base), *(Step(value, color) for value, color in steps)]


def falling(*steps: tuple[float, str], base: str = BAD) -> list[Step]:
    """Thresholds for a value where lower is worse (a hit ratio): ``base`` below the first."""
    return rising(*steps, base=base)


def value_map(*entries: tuple[float, str, str]) -> list[core.StatValueMappings]:
    """Value mappings ``(value, text, colour)``: a status number shown as a word."""
    items = [core.StatValueMappingItem(text, format(value, "g"), color, index)
             for index, (value, text, color) in enumerate(entries)]
    return [core.StatValueMappings(*items)]


def link(title: str, url: str, tooltip: str = "", keep_time: bool = True
         ) -> core.DashboardLink:
    """A link from a panel or a dashboard to a URL (another dashboard, a runbook)."""
    return core.DashboardLink(type="link", title=title, uri=url, tooltip=tooltip or title,
                              keepTime=keep_time, includeVars=False, icon="external link")


def _targets(queries: Sequence[Query]) -> list[core.Target]:
    return [core.Target(expr=q.expr, legendFormat=q.legend, refId=REF_IDS[i],
                        instant=q.instant, format="table" if q.table else "time_series",
                        datasource=dict(DATASOURCE_REF))
            for i, q in enumerate(queries)]


def _thresholds(steps: Sequence[Step]) -> list[core.Threshold]:
    return [core.Threshold(s.color, i, float(s.value if s.value is not None else 0))
            for i, s in enumerate(steps)]


def _common(title: str, description: str, queries: Sequence[Query],
            links: Sequence[core.DashboardLink], steps: Sequence[Step]) -> dict[str, Any]:
    if not description.strip():
        raise ValueError(f"panel {title!r} needs a description")
    return {"title": title, "description": description, "targets": _targets(queries),
            "dataSource": dict(DATASOURCE_REF), "links": list(links),
            "thresholds": _thresholds(steps or rising()), "maxDataPoints": None}


def timeseries(title: str, description: str, unit: str, queries: Sequence[Query], *,
               steps: Sequence[Step] = (), links: Sequence[core.DashboardLink] = (),
               overrides: Sequence[Override] = (), stacked: bool = False,
               minimum: int | None = None, maximum: int | None = None,
               legend: str = "list", bars: bool = False) -> core.TimeSeries:
    """A time series; ``steps`` are drawn as dashed lines (the SLO or alert thresholds)."""
    return core.TimeSeries(
        **_common(title, description, queries, links, steps), unit=unit,
        thresholdsStyleMode="dashed" if steps else "off",
        stacking={"mode": "normal", "group": "A"} if stacked else {"mode": "none",
                                                                    "group": "A"},
        fillOpacity=20 if stacked or bars else 0, drawStyle="bars" if bars else "line",
        valueMin=minimum, valueMax=maximum, legendDisplayMode=legend,
        legendPlacement="bottom", tooltipMode="multi", tooltipSort="desc", showPoints="never",
        overrides=[o.json() for o in overrides])


def stat(title: str, description: str, unit: str, queries: Sequence[Query], *,
         steps: Sequence[Step] = (), links: Sequence[core.DashboardLink] = (),
         mappings: Sequence[core.StatValueMappings] = (), no_value: str = "No data",
         graph: bool = True, background: bool = False, decimals: int | None = None,
         overrides: Sequence[Override] = ()) -> core.Stat:
    """A single value (its last one over the time range), coloured by ``steps``."""
    return core.Stat(
        **_common(title, description, queries, links, steps), format=unit,
        reduceCalc="lastNotNull", graphMode="area" if graph else "none",
        colorMode="background" if background else "value", mappings=list(mappings),
        noValue=no_value, decimals=decimals, textMode="value_and_name"
        if any(q.legend for q in queries) else "value",
        overrides=[o.json() for o in overrides])


def state_timeline(title: str, description: str, unit: str, queries: Sequence[Query], *,
                   steps: Sequence[Step] = (), links: Sequence[core.DashboardLink] = (),
                   mappings: Sequence[core.StatValueMappings] = ()) -> core.StateTimeline:
    """States over time, one row per series (component statuses, query successes)."""
    panel = core.StateTimeline(**_common(title, description, queries, links, steps),
                               mappings=list(mappings), legendDisplayMode="list",
                               fillOpacity=80, showValue="never")
    return attr.evolve(panel, extraJson={"fieldConfig": {"defaults": {"unit": unit}}})


def table(title: str, description: str, unit: str, queries: Sequence[Query], *,
          steps: Sequence[Step] = (), links: Sequence[core.DashboardLink] = (),
          hide: Sequence[str] = ("Time",)) -> core.Table:
    """A table of an instant query's series, one row per label set."""
    organise = {"id": "organize", "options": {"excludeByName": dict.fromkeys(hide, True),
                                              "renameByName": {}, "indexByName": {}}}
    return core.Table(**_common(title, description, queries, links, steps), unit=unit,
                      colorMode="thresholds", displayMode="color-text",
                      transformations=[organise])


@attr.s
class Heatmap(core.Panel):
    """Grafana's heatmap (9+) over pre-bucketed Prometheus histograms (``format: heatmap``)."""

    unit: str = attr.ib(default="s")

    def to_json_data(self) -> dict[str, Any]:
        return self.panel_json({
            "type": "heatmap",
            "fieldConfig": {"defaults": {"unit": self.unit, "custom": {
                "scaleDistribution": {"type": "linear"},
                "hideFrom": {"legend": False, "tooltip": False, "viz": False}}},
                "overrides": []},
            "options": {
                "calculate": False, "cellGap": 1,
                "color": {"mode": "scheme", "scheme": "Oranges", "fill": "dark-orange",
                          "scale": "exponential", "exponent": 0.5, "steps": 64,
                          "reverse": False},
                "yAxis": {"axisPlacement": "left", "unit": self.unit, "reverse": False},
                "rowsFrame": {"layout": "auto"}, "showValue": "never",
                "cellValues": {"unit": "short"},
                "legend": {"show": True},
                "tooltip": {"mode": "single", "yHistogram": True, "showColorScale": False},
                "exemplars": {"color": "rgba(255,0,255,0.7)"},
                "filterValues": {"le": 1e-9}, "selectionMode": "x"},
        })


def heatmap(title: str, description: str, unit: str, queries: Sequence[Query], *,
            links: Sequence[core.DashboardLink] = ()) -> Heatmap:
    """A latency distribution over time from a histogram's buckets."""
    common = _common(title, description, queries, links, ())
    for target in common["targets"]:
        target.format = "heatmap"
    return Heatmap(**common, unit=unit)


@attr.s
class AlertList(core.Panel):
    """Grafana's unified alert list, here for the alerts of one Prometheus datasource.

    There is no JSON schema for its options; they follow Grafana's documentation of the alert
    list visualization (UnifiedAlertListOptions), checked by hand in the tests.
    """

    unit: str = attr.ib(default="none")
    datasource_name: str = attr.ib(default="")

    def to_json_data(self) -> dict[str, Any]:
        return self.panel_json({
            "type": "alertlist",
            "fieldConfig": {"defaults": {"unit": self.unit}, "overrides": []},
            "options": {
                "viewMode": "list", "groupMode": "default", "groupBy": [], "maxItems": 20,
                "sortOrder": 3,  # importance: firing first
                "dashboardAlerts": False, "alertName": "", "alertInstanceLabelFilter": "",
                "datasource": self.datasource_name, "showInstances": True,
                "showInactiveAlerts": False,
                "stateFilter": {"firing": True, "pending": True, "noData": False,
                                "normal": False, "error": True, "recovering": False},
            },
        })


def alert_list(title: str, description: str, datasource_name: str, *,
               links: Sequence[core.DashboardLink] = ()) -> AlertList:
    """The alerts Prometheus has firing or pending, most important first."""
    common = _common(title, description, (), links, ())
    # The list reads the rules of the datasource named in its options, not the panel's.
    common["dataSource"] = None
    return AlertList(**common, unit="none", datasource_name=datasource_name)
