"""The sandbox reports its API's own request timings to a real exporter: every request arrives
exactly once, an exporter that is away or refuses the token loses nothing, a hung exporter slows
no request, a full queue drops the oldest events and counts them, and it is off by default."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.exporter import ExporterProcess
from harness.ports import free_port
from harness.sandbox import SandboxServer
from sandbox.app import RequestRecord
from sandbox.timings import TimingReporter
from tests.support import CANARY_ANON_KEY, CANARY_PASSWORD, PROBE_EMAIL, eventually, value
from tests.support import exporter_config as base_config

REPO = Path(__file__).resolve().parent.parent
INGEST = "ingest-token-canary-3b9e1f"
WRONG = "wrong-token-canary-77c2aa"
HISTOGRAM = "wedsync_http_request_duration_seconds_count"


def exporter_config() -> dict:
    return base_config(tokens={"ingest": "${INGEST_TOKEN}"},
                       rate_limits={"ingestion": "100000/minute"})


def start_exporter(port: int | None = None) -> ExporterProcess:
    return ExporterProcess(exporter_config(), env={"INGEST_TOKEN": INGEST}, port=port).start()


def reporting_sandbox(ingest_url: str, token: str = INGEST) -> SandboxServer:
    return SandboxServer(anon_key=CANARY_ANON_KEY, probe_email=PROBE_EMAIL,
                         probe_password=CANARY_PASSWORD, env={
                             "SANDBOX_TIMINGS_URL": ingest_url, "SANDBOX_INGEST_TOKEN": token,
                             "SANDBOX_TIMINGS_INTERVAL": "0.2"})


def call(url: str, token: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def counted(exporter: ExporterProcess, route: str, status_class: str) -> float:
    return value(exporter.metrics(), HISTOGRAM, route=route, method="GET",
                 status_class=status_class) or 0.0


@pytest.fixture
def exporter() -> Iterator[ExporterProcess]:
    process = start_exporter()
    yield process
    process.cleanup()


def test_every_api_request_reaches_the_exporter_exactly_once(exporter) -> None:
    with reporting_sandbox(f"{exporter.url}/api/system/metrics") as sandbox:
        token = sandbox.access_token()
        assert {call(f"{sandbox.url}/api/dashboard", token) for _ in range(37)} == {200}
        assert {call(f"{sandbox.url}/api/clients") for _ in range(5)} == {401}
        call(f"{sandbox.url}/auth/v1/health")  # Supabase Auth's request: not the API's

        eventually(lambda: counted(exporter, "/api/dashboard", "2xx") == 37, timeout=15,
                   message="the dashboard requests never all arrived")
        eventually(lambda: counted(exporter, "/api/clients", "4xx") == 5, timeout=15,
                   message="the refused requests never all arrived")
        status = sandbox.timings()
        text = exporter.metrics()
        logs = sandbox.logs()
    assert (status["observed"], status["accepted"], status["rejected"], status["dropped"],
            status["pending"]) == (42, 42, 0, 0, 0)
    assert not any("auth" in line for line in text.splitlines() if line.startswith(HISTOGRAM))
    assert value(text, "wedsync_ingest_events_total", result="accepted") == 42
    assert INGEST not in json.dumps(status) and INGEST not in logs


def test_events_wait_for_an_exporter_that_is_away_and_none_are_lost() -> None:
    port = free_port()
    with reporting_sandbox(f"http://127.0.0.1:{port}/api/system/metrics") as sandbox:
        assert {call(f"{sandbox.url}/api/health") for _ in range(20)} == {200}
        status = eventually(lambda: (s := sandbox.timings())["failed_posts"] >= 2 and s,
                            timeout=10, message="the reporter never tried to post")
        assert status["pending"] == 20 and status["failing"].startswith("cannot reach")

        exporter = start_exporter(port)
        try:
            eventually(lambda: counted(exporter, "/api/health", "2xx") == 20, timeout=15,
                       message="the kept events never arrived")
            status = sandbox.timings()
        finally:
            exporter.cleanup()
        logs = sandbox.logs()
    assert (status["accepted"], status["dropped"], status["pending"], status["failing"]) == (
        20, 0, 0, None)
    # Logged once when it started failing and once when it recovered, not on every attempt.
    assert logs.count("posting to the exporter fails") == 1
    assert logs.count("posting to the exporter works again") == 1


def test_a_refused_token_keeps_the_events_and_never_shows_the_token(exporter) -> None:
    with reporting_sandbox(f"{exporter.url}/api/system/metrics", token=WRONG) as sandbox:
        assert {call(f"{sandbox.url}/api/health") for _ in range(6)} == {200}
        status = eventually(lambda: (s := sandbox.timings())["failed_posts"] >= 1 and s,
                            timeout=10, message="the reporter never tried to post")
        logs = sandbox.logs()
    assert status["failing"] == "the exporter answered 401"
    assert status["pending"] == 6 and status["accepted"] == 0
    eventually(lambda: value(exporter.metrics(), "wedsync_ingest_rejected_total",
                             reason="unauthorized"), timeout=10,
               message="the exporter never counted the refused posts")
    assert WRONG not in logs and WRONG not in json.dumps(status)


class SilentServer:
    """Accepts connections and never answers: an exporter that hangs."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(connection)

    def close(self) -> None:
        self.sock.close()
        for connection in self.held:
            connection.close()


