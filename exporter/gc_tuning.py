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

import gc


def settle() -> None:
    """Collect what start-up or a reload left behind, then freeze the survivors."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
