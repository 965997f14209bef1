"""A /metrics endpoint serving text the caller sets, as an extra scrape target for the stack.

Tests and drills use it to put a series into Prometheus that no real component makes on
demand, e.g. ``wedsync_wedding_day 0`` to rehearse an ordinary day, then ``1`` at "midnight".
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness.ports import free_port


class MetricsEndpoint:
    """``GET /metrics`` answers the current ``text`` (Prometheus text format)."""

    def __init__(self, text: str = "", port: int | None = None) -> None:
        self.port = port or free_port()
        self._text = text
        self._server: ThreadingHTTPServer | None = None

    @property
    def address(self) -> str:
        """HOST:PORT, as a scrape target."""
        return f"127.0.0.1:{self.port}"

    def set_text(self, text: str) -> None:
        """Serve ``text`` from now on."""
        self._text = text

    def start(self) -> MetricsEndpoint:
        """Start serving in a background thread."""
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = endpoint._text.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True,
                         name="metrics-endpoint").start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> MetricsEndpoint:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
