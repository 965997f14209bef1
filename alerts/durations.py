"""Prometheus durations (``5m``, ``1h30m``): parsing, scaling for fast test stacks, printing."""

from __future__ import annotations

import math
from datetime import timedelta

import promql_parser


def seconds(duration: str) -> float:
    """Seconds in a Prometheus duration."""
    if duration.strip() in ("0", "0s"):
        return 0.0
    return float(promql_parser.parse_duration(duration).total_seconds())


def text(total_seconds: float) -> str:
    """A Prometheus duration for whole seconds (``0s`` for zero)."""
    if total_seconds <= 0:
        return "0s"
    return str(promql_parser.display_duration(timedelta(seconds=total_seconds)))


def scaled(duration: str, factor: float) -> str:
    """``duration`` times ``factor``, rounded up to whole seconds (never below 1 s unless 0)."""
    value = seconds(duration) * factor
    if value <= 0:
        return "0s"
    return text(max(1, math.ceil(value - 1e-9)))
