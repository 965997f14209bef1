"""Handing the event loop back between the slices of long work, behind what arrived meanwhile.

Long work (recording a batch of request timings, rendering /metrics, building the status
page) runs in slices of a fraction of a millisecond and gives the loop up in between. With
``await asyncio.sleep(0)`` the rest of the work is queued again at once, so a request that
came in during a slice was read, and its handler queued, behind the next slice: a scrape
waited for two slices instead of one. ``step_aside`` gives up one turn of the loop and, when a
request arrived meanwhile (the web layer calls ``request_arrived`` on the first byte of each
request), one more, so that the request's handler runs first. On uvloop, the exporter's loop
wherever it is installed, that is enough (tests/test_yielding.py); the turn is given up only
when someone is waiting, since each costs the loop's poll for input (a tenth of the work under
a flood of batches when it was taken after every slice).
"""

from __future__ import annotations

import asyncio

_arrived = 0


def request_arrived() -> None:
    """Note that the first byte of a new request came in."""
    global _arrived
    _arrived += 1


async def step_aside() -> None:
    """Give the loop up between two slices of work, behind any request that came in meanwhile."""
    before = _arrived
    await asyncio.sleep(0)
    if _arrived != before:
        await asyncio.sleep(0)
