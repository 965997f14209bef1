"""Durations written as strings like ``15s``, ``250ms``, ``2m``."""

from __future__ import annotations

import re

DURATION_PATTERN = r"^[0-9]+(\.[0-9]+)?(ms|s|m|h|d)$"
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_RE = re.compile(DURATION_PATTERN)


def parse_duration(text: str | int | float) -> float:
    """Seconds in ``text`` (a number is taken as seconds)."""
    if isinstance(text, int | float):
        return float(text)
    match = _RE.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration like 15s, 250ms or 2m")
    unit = match.group(2)
    return float(text.strip()[: -len(unit)]) * _UNITS[unit]
