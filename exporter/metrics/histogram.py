"""A labelled histogram that is cheap to observe and cheap to render as exposition text.

Why not prometheus-client's ``Histogram``: rendering it with ``generate_latest`` costs about
0.5 ms per labelled series on these machines (measured: 2,000 series of the 13-bucket request
histogram took 1.2 s), and /metrics is rendered inside the event loop whenever the store
changes — under sustained ingestion that would stall every request for a second at a time.
This class keeps plain per-series counts (the exporter is single-threaded: no locks), renders
each series from pre-built line prefixes (about 100x faster), and lets the renderer hand the
event loop back between slices of series, so no single step holds the loop for long.

The text is exactly what prometheus-client would write (``le="1.0"``, float sample values).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


class Series:
    """One labelled series: counts per bucket (not cumulative), sum and total count."""

    __slots__ = ("_bounds", "_prefixes", "counts", "key", "sum")

    def __init__(self, key: tuple[str, ...], bounds: tuple[float, ...],
                 prefixes: tuple[str, ...]) -> None:
        self.key = key
        self._bounds = bounds
        self._prefixes = prefixes
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        """Record one observation (``le`` buckets: a value equal to a bound falls in it)."""
        self.counts[bisect_left(self._bounds, value)] += 1
        self.sum += value

    def observe_many(self, bucket_counts: dict[int, int], total: float) -> None:
        """Record pre-bucketed observations (bucket index -> count) and their sum."""
        counts = self.counts
        for index, n in bucket_counts.items():
            counts[index] += n
        self.sum += total

    def bucket_of(self, value: float) -> int:
        """The bucket index ``value`` falls in."""
        return bisect_left(self._bounds, value)

    @property
    def count(self) -> int:
        return sum(self.counts)

    def render(self) -> str:
        """The series' exposition lines (cumulative buckets, then count and sum)."""
        lines = []
        running = 0
        prefixes = self._prefixes
        for index, n in enumerate(self.counts):
            running += n
            lines.append(f"{prefixes[index]}{running}.0\n")
        lines.append(f"{prefixes[-2]}{running}.0\n")
        lines.append(f"{prefixes[-1]}{floatToGoString(self.sum)}\n")
        return "".join(lines)


class LabelledHistogram:
    """A histogram family with labels; ``labels(...)`` gives a series to ``observe`` on."""

    def __init__(self, name: str, help_text: str, labelnames: tuple[str, ...],
                 buckets: tuple[float, ...]) -> None:
        self.name = name
        self.help = help_text
        self.labelnames = labelnames
        self.bounds = tuple(float(b) for b in buckets if b != float("inf"))
        self._les = (*(floatToGoString(b) for b in self.bounds), "+Inf")
        self._series: dict[tuple[str, ...], Series] = {}
        escaped_help = help_text.replace("\\", r"\\").replace("\n", r"\n")
        self.header = f"# HELP {name} {escaped_help}\n# TYPE {name} histogram\n"

    def __len__(self) -> int:
        return len(self._series)

    def _prefixes(self, key: tuple[str, ...]) -> tuple[str, ...]:
        # Label names in sorted order, as prometheus-client writes them.
        labels = dict(zip(self.labelnames, key, strict=True))

        def braces(extra: dict[str, str]) -> str:
            merged = {**labels, **extra}
            text = ",".join(f'{n}="{_escape(merged[n])}"' for n in sorted(merged))
            return f"{{{text}}}" if text else ""

        buckets = tuple(f"{self.name}_bucket{braces({'le': le})} " for le in self._les)
        plain = braces({})
        return (*buckets, f"{self.name}_count{plain} ", f"{self.name}_sum{plain} ")

    def labels(self, *values: Any) -> Series:
        """The series for these label values (created on first use)."""
        key = tuple(str(v) for v in values)
        series = self._series.get(key)
        if series is None:
            if len(key) != len(self.labelnames):
                raise ValueError(f"{self.name} takes labels {self.labelnames}, got {key}")
            series = self._series[key] = Series(key, self.bounds, self._prefixes(key))
        return series

    def get(self, key: tuple[str, ...]) -> Series | None:
        """The series for ``key`` if it exists."""
        return self._series.get(key)

    def label_values(self) -> list[tuple[str, ...]]:
        """The label values of every series."""
        return list(self._series)

    def remove(self, *values: str) -> None:
        """Drop one series (KeyError if it does not exist)."""
        del self._series[tuple(values)]

    def snapshot(self) -> list[Series]:
        """The series as they are now (a list that later additions do not change)."""
        return list(self._series.values())

    def collect(self) -> Iterator[Metric]:
        """The family as prometheus-client metrics (for tools that want objects, not text)."""
        family = HistogramMetricFamily(self.name, self.help, labels=list(self.labelnames))
        for series in self._series.values():
            running, buckets = 0, []
            for le, n in zip(self._les, series.counts, strict=True):
                running += n
                buckets.append((le, float(running)))
            family.add_metric(list(series.key), buckets, series.sum)
        yield family