def test_a_hung_exporter_slows_no_api_request() -> None:
    silent = SilentServer()
    try:
        with reporting_sandbox(f"http://127.0.0.1:{silent.port}/api/system/metrics") as sandbox:
            slowest = 0.0
            # Six seconds of requests: the reporter's 2-second posts hang again and again.
            deadline = time.monotonic() + 6
            answered = 0
            while time.monotonic() < deadline:
                started = time.perf_counter()
                assert call(f"{sandbox.url}/api/health") == 200
                slowest = max(slowest, time.perf_counter() - started)
                answered += 1
                time.sleep(0.02)
            status = sandbox.timings()
    finally:
        silent.close()
    # A request that waited for a post would take the post's 2-second timeout.
    assert slowest < 1.0, f"an API request took {slowest:.2f} s while the exporter hung"
    assert status["failed_posts"] >= 1 and status["failing"] == "no answer in time"
    # Every request is kept: queued, or in the post that hangs right now.
    assert status["pending"] + status["in_flight"] == answered and status["dropped"] == 0


def test_beyond_the_queue_limit_the_oldest_events_are_dropped_and_counted(caplog) -> None:
    port = free_port()

    async def scenario() -> dict:
        reporter = TimingReporter(f"http://127.0.0.1:{port}/api/system/metrics", INGEST,
                                  interval=3600, max_pending=10, timeout=2)
        await reporter.start()
        try:
            for number in range(25):
                reporter.observe(RequestRecord("api", "GET", f"/api/item{number}", 200, 0.01))
            reporter.observe(RequestRecord("auth", "GET", "/auth/v1/health", 200, 0.01))
            await reporter.flush()  # nothing listens yet: the ten newest stay queued
            await asyncio.to_thread(exporter.start)
            await reporter.flush()
            return reporter.status()
        finally:
            await reporter.stop()

    exporter = ExporterProcess(exporter_config(), env={"INGEST_TOKEN": INGEST}, port=port)
    try:
        with caplog.at_level(logging.WARNING, logger="sandbox.timings"):
            status = asyncio.run(scenario())
        # /metrics is re-rendered a moment after the events are recorded.
        text = eventually(lambda: (t := exporter.metrics()).count(HISTOGRAM) >= 10 and t,
                          timeout=10, message="the ten kept events never showed")
    finally:
        exporter.cleanup()
    assert (status["observed"], status["dropped"], status["accepted"], status["pending"]) == (
        25, 15, 10, 0)
    kept = {line.split('route="')[1].split('"')[0] for line in text.splitlines()
            if line.startswith(HISTOGRAM)}
    assert kept == {f"/api/item{n}" for n in range(15, 25)}  # the oldest went first
    assert sum("dropping the oldest" in r.getMessage() for r in caplog.records) == 1


def test_reporting_is_off_by_default(sandbox) -> None:
    with urllib.request.urlopen(f"{sandbox.url}/_sandbox/timings", timeout=10) as answer:
        assert json.load(answer) == {"enabled": False}


def test_a_nonsense_report_interval_is_refused_with_its_name() -> None:
    done = subprocess.run([sys.executable, "-m", "sandbox", "--listen", "127.0.0.1:0",
                           "--report-timings", "http://127.0.0.1:9/api/system/metrics",
                           "--report-interval", "soon"],
                          cwd=REPO, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "--report-interval must be a number of seconds" in done.stderr
