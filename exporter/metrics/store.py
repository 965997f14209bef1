"""The exporter's metric state: what probes found, held until the next scrape reads it.

The store is a prometheus-client collector whose ``collect`` only reads (scraping changes
nothing). Gauges and mirrored server counters are plain values keyed by label tuples; histograms
are ``LabelledHistogram``s (exporter/metrics/histogram.py: cheap to observe, rendered to text by
the renderer in slices rather than through the registry). Every change bumps ``version`` so the
renderer can tell when /metrics must be rendered again, and notes the family it touched so the
renderer formats again only the families that changed (``take_changes``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import prometheus_client
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.catalogue import FAMILIES, Family
from exporter.metrics.histogram import LabelledHistogram

prometheus_client.disable_created_metrics()

Labels = Mapping[str, str] | tuple[str, ...]
Owner = tuple[str, ...]


@dataclass(frozen=True)
class Sample:
    """One value of a family, with its labels by name."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    value: float = 0.0


class MetricStore(Collector):
    """Holds every gauge, counter and histogram the exporter exposes."""

    def __init__(self, families: Iterable[Family] = FAMILIES) -> None:
        self.families: dict[str, Family] = {f.name: f for f in families}
        self._values: dict[str, dict[tuple[str, ...], float]] = {
            f.name: {} for f in self.families.values() if f.kind != "histogram"
        }
        self._owned: dict[Owner, set[tuple[str, tuple[str, ...]]]] = {}
        self.registry = CollectorRegistry(auto_describe=False)
        self._histograms: dict[str, LabelledHistogram] = {
            fam.name: LabelledHistogram(fam.name, fam.help, fam.labels, fam.buckets)
            for fam in self.families.values() if fam.kind == "histogram"
        }
        self.registry.register(self)
        # Called on every change (the renderer's wake-up; it is never polled while idle).
        self.changed: Callable[[], None] | None = None
        # Called once a burst of changes has settled, by the renderer after it rendered them
        # (the status page's look at statuses): in the wake-up the rendering took, not one of
        # its own a second after the probes of a tick (issue 25: idle cost).
        self.watchers: list[Callable[[], None]] = []
        self._version = 0
        # Names of families defined by the configuration (queries' own metrics).
        self._configured: set[str] = set()
        # Gauge and counter families written since the renderer last took them.
        self._dirty: set[str] = set(self._values)

    def configure_families(self, families: Iterable[Family]) -> None:
        """Make ``families`` the configuration-defined families, beside the catalogue's.

        Called with the whole set on every (re)load: new families are added, a family whose
        definition changed starts empty, and one no longer given is dropped with its series.
        Only gauges and counters; a catalogue name is refused.
        """
        wanted = {f.name: f for f in families}
        for name, fam in wanted.items():  # refuse before changing anything
            if name not in self._configured and name in self.families:
                raise ValueError(f"{name} is a catalogue family, not one a config defines")
            if fam.kind == "histogram":
                raise ValueError(f"{name}: a configured family is a gauge or a counter")
        for name in self._configured - set(wanted):
            del self.families[name], self._values[name]
            for owned in self._owned.values():
                owned.difference_update({item for item in owned if item[0] == name})
        for name, fam in wanted.items():
            if self.families.get(name) != fam:
                self.families[name] = fam
                self._values[name] = {}
        self._configured = set(wanted)
        self._dirty.update(self._values)
        self.version += 1

    @property
    def version(self) -> int:
        """Moves on every change: the renderer renders again when it differs from its own."""
        return self._version

    @version.setter
    def version(self, value: int) -> None:
        self._version = value
        if self.changed is not None:
            self.changed()

    # --- writing --------------------------------------------------------------------------
    def _key(self, name: str, labels: Labels) -> tuple[str, ...]:
        fam = self.families[name]
        if isinstance(labels, tuple):
            key = labels
        else:
            if set(labels) != set(fam.labels):
                raise ValueError(f"{name} takes labels {fam.labels}, got {tuple(labels)}")
            key = tuple(str(labels[n]) for n in fam.labels)
        if len(key) != len(fam.labels):
            raise ValueError(f"{name} takes labels {fam.labels}, got {key}")
        return key

    def set(self, name: str, labels: Labels, value: float, *, bump: bool = True) -> None:
        """Set a gauge (or a counter mirrored from a server) to ``value``."""
        self._values[name][self._key(name, labels)] = float(value)
        self._dirty.add(name)
        if bump:
            self.version += 1

    def inc(self, name: str, labels: Labels = (), amount: float = 1.0) -> None:
        """Add ``amount`` to one of the exporter's own counters."""
        key = self._key(name, labels)
        values = self._values[name]
        values[key] = values.get(key, 0.0) + amount
        self._dirty.add(name)
        self.version += 1

    def zero(self, name: str, labels: Labels = ()) -> None:
        """Make a counter series exist with 0 unless it already has a value."""
        self._values[name].setdefault(self._key(name, labels), 0.0)
        self._dirty.add(name)
        self.version += 1

    def remove(self, name: str, labels: Labels) -> None:
        """Drop one series (a gauge whose value is no longer known)."""
        fam = self.families[name]
        key = self._key(name, labels)
        if fam.kind == "histogram":
            try:
                self._histograms[name].remove(*key)
            except KeyError:
                return
        elif self._values[name].pop(key, None) is None:
            return
        else:
            self._dirty.add(name)
        self.version += 1

    def remove_matching(self, name: str, **match: str) -> None:
        """Drop every series of ``name`` whose labels include ``match``."""
        fam = self.families[name]
        positions = {fam.labels.index(k): v for k, v in match.items()}
        if fam.kind == "histogram":
            hist = self._histograms[name]
            for key in hist.label_values():
                if all(key[i] == v for i, v in positions.items()):
                    hist.remove(*key)
                    self.version += 1
            return
        values = self._values[name]
        for key in [k for k in values if all(k[i] == v for i, v in positions.items())]:
            del values[key]
            self._dirty.add(name)
            self.version += 1

    def observe(self, name: str, labels: Labels, value: float) -> None:
        """Record one observation in a histogram."""
        self._histograms[name].labels(*self._key(name, labels)).observe(value)
        self.version += 1

    def histogram(self, name: str) -> LabelledHistogram:
        """The histogram behind ``name`` (for hot paths that observe a lot; after observing
        directly, bump ``version`` so the change is rendered)."""
        return self._histograms[name]

    def histograms(self) -> list[LabelledHistogram]:
        """Every histogram family (the renderer writes them after the registry's text)."""
        return list(self._histograms.values())

    def replace_owned(self, owner: Owner, samples: Iterable[Sample]) -> None:
        """Set ``samples`` and drop whatever ``owner`` set last time but not now."""
        new: set[tuple[str, tuple[str, ...]]] = set()
        for sample in samples:
            key = self._key(sample.name, sample.labels)
            self._values[sample.name][key] = float(sample.value)
            new.add((sample.name, key))
        old = self._owned.get(owner, set())
        for name, key in old - new:
            self._values[name].pop(key, None)
        self._dirty.update(name for name, _ in new | old)
        self._owned[owner] = new
        self.version += 1

    def clear_owned(self, owner: Owner) -> None:
        """Drop everything ``owner`` set (its values are no longer known)."""
        for name, key in self._owned.pop(owner, set()):
            self._values[name].pop(key, None)
            self._dirty.add(name)
        self.version += 1

    # --- reading --------------------------------------------------------------------------
    def get(self, name: str, labels: Labels = ()) -> float | None:
        """The current value of a gauge or counter series, or None."""
        return self._values[name].get(self._key(name, labels))

    def series(self, name: str) -> dict[tuple[str, ...], float]:
        """A copy of every series of a gauge or counter family."""
        return dict(self._values[name])

    def plain_values(self) -> Mapping[str, Mapping[tuple[str, ...], float]]:
        """Every gauge and counter family's series, live (for the renderer: read only)."""
        return self._values

    def metric(self, name: str) -> Metric:
        """A snapshot of one gauge or counter family."""
        fam = self.families[name]
        metric: GaugeMetricFamily | CounterMetricFamily
        if fam.kind == "counter":
            metric = CounterMetricFamily(fam.base_name, fam.help, labels=fam.labels)
        else:
            metric = GaugeMetricFamily(name, fam.help, labels=fam.labels)
        for key, value in self._values[name].items():
            metric.add_metric(list(key), value)
        return metric

    def collect(self) -> Iterator[Metric]:
        for name, values in self._values.items():
            if values:
                yield self.metric(name)

    def take_changes(self) -> tuple[list[str], set[str]]:
        """The gauge and counter families that hold series now, in rendering order, and the
        names of those written since the last call; forgets the changes."""
        names = [name for name, values in self._values.items() if values]
        dirty, self._dirty = self._dirty, set()
        return names, dirty
