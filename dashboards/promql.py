"""PromQL for panels, written so that the mistakes the lints look for are hard to make.

``rate``/``increase`` refuse a metric that is not a counter (a gauge's rate is meaningless);
every rate runs over Grafana's ``$__rate_interval`` unless a caller asks for another window on
purpose; ``ratio`` keeps a share at 0 instead of "no data" when nothing bad has happened yet.
Which names are counters comes from ``exporter.catalogue``, ``loadtests.metrics`` and the host
series of ``alerts.outside_families``.
"""

from __future__ import annotations

from functools import cache

from alerts.outside_families import NODE_EXPORTER_SERIES
from exporter.catalogue import FAMILIES, STATUSES
from exporter.components import REGISTRY
from loadtests.metrics import COUNTERS as K6_COUNTERS
from loadtests.metrics import PREFIX as K6_PREFIX

RATE_INTERVAL = "$__rate_interval"
RANGE = "$__range"


@cache
def counter_names() -> frozenset[str]:
    """Exposed names whose samples only grow: counters, and histograms' buckets, counts, sums."""
    names = {f.name for f in FAMILIES if f.kind == "counter"}
    names |= {n for f in FAMILIES if f.kind == "histogram" for n in f.exposed_names}
    names |= {f"{K6_PREFIX}{name}_total" for name in K6_COUNTERS}
    names |= {name for name in NODE_EXPORTER_SERIES if name.endswith("_total")}
    return frozenset(names)


def selector(metric: str, matchers: str = "") -> str:
    """``metric{matchers}`` (``metric`` alone without matchers)."""
    return f"{metric}{{{matchers}}}" if matchers else metric


def rate(metric: str, matchers: str = "", window: str = RATE_INTERVAL,
         function: str = "rate") -> str:
    """``rate(metric{matchers}[window])``; ``function`` may be ``increase``."""
    if metric not in counter_names():
        raise ValueError(f"{metric} is not a counter: {function}() over it means nothing")
    return f"{function}({selector(metric, matchers)}[{window}])"


def by(labels: tuple[str, ...]) -> str:
    """`` by (a, b) `` for an aggregation, or nothing."""
    return f" by ({', '.join(labels)})" if labels else ""


def sum_rate(metric: str, matchers: str = "", labels: tuple[str, ...] = (),
             window: str = RATE_INTERVAL, function: str = "rate") -> str:
    """``sum by (labels) (rate(...))``."""
    return f"sum{by(labels)} ({rate(metric, matchers, window, function)})"


def quantile(q: float, histogram: str, matchers: str = "", labels: tuple[str, ...] = ()
             ) -> str:
    """The ``q`` quantile of a catalogue histogram, per ``labels``."""
    buckets = sum_rate(f"{histogram}_bucket", matchers, (*labels, "le"))
    return f"histogram_quantile({q:g}, {buckets})"


def ratio(bad: str, total: str) -> str:
    """``bad / total`` for two expressions aggregated by the same labels.

    A bad-event series only exists once a bad event happened, so ``bad`` alone would turn a
    perfect hour into "no data"; ``or total * 0`` makes it a real 0 wherever there is traffic.
    """
    return f"(\n  {bad}\n  or\n  {total} * 0\n)\n/\n{total}"


# 0 healthy, 1 degraded, 2 critical: the catalogue's status set, in order.
STATUS_NUMBERS: tuple[tuple[int, str], ...] = tuple(enumerate(STATUSES))


def status_number(matchers: str = "", labels: tuple[str, ...] = ("component",)) -> str:
    """The worst target's status per ``labels``: 0 healthy, 1 degraded, 2 critical.

    ``wedsync_component_status`` is 1 for a target's current status and 0 for the others, so
    the largest of ``critical * 2`` and ``degraded`` is the status's number."""
    def status(name: str) -> str:
        return selector("wedsync_component_status",
                        ", ".join(m for m in (matchers, f'status="{name}"') if m))
    # Worst first: `critical * 2 or degraded` (healthy, 0, needs no term).
    terms = [status(name) + (f" * {number}" if number > 1 else "")
             for number, name in reversed(STATUS_NUMBERS) if number > 0]
    return f"max{by(labels)} (\n  " + "\n  or\n  ".join(terms) + "\n)"


def component_matcher(names: tuple[str, ...]) -> str:
    """``component="a"`` for one component, ``component=~"a|b"`` for several."""
    return f'component="{names[0]}"' if len(names) == 1 else \
        'component=~"' + "|".join(names) + '"'


def overall_status() -> str:
    """The worst essential component's status; the others (external services) count as at
    most degraded (DESIGN.md). Which are essential is the component registry's default, the
    exporter's `components.essential`."""
    essential = status_number(component_matcher(REGISTRY.essential()))
    others = tuple(c.name for c in REGISTRY if not c.essential)
    if not others:
        return f"max (\n{essential}\n)"
    external = status_number(component_matcher(others))
    return f"max (\n{essential}\n  or\n  clamp_max({external}, 1)\n)"
