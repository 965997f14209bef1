"""Links between the dashboards and to the runbooks.

Every dashboard has a menu of all WedSync dashboards (by tag) and a link home to the overview;
panels link to the dashboard that explains them and to the runbook of the alert they watch.
Runbook links are checked against the alerts ``alerts/`` defines (a test).
"""

from __future__ import annotations

from grafanalib import core

from alerts.settings import RUNBOOK_BASE_URL
from dashboards.panels import link
from dashboards.settings import OVERVIEW, TAG, Board


def to_board(board: Board, why: str = "") -> core.DashboardLink:
    """A panel link to another dashboard, keeping the time range."""
    title = board.title.split(" / ", 1)[-1]
    return link(title, board.path, tooltip=why or f"Open {title}")


def runbook(alert: str) -> core.DashboardLink:
    """A panel link to the runbook of ``alert`` (docs/runbooks/<alert>.md)."""
    return link(f"Runbook: {alert}", f"{RUNBOOK_BASE_URL}/{alert}.md",
                tooltip=f"What to do when {alert} fires", keep_time=False)


def dashboard_links(board: Board) -> list[core.DashboardLink]:
    """The links at the top of ``board``: every WedSync dashboard, home, the runbooks."""
    links = [core.DashboardLink(type="dashboards", title="WedSync dashboards", tags=[TAG],
                                asDropdown=True, keepTime=True, includeVars=False,
                                tooltip="Every WedSync dashboard", icon="dashboard")]
    if board != OVERVIEW:
        links.append(link("Wedding day overview", OVERVIEW.path,
                          tooltip="Home: are today's weddings safe?"))
    links.append(link("Runbooks", RUNBOOK_BASE_URL, tooltip="What to do for each alert",
                      keep_time=False))
    return links
