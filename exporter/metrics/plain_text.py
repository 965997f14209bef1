"""Exposition text of the store's gauges and counters, a slice of series at a time.

prometheus-client's ``generate_latest`` builds a ``Metric`` with a ``Sample`` per series and
formats every label set anew on every rendering: with every probe on, the store holds a few
thousand gauge and counter series, and collecting them all before the first slice was written
held the event loop for 2–3 ms. This writer keeps each series' line prefix (name and labels)
from one rendering to the next, so a rendering formats only values (about ten times faster), and
it yields the text in slices of ``SERIES_PER_SLICE`` series (about 0.25 ms each) so the
renderer can hand the loop back in between.

The text is exactly ``generate_latest``'s: ``# HELP``/``# TYPE`` per family, counters named
with ``_total``, labels sorted by name and escaped, values through ``floatToGoString``
(``tests/test_metrics_rendering.py`` compares the two).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prometheus_client.utils import floatToGoString

from exporter.catalogue import Family

SERIES_PER_SLICE = 200


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _header(name: str, help_text: str, kind: str) -> str:
    escaped = help_text.replace("\\", r"\\").replace("\n", r"\n")
    return f"# HELP {name} {escaped}\n# TYPE {name} {kind}\n"


class PlainFamiliesText:
    """Writes gauge and counter families; remembers line prefixes between renderings."""

    def __init__(self) -> None:
        # (family name, label values) -> "sample_name{labels} "
        self._prefixes: dict[tuple[str, tuple[str, ...]], str] = {}

    def _prefix(self, fam: Family, sample_name: str, key: tuple[str, ...]) -> str:
        if not key:
            return f"{sample_name} "
        pairs = sorted(zip(fam.labels, key, strict=True))
        labels = ",".join(f'{name}="{_escape(value)}"' for name, value in pairs)
        return f"{sample_name}{{{labels}}} "

    def slices(self, families: Mapping[str, Family],
               values: Mapping[str, Mapping[tuple[str, ...], float]]) -> Iterator[str]:
        """The text of every non-empty family in ``values``, in slices of about
        ``SERIES_PER_SLICE`` series. Each family's series are copied when it is reached, so
        the store may change between slices (the text then holds each family as it was when
        written, as with one ``collect`` per family)."""
        old: dict[tuple[str, tuple[str, ...]], str] = self._prefixes
        new: dict[tuple[str, tuple[str, ...]], str] = {}
        parts: list[str] = []
        count = 0
        for name, live in list(values.items()):
            if not live:
                continue
            series = list(live.items())
            fam = families[name]
            counter = fam.kind == "counter"
            sample_name = f"{fam.base_name}_total" if counter else name
            parts.append(_header(sample_name, fam.help, "counter" if counter else "gauge"))
            for key, value in series:
                prefix = old.get((name, key))
                if prefix is None:
                    prefix = self._prefix(fam, sample_name, key)
                new[(name, key)] = prefix
                parts.append(f"{prefix}{floatToGoString(value)}\n")
                count += 1
                if count >= SERIES_PER_SLICE:
                    yield "".join(parts)
                    parts, count = [], 0
        # Series gone since the last rendering are forgotten with it.
        self._prefixes = new
        if parts:
            yield "".join(parts)
