"""Caps on distinct label values: beyond them, values fold into ``other`` (and are counted).

Two caps keep the request histogram bounded whatever clients send: distinct routes (default
500) and distinct route x method x status_class series (default 2,000). A series the caps
refuse keeps its method and status class and takes route ``other``; those at most 8 x 5 series
are always allowed, so the histogram never holds more than ``series_cap + 40`` series.
"""

from __future__ import annotations

from exporter.ingestion.routes import OTHER

Labels = tuple[str, str, str]


class LabelCaps:
    """Remembers which routes and series were admitted, in arrival order."""

    def __init__(self, route_cap: int, series_cap: int) -> None:
        self.route_cap = route_cap
        self.series_cap = series_cap
        self.routes: set[str] = set()
        self.series: set[Labels] = set()

    def resize(self, route_cap: int, series_cap: int) -> None:
        """New caps (a reload); what was admitted stays admitted."""
        self.route_cap, self.series_cap = route_cap, series_cap

    def admit(self, route: str, method: str, status_class: str) -> tuple[Labels, bool]:
        """The labels to record under, and whether the route was folded into ``other``."""
        labels = (route, method, status_class)
        if route == OTHER:
            return labels, True
        if labels in self.series:
            return labels, False
        new_route = route not in self.routes
        if (new_route and len(self.routes) >= self.route_cap) or len(
                self.series) >= self.series_cap:
            return (OTHER, method, status_class), True
        self.routes.add(route)
        self.series.add(labels)
        return labels, False
