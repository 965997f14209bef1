"""The yardstick for scrape latency: a bare aiohttp server that only hands back fixed bytes.

It answers ``GET <path>`` with bytes copied from the exporter (its /metrics, gzipped, and its
health document), on uvloop like the exporter, pinned to the same CPU. Measured the same way in
the same run, it shows what the machine itself adds to a request (waking an idle core, a busy
core's scheduling): the floor no server in Python reaches below. Whatever the exporter adds on
top of it is the exporter's own.

    server = BareServer({"/metrics": (gzipped, {"Content-Encoding": "gzip"})}, cpu=0).start()
    ...
    server.stop()
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import socket
import time
from multiprocessing.connection import Connection

Routes = dict[str, tuple[bytes, dict[str, str]]]


def _serve(sock: socket.socket, routes: Routes, cpu: int | None, nice: int,
           ready: Connection) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    if nice:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    from aiohttp import web

    app = web.Application()
    for path, (body, headers) in routes.items():
        async def handle(_: web.Request, body: bytes = body,
                         headers: dict[str, str] = headers) -> web.Response:
            return web.Response(body=body, headers=headers)

        app.router.add_get(path, handle)

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        ready.send(True)
        while True:
            await asyncio.sleep(3600)

    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())


class BareServer:
    """A bare aiohttp server in a process of its own, on a free loopback port."""

    def __init__(self, routes: Routes, cpu: int | None = None, nice: int = 0) -> None:
        self.routes = routes
        self.cpu = cpu
        self.nice = nice
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port: int = self.sock.getsockname()[1]
        self.process: multiprocessing.Process | None = None

    def start(self) -> BareServer:
        receive, send = multiprocessing.Pipe(duplex=False)
        self.process = multiprocessing.Process(
            target=_serve, args=(self.sock, self.routes, self.cpu, self.nice, send), daemon=True)
        self.process.start()
        if not receive.poll(20):
            self.stop()
            raise RuntimeError("the bare server did not start within 20 s")
        receive.recv()
        time.sleep(0.1)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.is_alive():
            self.process.terminate()
            self.process.join(10)
        self.sock.close()
