"""The naming rule for metrics that configured queries produce, and their catalogue families.

A query's metric either fills one of the catalogue's query-filled families (the wedding pack's,
``catalogue.QUERY_FILLED_FAMILIES``) with the same type and labels, or is a new family that
the configuration defines: ``wedsync_`` prefix, lower case, ``_total`` on counters and only on
counters, the unit (if given) as the last word before ``_total``, HELP text, and a name no
catalogue family has. New families live only as long as the configuration that defines them,
so shipped rules and dashboards never name one (they name catalogue families only).

Imports only the catalogue: the config schema and loader use these rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from exporter.catalogue import BY_NAME, QUERY_FILLED_FAMILIES, Family

if TYPE_CHECKING:
    from exporter.config.model import LabelMapping, MetricMapping

METRIC_NAME_PATTERN = r"^wedsync_[a-z0-9_]*[a-z0-9]$"
LABEL_NAME_PATTERN = r"^(?!__)[a-zA-Z_][a-zA-Z0-9_]*$"


class NamingError(ValueError):
    """A metric mapping breaks the naming rule; the message names the column and the rule."""


def _new_family(metric: MetricMapping, labels: tuple[str, ...]) -> Family:
    base = metric.name.removesuffix("_total")
    if metric.kind == "counter" and not metric.name.endswith("_total"):
        raise NamingError(f"{metric.name}: a counter's name ends in _total")
    if metric.kind == "gauge" and metric.name.endswith("_total"):
        raise NamingError(f"{metric.name}: only counters end in _total")
    if metric.unit and not base.endswith(f"_{metric.unit}"):
        raise NamingError(f"{metric.name}: a metric in {metric.unit} ends in _{metric.unit}"
                          + ("_total" if metric.kind == "counter" else ""))
    if not metric.help:
        raise NamingError(f"{metric.name}: a metric that is not in the catalogue needs help "
                          f"text")
    return Family(name=metric.name, kind=metric.kind,  # type: ignore[arg-type]
                  help=metric.help, labels=labels, unit=metric.unit)


def _catalogue_family(metric: MetricMapping, labels: tuple[str, ...]) -> Family:
    known = BY_NAME[metric.name]
    if metric.name not in QUERY_FILLED_FAMILIES:
        raise NamingError(f"{metric.name} is a catalogue family that the exporter fills "
                          f"itself; choose another name")
    if metric.kind != known.kind:
        raise NamingError(f"{metric.name} is a {known.kind} in the catalogue, not a "
                          f"{metric.kind}")
    if set(labels) != set(known.labels):
        want = ", ".join(known.labels) or "no labels"
        raise NamingError(f"{metric.name} takes {want} in the catalogue, not "
                          f"{', '.join(labels) or 'no labels'}")
    if metric.help or metric.unit:
        raise NamingError(f"{metric.name}: its help and unit come from the catalogue; remove "
                          f"them")
    return known


def query_families(metrics: Iterable[MetricMapping],
                   labels: Iterable[LabelMapping]) -> list[Family]:
    """The family of each metric mapping, in order (NamingError on a broken rule)."""
    label_names = tuple(label.name for label in labels)
    out: list[Family] = []
    for metric in metrics:
        if metric.name in {f.name for f in out}:
            raise NamingError(f"{metric.name} is mapped from two columns")
        if metric.name in BY_NAME:
            out.append(_catalogue_family(metric, label_names))
        else:
            out.append(_new_family(metric, label_names))
    return out
