"""Running the sandbox in the current event loop (the Python API used by the command and by
tests that want faults without HTTP)."""

from __future__ import annotations

from aiohttp import web

from sandbox.app import CONTEXT_KEY, SERVICES, Context, build_app
from sandbox.faults import FaultBoard
from sandbox.settings import Settings


class Sandbox:
    """``async with Sandbox(settings) as box:`` serves on ``box.url``; ``box.faults`` sets
    faults."""

    def __init__(self, settings: Settings | None = None, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.settings = settings or Settings()
        self.host = host
        self.port = port
        self.faults = FaultBoard(SERVICES)
        self.app = build_app(self.settings, self.faults)
        self._runner: web.AppRunner | None = None

    @property
    def context(self) -> Context:
        """Shared state of the route modules (Auth users, Realtime hub)."""
        return self.app[CONTEXT_KEY]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def auth_url(self) -> str:
        """What the exporter's auth target takes as ``url``."""
        return f"{self.url}/auth/v1"

    @property
    def realtime_url(self) -> str:
        """What the exporter's realtime target takes as ``url``."""
        return f"ws://{self.host}:{self.port}/realtime/v1"

    @property
    def api_url(self) -> str:
        """The API health URL."""
        return f"{self.url}/api/health"

    async def start(self) -> Sandbox:
        """Start serving; ``port`` is the bound port afterwards."""
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop serving and close every socket."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Sandbox:
        return await self.start()

    async def __aexit__(self, *_: object) -> None:
        await self.stop()
