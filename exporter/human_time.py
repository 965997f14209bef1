"""Times a person reads, as times: "in 20 h 12 min", "until 00:00 Europe/London" — never a
bare count of seconds."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

UNITS = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))


def duration_text(seconds: float) -> str:
    """A duration in at most two units: ``45 s``, ``3 min 20 s``, ``20 h 13 min``,
    ``2 d 6 h``. Rounded up in its smallest unit, so "ask again in" never comes too early."""
    total = max(0, math.ceil(seconds))
    if total < 60:
        return f"{total} s"
    top = next(i for i, (_, size) in enumerate(UNITS) if total >= size)
    smallest = UNITS[top + 1][1]
    total = math.ceil(total / smallest) * smallest
    parts = []
    for name, size in UNITS:
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count} {name}")
    return " ".join(parts[:2])


def elapsed_text(seconds: float) -> str:
    """A measured duration: ``12.3 s`` under a minute (tenths matter there), else as
    ``duration_text`` (``5 min 13 s``)."""
    return f"{seconds:.1f} s" if seconds < 59.95 else duration_text(seconds)


def clock_text(moment: datetime, now: datetime, zone_name: str) -> str:
    """``00:00 Europe/London`` (the next such time), with the day when it is a day or more
    away."""
    text = f"{moment:%H:%M} {zone_name}"
    if moment - now >= timedelta(days=1):
        text += f" on {moment:%a %d %b}"
    return text


def until_text(moment: datetime, now: datetime, zone_name: str) -> str:
    """``until 00:00 Europe/London, in 18 h 36 min`` (the day too when a day or more away,
    or already past)."""
    if moment < now:
        return f"until {moment:%H:%M} {zone_name} on {moment:%a %d %b} (already past)"
    return (f"until {clock_text(moment, now, zone_name)}, "
            f"in {duration_text((moment - now).total_seconds())}")

