"""The scrape-latency yardstick of ``bench.ingestion``: the bare server answers with exactly the
bytes and headers it was given, from a process of its own, and stops."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from bench.bare_server import BareServer


def test_bare_server_serves_the_given_bytes_and_stops() -> None:
    body = b"wedsync_up 1\n" * 100
    server = BareServer({"/metrics": (body, {"Content-Type": "text/plain"})}).start()
    url = f"http://127.0.0.1:{server.port}"
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as answer:
            assert answer.read() == body
            assert answer.headers["Content-Type"] == "text/plain"
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{url}/other", timeout=5)
        assert missing.value.code == 404
    finally:
        server.stop()
    assert server.process is not None and not server.process.is_alive()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{url}/metrics", timeout=2)
