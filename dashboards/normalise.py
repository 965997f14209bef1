"""From grafanalib's JSON to the JSON current Grafana writes, in one explicit pass.

grafanalib 0.7.1 writes keys for Grafana 5-7 (``rows``, ``style``, ``span``, thresholds with
``op``/``yaxis``/``line``, targets with ``step``/``intervalFactor``/``query``), ``null`` for
anything unset, and leaves out a few options current panels require. Grafana's JSON schemas
(``../shared/schemas/grafana``) refuse all of that. Each rule below is one such difference;
nothing else is changed. ``tests/test_dashboards.py`` validates the result against the schemas.
"""

from __future__ import annotations

from typing import Any

from dashboards.settings import SCHEMA_VERSION

# Dashboard keys of grafanalib that current Grafana no longer has.
RETIRED_DASHBOARD_KEYS = ("__inputs", "rows", "style", "hideControls", "sharedCrosshair")
# Panel keys of Grafana 5-7 that grafanalib still writes (grid spans, old table options).
RETIRED_PANEL_KEYS = ("span", "minSpan", "height", "editable", "error", "columns", "fontSize",
                      "color", "mappings")
# What a row may carry (everything else grafanalib writes on a row is a panel's).
ROW_KEYS = ("type", "collapsed", "title", "datasource", "gridPos", "id", "panels", "repeat")
# Target keys of Graphite-era Grafana; Prometheus queries have expr, legendFormat, refId, ...
RETIRED_TARGET_KEYS = ("query", "target", "metric", "step", "intervalFactor")
# Variable keys that are gone (tags) or only belong to interval variables.
RETIRED_VARIABLE_KEYS = ("useTags", "tagsQuery", "tagValuesQuery")
INTERVAL_VARIABLE_KEYS = ("auto", "auto_min", "auto_count")


def without_nulls(value: Any) -> Any:
    """``value`` with every ``None`` member of an object left out (grafanalib's "unset")."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def _thresholds(config: dict[str, Any] | None) -> None:
    """grafanalib's ``{op, yaxis, color, line, index, value: "null"}`` steps become
    ``{color, value}``; the first step's value is always ``null`` (minus infinity)."""
    if not config:
        return
    steps = config.get("steps") or []
    config["steps"] = [{"color": step["color"], "value": None if i == 0 else step["value"]}
                       for i, step in enumerate(steps)]


# Panels whose legend and tooltip are Grafana's common VizLegendOptions / VizTooltipOptions.
COMMON_LEGEND_PANELS = ("timeseries", "state-timeline")


def _legend_and_tooltip(options: dict[str, Any]) -> None:
    """Current legends say whether they show and which calculations; tooltips how they sort."""
    legend = options.get("legend")
    if isinstance(legend, dict) and "displayMode" in legend:
        legend.setdefault("showLegend", legend["displayMode"] != "hidden")
        legend.setdefault("calcs", [])
    tooltip = options.get("tooltip")
    if isinstance(tooltip, dict) and "mode" in tooltip:
        tooltip.setdefault("sort", "none")


# Options current panels require and grafanalib does not write, with Grafana's defaults.
REQUIRED_OPTION_DEFAULTS: dict[str, dict[str, Any]] = {
    "stat": {"wideLayout": True, "showPercentChange": False,
             "percentChangeColorMode": "standard"},
    "table": {"frameIndex": 0},
}
REQUIRED_CUSTOM_DEFAULTS: dict[str, dict[str, Any]] = {
    "table": {"inspect": False},
}


def _target(target: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in target.items() if k not in RETIRED_TARGET_KEYS}
    if not out.get("interval"):
        out.pop("interval", None)
    # Grafana asks for a range unless the query is instant, and shows PromQL as code.
    out["range"] = not out.get("instant", False)
    out["editorMode"] = "code"
    return out


def panel(raw: dict[str, Any]) -> dict[str, Any]:
    """One panel (or row) in current Grafana's shape."""
    if raw.get("type") == "row":
        row = {k: v for k, v in raw.items() if k in ROW_KEYS}
        row["panels"] = [panel(p) for p in row.get("panels", [])]
        return row
    out = {k: v for k, v in raw.items() if k not in RETIRED_PANEL_KEYS}
    if not out.get("repeat"):
        for key in ("repeat", "repeatDirection", "maxPerRow"):
            out.pop(key, None)
    # Value mappings moved from the panel (grafanalib's table) into the field defaults.
    field_config = out.setdefault("fieldConfig", {"defaults": {}, "overrides": []})
    field_config.setdefault("overrides", [])
    defaults = field_config.setdefault("defaults", {})
    if raw.get("mappings") and not defaults.get("mappings"):
        defaults["mappings"] = raw["mappings"]
    _thresholds(defaults.get("thresholds"))
    for override in field_config["overrides"]:
        for item in override.get("properties", []):
            if item.get("id") == "thresholds":
                _thresholds(item["value"])
    kind = out["type"]
    if "custom" in defaults or kind in REQUIRED_CUSTOM_DEFAULTS:
        custom = defaults.setdefault("custom", {})
        for key, value in REQUIRED_CUSTOM_DEFAULTS.get(kind, {}).items():
            custom.setdefault(key, value)
        if not custom:
            defaults.pop("custom")
    options = out.setdefault("options", {})
    if kind in COMMON_LEGEND_PANELS:
        _legend_and_tooltip(options)
    for key, value in REQUIRED_OPTION_DEFAULTS.get(kind, {}).items():
        options.setdefault(key, value)
    out["targets"] = [_target(t) for t in out.get("targets", [])]
    if not out["targets"]:
        del out["targets"]
    return out


def variable(raw: dict[str, Any]) -> dict[str, Any]:
    """One template variable in current Grafana's shape."""
    out = {k: v for k, v in raw.items() if k not in RETIRED_VARIABLE_KEYS}
    if out.get("type") != "interval":
        for key in INTERVAL_VARIABLE_KEYS:
            out.pop(key, None)
    current = out.get("current")
    if isinstance(current, dict):
        current.pop("tags", None)
        if "text" not in current or "value" not in current:
            # Nothing chosen yet: Grafana picks the first value (or All) itself.
            del out["current"]
    if out.get("type") == "query" and isinstance(out.get("query"), str):
        out.setdefault("definition", out["query"])
    return out


def dashboard(raw: dict[str, Any]) -> dict[str, Any]:
    """A whole dashboard from grafanalib's ``to_json_data()`` (already JSON-encoded and
    decoded) in current Grafana's shape."""
    out = without_nulls({k: v for k, v in raw.items() if k not in RETIRED_DASHBOARD_KEYS})
    out["schemaVersion"] = SCHEMA_VERSION
    out["panels"] = [panel(p) for p in out.get("panels", [])]
    out["templating"] = {"list": [variable(v) for v in out.get("templating", {})
                                  .get("list", [])]}
    picker = out.get("timepicker", {})
    # Quick ranges replaced time_options in Grafana 8.
    picker.pop("time_options", None)
    return out
