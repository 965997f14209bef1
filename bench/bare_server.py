"""The yardstick of the latency benches: a bare aiohttp server that only hands back fixed bytes.

It answers ``GET <path>`` with bytes copied from the exporter (its /metrics, its health
document), on uvloop like the exporter, with the exporter's aiohttp server settings that matter
under a flood (no decoding of compressed bodies, no lingering over unread bodies, no access
log) and nothing else: no middleware, no connection guard, no probes. Any other route gets
aiohttp's own 404 or 405. Pinned to the exporter's core and measured (or attacked) the same
way in the same run, it shows what the machine itself adds to a request — waking an idle core,
a busy core's scheduling, a flood's cost to any aiohttp server — so that whatever the exporter
adds on top is the exporter's own. Used by ``bench.ingestion`` and ``bench.hostile``.

    server = BareServer({"/metrics": (gzipped, {"Content-Encoding": "gzip"})}, cpus={0}).start()
    ...
    server.stop()
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import socket
from multiprocessing.connection import Connection

from aiohttp import web

Routes = dict[str, tuple[bytes, dict[str, str]]]


def _app(routes: Routes) -> web.Application:
    app = web.Application()
    for path, (body, headers) in routes.items():
        async def handle(_: web.Request, body: bytes = body,
                         headers: dict[str, str] = headers) -> web.Response:
            return web.Response(body=body, headers=headers)

        app.router.add_get(path, handle)
    return app


def _serve(sock: socket.socket, routes: Routes, cpus: set[int] | None, nice: int,
           ready: Connection) -> None:
    if cpus:
        os.sched_setaffinity(0, cpus)
    # Not the measuring process' priority (it may have been reniced): ``nice`` alone.
    os.setpriority(os.PRIO_PROCESS, 0, nice)

    async def main() -> None:
        runner = web.AppRunner(_app(routes), access_log=None, handle_signals=False,
                               auto_decompress=False, lingering_time=0)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        ready.send(True)
        await asyncio.Event().wait()

    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())


class BareServer:
    """A bare aiohttp server in a process of its own, on a free loopback port (or ``port``),
    pinned to ``cpus`` and at niceness ``nice``."""

    def __init__(self, routes: Routes, cpus: set[int] | None = None, nice: int = 0,
                 port: int = 0) -> None:
        self.routes = routes
        self.cpus = cpus
        self.nice = nice
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(1024)
        self.port: int = self.sock.getsockname()[1]
        self.process: multiprocessing.Process | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None and self.process.pid is not None
        return self.process.pid

    def start(self) -> BareServer:
        receive, send = multiprocessing.Pipe(duplex=False)
        self.process = multiprocessing.Process(
            target=_serve, args=(self.sock, self.routes, self.cpus, self.nice, send),
            daemon=True)
        self.process.start()
        if not receive.poll(20):
            self.stop()
            raise RuntimeError("the bare aiohttp server did not start within 20 s")
        receive.recv()
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.is_alive():
            self.process.terminate()
            self.process.join(10)
            if self.process.is_alive():
                self.process.kill()
                self.process.join(5)
        self.sock.close()
