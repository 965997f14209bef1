"""Cache counters per layer, posted beside the request timings.

The application reports how many lookups each of its cache layers (its own memory, Redis, the
CDN) answered and missed since its previous report: ``"cache": [{"layer": "redis", "hits":
120, "misses": 4}, ...]``. Increments, not running totals, because many serverless instances
report and their totals could not be added up. They become
``wedsync_cache_requests_total{layer,result}``, whose rate gives each layer's hit ratio.
A layer outside ``CACHE_LAYERS`` or a malformed entry is refused and counted, never folded into
another layer.
"""

from __future__ import annotations

from typing import Any

from exporter.catalogue import CACHE_LAYERS, CACHE_RESULTS
from exporter.metrics.store import MetricStore

CACHE = "wedsync_cache_requests_total"
# Entries one request may carry: a few layers, each at most a few times (per instance).
MAX_CACHE_ENTRIES = 100
# A report's hits or misses at most (a billion lookups since the last report is no report).
MAX_COUNT = 1_000_000_000
_FIELDS = ("hits", "misses")
_RESULT = {"hits": "hit", "misses": "miss"}

Problem = tuple[str, str]


def check_cache_entry(entry: Any) -> Problem | None:
    """None if ``entry`` is a valid report of one layer, else (reason, message)."""
    if type(entry) is not dict:
        return "invalid_cache_entry", "a cache entry must be a JSON object"
    layer = entry.get("layer")
    if type(layer) is not str:
        return "invalid_cache_entry", "layer is required and must be a string"
    if layer not in CACHE_LAYERS:
        return "unknown_cache_layer", (f"layer must be one of {', '.join(CACHE_LAYERS)}; "
                                       f"other layers are not recorded")
    for name in _FIELDS:
        count = entry.get(name)
        if type(count) is not int or not 0 <= count <= MAX_COUNT:
            return "invalid_cache_entry", (f"{name} must be a whole number from 0 to "
                                           f"{MAX_COUNT} (lookups since the previous report)")
    return None


class CacheCounters:
    """Adds valid cache reports to wedsync_cache_requests_total; refusals are counted in
    wedsync_ingest_rejected_total by reason (one of ``contract.CACHE_REASONS``)."""

    def __init__(self, store: MetricStore, rejected: str) -> None:
        self.store = store
        self.rejected = rejected
        for layer in CACHE_LAYERS:
            for result in CACHE_RESULTS:
                store.zero(CACHE, {"layer": layer, "result": result})

    def record(self, entries: list[Any]) -> tuple[int, list[tuple[int, str, str]]]:
        """Record the valid entries; how many, and (index, reason, message) of the others."""
        accepted = 0
        errors: list[tuple[int, str, str]] = []
        for index, entry in enumerate(entries):
            problem = check_cache_entry(entry)
            if problem is not None:
                errors.append((index, *problem))
                self.store.inc(self.rejected, {"reason": problem[0]})
                continue
            accepted += 1
            for name in _FIELDS:
                if entry[name]:
                    self.store.inc(CACHE, {"layer": entry["layer"], "result": _RESULT[name]},
                                   entry[name])
        return accepted, errors
