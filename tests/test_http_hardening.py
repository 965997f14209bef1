"""The exporter's HTTP server against hostile clients: compressed bodies are never decoded
for a request that is refused, decoding is bounded, every bad input is a counted 4xx, and slow
or idle connections are closed on time without locking Prometheus out."""

from __future__ import annotations

import gzip
import os
import random
import socket
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from bench.hostile import gzip_bomb
from exporter.web.core import accepts_gzip
from harness.exporter import ExporterProcess
from tests import raw_http
from tests.support import SHARED_PG_DSN, eventually, exporter_config, value, wait_metrics

ADMIN, INGEST, DEPLOY = "admin-token-hardening", "ingest-token-hardening", "deploy-token-x"
TOKENS = {"ADMIN_TOKEN": ADMIN, "INGEST_TOKEN": INGEST, "DEPLOY_TOKEN": DEPLOY}
EVENT = {"endpoint": "/api/clients/42", "method": "GET", "response_time_ms": 12,
         "status_code": 200}
PROTECTED = [("GET", "/api/system/health"), ("POST", "/api/system/metrics"),
             ("POST", "/api/architecture/validate"), ("GET", "/api/system/deploy-gate"),
             ("POST", "/api/system/deploy-gate/override"),
             ("DELETE", "/api/system/deploy-gate/override"), ("POST", "/-/reload")]
PUBLIC = [("GET", "/metrics"), ("GET", "/-/healthy"), ("GET", "/-/ready"), ("GET", "/"),
          ("POST", "/nope"), ("GET", "/nope")]


def hardening_config(**server: str | int) -> dict:
    # These tests send hundreds of bad requests from 127.0.0.1 as fast as they can: a refusal
    # budget that fits them, so that none is held in the tarpit (tests/test_tarpit.py tests it).
    server = {"refusals_per_second": 100000, **server}
    return exporter_config(
        database=[{"name": "primary", "dsn": "${PG_DSN}"}],
        tokens={"admin": "${ADMIN_TOKEN}", "ingest": "${INGEST_TOKEN}",
                "deploy": "${DEPLOY_TOKEN}"},
        rate_limits={kind: "100000/minute" for kind in
                     ("health", "ingestion", "validation", "deploy_gate", "reload")},
        server=server)


@pytest.fixture(scope="module")
def exporter() -> Iterator[ExporterProcess]:
    process = ExporterProcess(hardening_config(), env={"PG_DSN": SHARED_PG_DSN, **TOKENS})
    process.start()
    yield process
    process.stop()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def refused(exporter: ExporterProcess, reason: str) -> float:
    """The count once /metrics has caught up (it is re-rendered at most every 0.25 s)."""
    def read() -> float:
        return value(exporter.metrics(), "wedsync_http_refused_requests_total",
                     reason=reason) or 0

    settled: dict[str, float] = {}

    def steady() -> bool:
        first = read()
        time.sleep(0.3)
        settled["value"] = read()
        return first == settled["value"]

    eventually(steady)
    return settled["value"]


def ingest(exporter: ExporterProcess, body: bytes, **headers: bytes) -> raw_http.Answer:
    return raw_http.request(exporter.port, "POST", "/api/system/metrics", body=body,
                            headers={"Authorization": f"Bearer {INGEST}".encode(), **headers})


# --- compressed bodies ------------------------------------------------------------------------
def test_a_gzip_bomb_costs_nothing_on_any_route_without_a_token(exporter) -> None:
    assert len(gzip_bomb()) < 1_100_000  # 1 GiB of zeros: what an attacker sends
    before = cpu_seconds(exporter.process.pid)
    for method, path in PROTECTED + PUBLIC:
        answer = raw_http.request(exporter.port, method, path, body=gzip_bomb(),
                                  headers={"Content-Encoding": b"gzip"})
        assert 400 <= answer.status < 500, (method, path, answer)
    # Decoding one bomb took 2.3 s of CPU before; 13 of them now cost only reading the bytes.
    assert cpu_seconds(exporter.process.pid) - before < 1.0


