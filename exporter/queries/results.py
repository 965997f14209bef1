"""Turns a query's result rows into samples, as its column mapping says.

Every metric column gives one sample per row, labelled with that row's label columns. Each
label keeps at most ``cap`` distinct values (the first ones seen, kept for as long as the
configuration runs, so a counter's series stay the same from run to run); a row with another
value is folded into ``other`` and counted. Rows that end up with the same labels (folded
ones, or duplicates) are summed. A NULL metric value gives no sample: no made-up 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from psycopg import postgres

from exporter.config.model import LabelMapping, QueryConfig
from exporter.metrics.store import Sample

OTHER = "other"
# bool, int8, int2, int4, oid, float4, float8, numeric
NUMERIC_TYPE_OIDS = frozenset({16, 20, 21, 23, 26, 700, 701, 1700})


class MappingError(ValueError):
    """The result does not fit the query's mapping; the message names the column."""


def _type_name(oid: int) -> str:
    info = postgres.types.get(oid)
    return info.name if info is not None else f"type {oid}"


def _label_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class ResultMapper:
    """Maps the rows of one query; remembers the label values it has kept."""

    def __init__(self, query: QueryConfig) -> None:
        self.query = query
        self.kept: dict[str, set[str]] = {label.name: set() for label in query.labels}

    def check(self, columns: Sequence[str], type_oids: Sequence[int]) -> None:
        """Raise MappingError if a mapped column is missing or a metric column is no number."""
        types = dict(zip(columns, type_oids, strict=True))
        mapped = [("metrics", m.column) for m in self.query.metrics] + [
            ("labels", label.column) for label in self.query.labels]
        for section, column in mapped:
            if column not in types:
                raise MappingError(
                    f"column {column!r} named in {section} is not in the result (its columns: "
                    f"{', '.join(columns) or 'none'})")
        for metric in self.query.metrics:
            oid = types[metric.column]
            if oid not in NUMERIC_TYPE_OIDS:
                raise MappingError(
                    f"column {metric.column!r} is {_type_name(oid)}, not a number; cast it "
                    f"(e.g. ::bigint)")

    def _fold(self, label: LabelMapping, raw: Any, folded: dict[str, int]) -> str:
        value = _label_value(raw)
        kept = self.kept[label.name]
        if value in kept:
            return value
        if len(kept) < label.cap:
            kept.add(value)
            return value
        folded[label.name] += 1
        return OTHER

    def samples(self, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> tuple[
            list[Sample], dict[str, int]]:
        """The samples of ``rows``, and how many rows each label folded into ``other``."""
        index = {column: i for i, column in enumerate(columns)}
        label_names = [label.name for label in self.query.labels]
        folded = dict.fromkeys(label_names, 0)
        sums: dict[tuple[str, tuple[str, ...]], float] = {}
        for row in rows:
            labels = tuple(self._fold(label, row[index[label.column]], folded)
                           for label in self.query.labels)
            for metric in self.query.metrics:
                value = row[index[metric.column]]
                if value is None:
                    continue
                if not isinstance(value, int | float | Decimal):
                    raise MappingError(f"column {metric.column!r} gave {type(value).__name__}, "
                                       f"not a number")
                key = (metric.name, labels)
                sums[key] = sums.get(key, 0.0) + float(value)
        samples = [Sample(name, dict(zip(label_names, labels, strict=True)), value)
                   for (name, labels), value in sums.items()]
        return samples, folded
