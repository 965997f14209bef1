"""One grafanalib ``Dashboard`` from a board's identity, its grid and its variables, with what
every WedSync dashboard shares: the datasource variable, the tag, the links, the refresh."""

from __future__ import annotations

from collections.abc import Sequence

from grafanalib import core

from dashboards import links, variables
from dashboards.layout import Grid
from dashboards.settings import REFRESH, TAG, TIME_FROM, TIMEZONE, Board

# Grafana's own annotations (deploys and notes people add), as every new dashboard has them.
BUILT_IN_ANNOTATIONS = {
    "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True,
    "hide": True, "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts",
    "type": "dashboard",
}


def make(board: Board, description: str, grid: Grid,
         filters: Sequence[core.Template] = ()) -> core.Dashboard:
    """The dashboard ``board`` with ``grid``'s panels; ``filters`` come after the datasource."""
    return core.Dashboard(
        title=board.title, uid=board.uid, description=description, tags=[TAG],
        panels=grid.panels(), links=links.dashboard_links(board),
        templating=core.Templating([variables.datasource(), *filters]),
        annotations=core.Annotations([BUILT_IN_ANNOTATIONS]), refresh=REFRESH,
        time=core.Time(TIME_FROM, "now"), timezone=TIMEZONE,
        graphTooltip=core.GRAPH_TOOLTIP_MODE_SHARED_CROSSHAIR, editable=True,
    ).auto_panel_ids()
