"""step_aside: a request that arrives during a slice of long work is handled before the next
slice (issue 25: a scrape waits for the slice it arrived in, not for two), and with nobody
waiting a slice gives up one turn of the loop only."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable

import uvloop

from exporter.yielding import request_arrived, step_aside


async def order_of_events(step: Callable[[], Awaitable[None]]) -> list[str]:
    """Slices of work handing the loop back with ``step``; during the second slice a request's
    bytes arrive on a socket, and its protocol notes the arrival and starts a handler task (as
    the exporter's web layer and aiohttp do)."""
    loop = asyncio.get_running_loop()
    seen: list[str] = []
    handlers: list[asyncio.Task[None]] = []
    ours, theirs = socket.socketpair()

    class Server(asyncio.Protocol):
        def data_received(self, data: bytes) -> None:
            seen.append("read")
            request_arrived()

            async def handle() -> None:
                seen.append("handled")

            handlers.append(loop.create_task(handle()))

    transport, _ = await loop.connect_accepted_socket(Server, ours)
    try:
        for n in range(4):
            seen.append(f"slice {n}")
            if n == 1:
                theirs.send(b"GET /metrics HTTP/1.1\r\n\r\n")
                time.sleep(0.05)  # the rest of the slice, holding the loop: the bytes come in
            await step()
        await asyncio.sleep(0.01)
    finally:
        transport.close()
        theirs.close()
    return seen


def on_uvloop(main: Callable[[], Awaitable[list[str]]]) -> list[str]:
    loop = uvloop.new_event_loop()
    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


def test_a_request_that_arrives_during_a_slice_is_handled_before_the_next() -> None:
    seen = on_uvloop(lambda: order_of_events(step_aside))
    assert seen.index("slice 1") < seen.index("read") < seen.index("handled") < seen.index(
        "slice 2"), seen
    # The control: with a bare sleep(0) the handler waits for the next slice too.
    seen = on_uvloop(lambda: order_of_events(lambda: asyncio.sleep(0)))
    assert seen.index("slice 2") < seen.index("handled"), seen


async def turns_taken(slices: int) -> int:
    """Turns of the loop that pass while ``slices`` slices step aside with nobody waiting."""
    turns = 0
    done = False

    async def count() -> None:
        nonlocal turns
        while not done:
            turns += 1
            await asyncio.sleep(0)

    counter = asyncio.create_task(count())
    await asyncio.sleep(0)
    start = turns
    for _ in range(slices):
        await step_aside()
    taken = turns - start
    done = True
    await counter
    return taken


def test_with_nobody_waiting_a_slice_gives_up_one_turn_only() -> None:
    loop = uvloop.new_event_loop()
    try:
        assert loop.run_until_complete(turns_taken(100)) in (100, 101)
    finally:
        loop.close()
