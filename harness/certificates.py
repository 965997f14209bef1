"""Self-signed TLS for loopback servers: a certificate made with the openssl command, and an
HTTPS server answering ``/health`` with it."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

from aiohttp import web


def self_signed(folder: Path, days: int = 30) -> tuple[Path, Path]:
    """A self-signed EC certificate for 127.0.0.1 (its own CA) and its key, in ``folder``."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", str(days), "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


async def _health(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def start_https_health(cert: Path, key: Path) -> tuple[web.AppRunner, int]:
    """An HTTPS server on a free loopback port answering ``GET /health`` with
    ``{"status": "ok"}``, in the running event loop; its runner (``cleanup()`` stops it) and
    port."""
    app = web.Application()
    app.router.add_get("/health", _health)
    runner = web.AppRunner(app)
    await runner.setup()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]
