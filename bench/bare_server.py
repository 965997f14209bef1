"""The baseline of ``bench.hostile``: a bare aiohttp server serving fixed /metrics bytes.

It has the exporter's aiohttp server settings that matter under a flood (no decoding of
compressed bodies, no lingering over unread bodies, no access log) and nothing else: no
middleware, no connection guard, no probes. Attacked the same way on the same core, it shows
what a flood costs any aiohttp server on this machine — the part of a change in scrape
latency that is the machine's, not the exporter's. Any route but ``GET /metrics`` gets
aiohttp's own 404 or 405.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.synchronize
import os

from aiohttp import web


async def _serve(port: int, body: bytes, content_type: str,
                 ready: multiprocessing.synchronize.Event) -> None:
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=body, headers={"Content-Type": content_type})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None, handle_signals=False,
                           auto_decompress=False, lingering_time=0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, reuse_address=True).start()
    ready.set()
    await asyncio.Event().wait()


def _main(port: int, body: bytes, content_type: str, cpus: set[int] | None,
          ready: multiprocessing.synchronize.Event) -> None:
    if cpus:
        os.sched_setaffinity(0, cpus)
    os.setpriority(os.PRIO_PROCESS, 0, 0)  # not the measuring process' priority
    asyncio.run(_serve(port, body, content_type, ready))


class BareServer:
    """The bare server in a process of its own (pinned to ``cpus``), serving ``body``."""

    def __init__(self, port: int, body: bytes, content_type: str,
                 cpus: set[int] | None = None) -> None:
        self.port, self.body = port, body
        ready = multiprocessing.Event()
        self.process = multiprocessing.Process(
            target=_main, args=(port, body, content_type, cpus, ready), daemon=True)
        self.process.start()
        if not ready.wait(20):
            self.stop()
            raise RuntimeError("the bare aiohttp server did not start")

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
