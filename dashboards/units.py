"""The Grafana units the dashboards may use.

The ids are Grafana's (packages/grafana-data/src/valueFormats/categories.ts); only the ones this
stack has a use for are listed, so a typo (``secs``, ``percent`` for a 0-1 ratio) is caught.
Custom units (``suffix:×``) follow Grafana's ``prefix:``/``suffix:`` syntax.
"""

from __future__ import annotations

KNOWN_UNITS: frozenset[str] = frozenset({
    "none", "short", "percentunit", "s", "ms", "bytes", "decbytes", "reqps", "ops", "opm",
    "cps", "cpm", "dtdurations", "dateTimeFromNow", "Bps",
})
CUSTOM_PREFIXES: tuple[str, ...] = ("suffix:", "prefix:")


def is_known_unit(unit: str) -> bool:
    """Whether Grafana knows ``unit``."""
    return unit in KNOWN_UNITS or (unit.startswith(CUSTOM_PREFIXES) and len(unit) > 7)
