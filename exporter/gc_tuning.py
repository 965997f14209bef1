"""Keeps the cyclic garbage collector's pauses short enough for a 1 ms scrape.

The collector's full (oldest-generation) pass walks every container object the process holds.
After start-up that is about 100,000 objects — imported modules, classes, the configuration,
the probes — and a pass took 50 to 100 ms of CPU, on the event loop, several times a minute
under ingestion (parsed events that live across a batch's slices get promoted, and enough
promotions trigger a full pass). Those objects live as long as the process, so they are moved
out of the collector's sight once the exporter is up (``gc.freeze``); a pass then only walks
what was created since (in-flight requests and batches, new series): a millisecond or two.
Reference counting still frees frozen objects as usual; only cycles among them would stay, so
a reload (which replaces the probes) collects once before freezing the new set.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


def settle() -> None:
    """Collect what start-up or a reload left behind, then freeze the survivors."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class _Pause:
    """Holds the cyclic collector off while a posted batch is parsed and recorded.

    A batch of 500 events is about a thousand dicts that live for the few milliseconds it takes
    to record them and are freed by reference counting when it is done. The collector's young
    passes came round in the middle of nearly every batch (each time 700 more objects exist
    than did), found the batch alive and promoted it, and the promoted batches kept setting off
    full passes of 2–5 ms, several a second at 50,000 events/s: a scrape arriving meanwhile
    waited for them. Held off, the collector never sees a batch; it resumes when the last
    pause ends, so the other work's cycles are collected as usual. Nesting is counted.
    """

    def __init__(self) -> None:
        self._depth = 0
        self._resume = False

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        if self._depth == 0:
            self._resume = gc.isenabled()
            gc.disable()
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0 and self._resume:
                gc.enable()


# ``with collector_paused(): ...`` (one per process: the collector is).
collector_paused = _Pause()