def bytes_read(pid: int) -> int:
    """What the process has read with read(2) so far, sockets included (uvloop reads them so;
    /proc/PID/io's rchar)."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/PID/io")


@pytest.mark.parametrize(("path", "token"), [("/nope", None), ("/api/system/metrics", None),
                                             ("/api/system/metrics", INGEST)])
def test_a_refused_bomb_is_read_no_further_than_its_first_chunk(exporter, path: str,
                                                                 token: str | None) -> None:
    # Refused for its encoding, for want of a token, or — with the token — as soon as its
    # first slice decodes past the ratio limit, a 1 MB bomb is not read on: the connection
    # closes with the rest unread. Before, 0.7 MB of each was read (1 MB with the token).
    headers = {"Content-Encoding": b"gzip"}
    if token:
        headers["Authorization"] = f"Bearer {token}".encode()
    before = bytes_read(exporter.process.pid)
    for _ in range(5):
        answer = raw_http.request(exporter.port, "POST", path, body=gzip_bomb(),
                                  headers=headers)
        assert answer.status in (401, 413, 415), answer
    per_bomb = (bytes_read(exporter.process.pid) - before) / 5
    assert per_bomb < 300_000, per_bomb


def test_other_routes_refuse_compressed_bodies_with_415(exporter) -> None:
    before = refused(exporter, "content_encoding")
    answer = raw_http.request(exporter.port, "POST", "/api/architecture/validate",
                              body=gzip.compress(b"{}"),
                              headers={"Content-Encoding": b"gzip",
                                       "Authorization": f"Bearer {ADMIN}".encode()})
    assert answer.status == 415
    assert b"takes no compressed bodies" in answer.body
    eventually(lambda: refused(exporter, "content_encoding") == before + 1)


def test_ingestion_decodes_gzip_and_deflate_within_its_limits(exporter) -> None:
    body = orjson.dumps({"events": [EVENT] * 50})
    half = len(body) // 2
    for encoding, data in (("gzip", gzip.compress(body)), ("deflate", zlib.compress(body)),
                           ("deflate", _raw_deflate(body)),
                           # Two gzip members one after the other (RFC 1952 allows it).
                           ("gzip", gzip.compress(body[:half]) + gzip.compress(body[half:]))):
        answer = ingest(exporter, data, **{"Content-Encoding": encoding.encode()})
        assert answer.status == 200, (encoding, answer)
        assert orjson.loads(answer.body)["accepted"] == 50


def _raw_deflate(data: bytes) -> bytes:
    encoder = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return encoder.compress(data) + encoder.flush()


def _random(size: int, seed: int = 18) -> bytes:
    return random.Random(seed).randbytes(size)


# name -> (body, Content-Encoding, status, reason); bodies built when the test runs.
BAD_COMPRESSED: dict[str, tuple[Callable[[], bytes], bytes, int, str]] = {
    "bomb": (lambda: gzip_bomb(), b"gzip", 413, "compression_ratio"),
    "decodes past max_body_bytes": (lambda: gzip.compress(_random(1_150_000).hex().encode()),
                                    b"gzip", 413, "body_too_large"),
    "not gzip": (lambda: b"this is not gzip at all", b"gzip", 400, "bad_compressed_body"),
    "truncated": (lambda: gzip.compress(orjson.dumps(EVENT))[:-12], b"gzip", 400,
                  "bad_compressed_body"),
    "data after the stream": (lambda: gzip.compress(orjson.dumps(EVENT)) + b"junk", b"gzip",
                              400, "bad_compressed_body"),
    "deflate garbage above 64 KB": (lambda: _random(200_000), b"deflate", 400,
                                    "bad_compressed_body"),
    "brotli": (lambda: b"\x0b\x02\x80{}\x03", b"br", 415, "content_encoding"),
}


@pytest.mark.parametrize("name", list(BAD_COMPRESSED))
def test_bad_compressed_bodies_are_clean_counted_4xx(exporter, name: str) -> None:
    make, encoding, status, reason = BAD_COMPRESSED[name]
    body = make()
    before = refused(exporter, reason)
    started = time.monotonic()
    answer = ingest(exporter, body, **{"Content-Encoding": encoding})
    assert answer.status == status, (name, answer)
    assert "error" in orjson.loads(answer.body)
    assert time.monotonic() - started < 2
    eventually(lambda: refused(exporter, reason) == before + 1)


# --- other bad input --------------------------------------------------------------------------
def test_non_utf8_authorization_is_a_counted_401_on_every_protected_route(exporter) -> None:
    before = refused(exporter, "unauthorized")
    for method, path in PROTECTED:
        answer = raw_http.request(exporter.port, method, path, body=b"{}",
                                  headers={"Authorization": b"Bearer \xff\xfe\xc3(\x80"})
        assert answer.status == 401, (method, path, answer)
    eventually(lambda: refused(exporter, "unauthorized") == before + len(PROTECTED))


@pytest.mark.parametrize("depth", [990, 1100, 30_000])
@pytest.mark.parametrize(("method", "path", "token"), [
    ("POST", "/api/architecture/validate", ADMIN),
    ("POST", "/api/system/deploy-gate/override", ADMIN),
    ("POST", "/api/system/metrics", INGEST)])
def test_deeply_nested_json_is_a_400(exporter, method: str, path: str, token: str,
                                     depth: int) -> None:
    body = b"[" * depth + b"]" * depth
    wrapped = b'{"reason": ' + body + b"}"
    for data in (body, wrapped):
        answer = raw_http.request(exporter.port, method, path, body=data,
                                  headers={"Authorization": f"Bearer {token}".encode()})
        # 413 where the route's body limit is smaller than the document.
        assert answer.status in (400, 413), (path, depth, answer)


@pytest.mark.parametrize(("path", "token"), [
    ("/api/architecture/validate", ADMIN), ("/api/system/deploy-gate/override", ADMIN),
    ("/api/system/metrics", INGEST)])
def test_an_unknown_charset_is_a_415(exporter, path: str, token: str) -> None:
    before = refused(exporter, "invalid_charset")
    answer = raw_http.request(exporter.port, "POST", path, body=orjson.dumps(EVENT), headers={
        "Authorization": f"Bearer {token}".encode(),
        "Content-Type": b"application/json; charset=bogus"})
    assert answer.status == 415
    assert b"charset" in answer.body
    eventually(lambda: refused(exporter, "invalid_charset") == before + 1)


@pytest.mark.parametrize(("header", "gzipped"), [
    ("gzip", True), ("gzip;q=0", False), ("gzip; q=0.0, deflate", False), ("*", True),
    ("*;q=0", False), ("identity", False), ("gzip;q=0.5", True), ("br, *;q=0.1", True),
    ("gzip;q=0, *;q=1", False), ("gzip;q=nonsense", False), ("", False)])
def test_accept_encoding_is_honoured_with_its_q_values(header: str, gzipped: bool) -> None:
    assert accepts_gzip(header) is gzipped


def test_metrics_without_gzip_when_q_is_zero(exporter) -> None:
    answer = raw_http.request(exporter.port, "GET", "/metrics",
                              headers={"Accept-Encoding": b"gzip;q=0"})
    assert "content-encoding" not in answer.headers
    assert answer.body.startswith(b"# HELP")


def test_control_characters_from_an_override_reason_are_escaped_in_the_log(exporter) -> None:
    reason = "payments hotfix \x00 now \x1b[31;1mRED\x1b[0m \u0085 done"
    answer = raw_http.request(
        exporter.port, "POST", "/api/system/deploy-gate/override",
        body=orjson.dumps({"reason": reason, "duration": "1m"}),
        headers={"Authorization": f"Bearer {ADMIN}".encode()})
    assert answer.status == 201, answer
    raw_http.request(exporter.port, "DELETE", "/api/system/deploy-gate/override",
                     headers={"Authorization": f"Bearer {ADMIN}".encode()})
    line = eventually(lambda: next((entry for entry in exporter.logs().splitlines()
                                    if "override opened" in entry), None))
    assert "\x00" not in line and "\x1b" not in line
    # logfmt doubles the backslash of each escape.
    assert "\\x00 now \\x1b[31;1mRED\\x1b[0m done" in line.replace("\\\\", "\\")


# --- connections ------------------------------------------------------------------------------
def test_slow_silent_and_idle_connections_are_closed_on_time(make_exporter) -> None:
    exporter = make_exporter(hardening_config(header_timeout="1s", idle_timeout="2s"),
                             env={"PG_DSN": SHARED_PG_DSN, **TOKENS})

    def closed_after(sock: socket.socket, trickle: bytes = b"") -> float:
        started = time.monotonic()
        sock.settimeout(0.2)
        while time.monotonic() - started < 10:
            if trickle:
                try:
                    sock.sendall(trickle)
                except OSError:
                    return time.monotonic() - started
            try:
                if sock.recv(65536) == b"":
                    return time.monotonic() - started
            except TimeoutError:
                continue
            except OSError:
                return time.monotonic() - started
        return float("inf")

    silent = socket.create_connection(("127.0.0.1", exporter.port))
    assert 0.8 < closed_after(silent) < 4
    slowloris = socket.create_connection(("127.0.0.1", exporter.port))
    slowloris.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
    assert 0.8 < closed_after(slowloris, b"X-a: b\r\n") < 4
    idle = socket.create_connection(("127.0.0.1", exporter.port))
    idle.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"200 OK" in idle.recv(65536)
    assert 1.8 < closed_after(idle) < 5
    text = wait_metrics(exporter, lambda t: value(
        t, "wedsync_http_connections_closed_total", reason="idle_timeout") == 1)
    assert value(text, "wedsync_http_connections_closed_total", reason="header_timeout") == 2


def test_a_flood_of_connections_at_the_cap_does_not_lock_out_scrapes(make_exporter) -> None:
    exporter = make_exporter(hardening_config(max_connections=20, header_timeout="30s"),
                             env={"PG_DSN": SHARED_PG_DSN, **TOKENS})
    flood = [socket.create_connection(("127.0.0.1", exporter.port)) for _ in range(60)]
    try:
        for sock in flood[::2]:
            sock.sendall(b"GET /metrics HTTP/1.1\r\n")  # never finished
        for _ in range(5):
            started = time.monotonic()
            assert exporter.metrics().startswith("# HELP")
            assert time.monotonic() - started < 1
        wait_metrics(exporter, lambda t: value(
            t, "wedsync_http_connections_closed_total", reason="connection_limit") >= 40)
    finally:
        for sock in flood:
            sock.close()


def test_a_body_that_does_not_arrive_in_time_is_a_408(make_exporter) -> None:
    exporter = make_exporter(hardening_config(body_timeout="1s", header_timeout="1s"),
                             env={"PG_DSN": SHARED_PG_DSN, **TOKENS})
    with socket.create_connection(("127.0.0.1", exporter.port), timeout=10) as sock:
        sock.sendall(b"POST /api/system/metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                     + INGEST.encode() + b"\r\nContent-Length: 1000\r\n\r\n{\"events\": [")
        started = time.monotonic()
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        # The handler is busy reading: the header timeout does not cut it off, the body one
        # answers, and the connection closes.
        assert answer.startswith(b"HTTP/1.1 408")
        assert 0.9 < time.monotonic() - started < 3
    wait_metrics(exporter, lambda t: value(
        t, "wedsync_ingest_rejected_total", reason="body_timeout") == 1 and value(
        t, "wedsync_http_refused_requests_total", reason="body_timeout") == 1)


class _FakeTransport:
    def __init__(self) -> None:
        self.aborted = False

    def abort(self) -> None:
        self.aborted = True

    def close(self) -> None:
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 0


class _FakeProtocol:
    def connection_made(self, transport: object) -> None:
        pass


def test_at_the_cap_the_longest_waiting_connection_makes_room_never_a_busy_one() -> None:
    from dataclasses import replace

    from exporter.metrics.store import MetricStore
    from exporter.web.connections import ConnectionGuard, GuardedConnection
    from exporter.web.server_settings import server_settings

    clock = [0.0]
    guard = ConnectionGuard(MetricStore(), replace(server_settings({}), max_connections=3),
                            now=lambda: clock[0])

    def connect() -> tuple[GuardedConnection, _FakeTransport]:
        clock[0] += 1
        transport = _FakeTransport()
        connection = GuardedConnection(guard, _FakeProtocol())  # type: ignore[arg-type]
        connection.connection_made(transport)  # type: ignore[arg-type]
        return connection, transport

    (_, t1), (_, t2), (_, t3) = connect(), connect(), connect()
    guard.request_started(t2)  # busy in a handler
    guard.request_started(t3)
    guard.request_finished(t3)  # served a request, now idle
    _, t4 = connect()  # at the cap: the oldest that never finished a request goes
    assert (t1.aborted, t2.aborted, t3.aborted, t4.aborted) == (True, False, False, False)
    _, t5 = connect()  # the next one that never finished a request: t4
    assert t4.aborted and not t3.aborted
    guard.request_started(t5)
    _, t6 = connect()  # only the idle kept-alive connection is left to give up
    assert t3.aborted and not t2.aborted and not t5.aborted
    guard.request_started(t6)
    _, t7 = connect()  # every connection busy: the new one is closed at once
    assert t7.aborted and not (t2.aborted or t5.aborted or t6.aborted)
