"""Template variables: the datasource every panel uses, and label filters such as ``target``.

Label variables are multi-value with "All" written as ``.*``, so panels filter with
``label=~"$var"``; they read their values from a metric that exists whenever the thing they
name is probed (``label_values(metric, label)``).
"""

from __future__ import annotations

from collections.abc import Sequence

from grafanalib import core

from dashboards.settings import (
    DATASOURCE_NAME,
    DATASOURCE_REF,
    DATASOURCE_TYPE,
    DATASOURCE_UID,
    DATASOURCE_VARIABLE,
)


def datasource() -> core.Template:
    """``$datasource``: any Prometheus, the provisioned one by default."""
    variable = core.Template(name=DATASOURCE_VARIABLE, label="Prometheus", type="datasource",
                             query=DATASOURCE_TYPE, default=DATASOURCE_UID,
                             refresh=core.REFRESH_ON_DASHBOARD_LOAD)
    # What Grafana saves for a chosen datasource: its name shown, its uid as the value.
    variable._current = {"selected": True, "text": DATASOURCE_NAME, "value": DATASOURCE_UID}
    return variable


def label(name: str, title: str, metric: str, label_name: str | None = None) -> core.Template:
    """A multi-value filter on ``label_name`` (default ``name``) over the values ``metric`` has."""
    query = f"label_values({metric}, {label_name or name})"
    variable = core.Template(name=name, label=title, query=query, type="query",
                             dataSource=dict(DATASOURCE_REF), includeAll=True, multi=True,
                             allValue=".*", refresh=core.REFRESH_ON_TIME_RANGE_CHANGE,
                             sort=core.SORT_ALPHA_ASC)
    return variable


def single(name: str, title: str, metric: str, label_name: str | None = None,
           descending: bool = False) -> core.Template:
    """One value of ``label_name`` at a time (one load-test run, one SLO); ``descending``
    puts the alphabetically last first (testids embed their start time: newest first)."""
    query = f"label_values({metric}, {label_name or name})"
    return core.Template(name=name, label=title, query=query, type="query",
                         dataSource=dict(DATASOURCE_REF), includeAll=False, multi=False,
                         refresh=core.REFRESH_ON_TIME_RANGE_CHANGE,
                         sort=core.SORT_ALPHA_DESC if descending else core.SORT_ALPHA_ASC)


def custom(name: str, title: str, values: Sequence[str], default: str) -> core.Template:
    """A fixed list of values (e.g. how many routes a "top N" panel shows)."""
    variable = core.Template(name=name, label=title, query=",".join(values), type="custom",
                             default=default)
    return variable

