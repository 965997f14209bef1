"""Placing panels on Grafana's 24-column grid: left to right, a new line when a panel does not
fit, a row header across the whole width. Positions come from the order panels are added, so
no dashboard module writes coordinates by hand (and none can overlap)."""

from __future__ import annotations

import attr
from grafanalib import core

COLUMNS = 24


class Grid:
    """Panels in reading order; ``panels()`` gives them with their ``gridPos`` set."""

    def __init__(self) -> None:
        self._placed: list[core.Panel] = []
        self._x = 0
        self._y = 0
        self._line_height = 0

    def _new_line(self) -> None:
        self._y += self._line_height
        self._x = 0
        self._line_height = 0

    def add(self, panel: core.Panel, width: int, height: int = 8) -> Grid:
        """Put ``panel`` to the right of the last one, or on a new line if it does not fit."""
        if not 0 < width <= COLUMNS:
            raise ValueError(f"panel {panel.title!r}: width {width} is not within 1-{COLUMNS}")
        if self._x + width > COLUMNS:
            self._new_line()
        position = core.GridPos(h=height, w=width, x=self._x, y=self._y)
        self._placed.append(attr.evolve(panel, gridPos=position))
        self._x += width
        self._line_height = max(self._line_height, height)
        return self

    def line(self, *panels: tuple[core.Panel, int], height: int = 8) -> Grid:
        """Panels of the same height on one new line, with their widths."""
        if self._x:
            self._new_line()
        for panel, width in panels:
            self.add(panel, width, height)
        return self

    def row(self, title: str) -> Grid:
        """A row header on a line of its own."""
        if self._x:
            self._new_line()
        self.add(core.RowPanel(title=title), COLUMNS, 1)
        self._new_line()
        return self

    def panels(self) -> list[core.Panel]:
        """Every panel added, positioned."""
        return list(self._placed)
