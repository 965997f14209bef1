"""The refusal budget and the tarpit against the real exporter process: refusals under a client
address's budget are answered at once, those beyond it only after ``server.tarpit_seconds``
(counted, their bodies never read, let alone decoded), and beyond ``server.tarpit_max`` held
ones a refusal's connection is closed at once. Each test is a client of its own: it connects
from its own loopback address (127.0.0.x), and the budget is per address."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from bench.hostile import gzip_bomb
from harness.exporter import ExporterProcess
from tests import raw_http
from tests.support import eventually, exporter_config, value

ADMIN = "admin-token-tarpit"
BUDGET = 5
HOLD = 1.0
HELD_MAX = 3
# An answer this fast was not held (held ones take HOLD).
AT_ONCE = 0.5
BAD = {"Content-Encoding": b"gzip"}


@pytest.fixture(scope="module")
def exporter() -> Iterator[ExporterProcess]:
    config = exporter_config(
        tokens={"admin": "${ADMIN_TOKEN}"},
        rate_limits={"health": "100000/minute"},
        server={"refusals_per_second": BUDGET, "tarpit_seconds": f"{HOLD:g}s",
                "tarpit_max": HELD_MAX})
    process = ExporterProcess(config, env={"ADMIN_TOKEN": ADMIN})
    process.start()
    yield process
    process.stop()


def timed(exporter: ExporterProcess, source: str, method: str, path: str,
          **kwargs: object) -> tuple[raw_http.Answer, float]:
    started = time.monotonic()
    answer = raw_http.request(exporter.port, method, path, source=source, **kwargs)  # type: ignore[arg-type]
    return answer, time.monotonic() - started


def counter(exporter: ExporterProcess, name: str, **labels: str) -> float:
    return value(exporter.metrics(), name, **labels) or 0


def use_up_budget(exporter: ExporterProcess, source: str) -> None:
    for _ in range(BUDGET):
        answer, took = timed(exporter, source, "POST", "/nope", body=b"{}", headers=BAD)
        assert answer.status == 415 and took < AT_ONCE, (answer, took)


def test_refusals_under_the_budget_are_answered_at_once(exporter: ExporterProcess) -> None:
    for path in ("/nope", "/api/system/health"):
        answer, took = timed(exporter, "127.0.0.2", "GET", path)
        assert answer.status in (401, 404) and took < AT_ONCE, (answer, took)
    for _ in range(BUDGET - 2):
        answer, took = timed(exporter, "127.0.0.2", "POST", "/nope", body=b"{}", headers=BAD)
        assert answer.status == 415 and took < AT_ONCE, took
    assert counter(exporter, "wedsync_http_tarpit_total", outcome="delayed") == 0


def test_beyond_the_budget_a_refusal_is_held_and_counted_and_a_bomb_never_decoded(
        exporter: ExporterProcess) -> None:
    source = "127.0.0.3"
    delayed = counter(exporter, "wedsync_http_tarpit_total", outcome="delayed")
    ratio = counter(exporter, "wedsync_http_refused_requests_total", reason="compression_ratio")
    bomb = gzip_bomb()  # built first: building it takes about a second, a budget's window
    use_up_budget(exporter, source)
    # Both at once: a held refusal is not counted against the budget, so one sent after the
    # first was answered (HOLD later) would find the budget of a new second.
    answers: dict[str, tuple[raw_http.Answer, float]] = {}
    bombers = [threading.Thread(target=lambda p=path: answers.__setitem__(
        p, timed(exporter, source, "POST", p, body=bomb, headers=BAD)))
        for path in ("/nope", "/api/system/metrics")]
    for thread in bombers:
        thread.start()
    for thread in bombers:
        thread.join()
    for answer, took in answers.values():
        assert answer.status in (401, 415) and b"error" in answer.body, answer
        assert took >= HOLD * 0.9, took
        assert answer.headers.get("connection") == "close"
    # Answered requests from the same address are not held: /metrics, an authenticated one.
    answer, took = timed(exporter, source, "GET", "/metrics")
    assert answer.status == 200 and took < AT_ONCE
    answer, took = timed(exporter, source, "GET", "/api/system/health",
                         headers={"Authorization": f"Bearer {ADMIN}".encode()})
    assert answer.status == 200 and took < AT_ONCE
    # Other addresses keep their own budget.
    answer, took = timed(exporter, "127.0.0.4", "POST", "/nope", body=b"{}", headers=BAD)
    assert answer.status == 415 and took < AT_ONCE

    def counted() -> bool:
        return counter(exporter, "wedsync_http_tarpit_total", outcome="delayed") == delayed + 2

    eventually(counted, message="two delayed refusals counted")
    assert counter(exporter, "wedsync_http_refused_requests_total",
                   reason="compression_ratio") == ratio, "a held bomb was decoded"


def test_beyond_the_held_cap_a_refusal_is_closed_at_once(exporter: ExporterProcess) -> None:
    source = "127.0.0.5"
    closed = counter(exporter, "wedsync_http_tarpit_total", outcome="closed")
    use_up_budget(exporter, source)
    holders = [threading.Thread(target=timed, args=(exporter, source, "GET", "/nope"))
               for _ in range(HELD_MAX)]
    for thread in holders:
        thread.start()
    time.sleep(HOLD / 4)  # all three are held by now (each is refused within milliseconds)
    started = time.monotonic()
    received = b""
    with socket.create_connection(("127.0.0.1", exporter.port), timeout=5,
                                  source_address=(source, 0)) as sock:
        sock.sendall(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        with contextlib.suppress(ConnectionResetError):
            received = sock.recv(65536)
    assert received == b"" and time.monotonic() - started < AT_ONCE
    for thread in holders:
        thread.join()
    eventually(lambda: counter(exporter, "wedsync_http_tarpit_total", outcome="closed")
               == closed + 1, message="the closed refusal counted")


def test_the_budget_is_reloadable(exporter: ExporterProcess) -> None:
    source = "127.0.0.6"
    use_up_budget(exporter, source)
    config = exporter_config(
        tokens={"admin": "${ADMIN_TOKEN}"}, rate_limits={"health": "100000/minute"},
        server={"refusals_per_second": BUDGET * 4, "tarpit_seconds": f"{HOLD:g}s",
                "tarpit_max": HELD_MAX})
    exporter.write_config(config)
    try:
        answer = raw_http.request(exporter.port, "POST", "/-/reload",
                                  headers={"Authorization": f"Bearer {ADMIN}".encode()})
        assert answer.status == 200, answer
        # Over the old budget, within the new one: answered at once after the reload.
        for _ in range(BUDGET * 3):
            answer, took = timed(exporter, source, "GET", "/nope")
            assert answer.status == 404 and took < AT_ONCE, took
    finally:
        exporter.write_config(exporter_config(
            tokens={"admin": "${ADMIN_TOKEN}"}, rate_limits={"health": "100000/minute"},
            server={"refusals_per_second": BUDGET, "tarpit_seconds": f"{HOLD:g}s",
                    "tarpit_max": HELD_MAX}))
        raw_http.request(exporter.port, "POST", "/-/reload",
                         headers={"Authorization": f"Bearer {ADMIN}".encode()})
