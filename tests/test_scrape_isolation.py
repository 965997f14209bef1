"""Scrapes and health checks are answered while a large ingestion batch is being recorded, not
after it: the batch is recorded in slices that hand the event loop back (issue 25)."""

from __future__ import annotations

import http.client
import json
import select
import socket
import time

from tests.support import exporter_config

INGEST = "ingest-token-for-isolation"
ADMIN = "admin-token-for-isolation"
CONFIG = exporter_config(
    tokens={"ingest": "${INGEST_TOKEN}", "admin": "${ADMIN_TOKEN}"},
    rate_limits={"ingestion": "1000/minute", "health": "100000/minute"})
ENV = {"INGEST_TOKEN": INGEST, "ADMIN_TOKEN": ADMIN}
BATCH = 5000  # the most one request may carry (ingestion.max_events)


def big_batch() -> bytes:
    """5,000 events over as many distinct routes (the slow path: every route is new and most
    are folded by the caps), about 1 MB."""
    events = [{"endpoint": f"/api/section-{n}/items", "method": "POST",
               "response_time_ms": 100 + n % 50, "status_code": 200,
               "timestamp": "2026-06-06T14:00:00Z", "user_context": {"supplier_id": "s"}}
              for n in range(BATCH)]
    return json.dumps({"events": events}).encode()


def send_post(port: int, body: bytes) -> socket.socket:
    """Send the whole request and return the socket, its answer not yet read."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (f"POST /api/system/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {INGEST}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    sock.sendall(head + body)
    return sock


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_scrapes_and_health_checks_are_answered_while_a_large_batch_is_recorded(
        make_exporter) -> None:
    exporter = make_exporter(CONFIG, env=ENV)
    body = big_batch()
    metrics = http.client.HTTPConnection("127.0.0.1", exporter.port, timeout=30)
    health = http.client.HTTPConnection("127.0.0.1", exporter.port, timeout=30)
    for connection, path, headers in ((metrics, "/metrics", {}), (health, "/api/system/health",
                                      {"Authorization": f"Bearer {ADMIN}"})):
        connection.request("GET", path, headers=headers)  # connections open and warm
        assert connection.getresponse().read()
    answered = {"/metrics": 0, "/api/system/health": 0}
    sock = send_post(exporter.port, body)
    deadline = time.monotonic() + 60
    try:
        # Until the batch's answer is there: every answer that arrives first was served while
        # the batch was being read, parsed or recorded.
        while not select.select([sock], [], [], 0)[0]:
            assert time.monotonic() < deadline, "the batch was never answered"
            for connection, path, headers in (
                    (metrics, "/metrics", {"Accept-Encoding": "gzip"}),
                    (health, "/api/system/health", {"Authorization": f"Bearer {ADMIN}"})):
                connection.request("GET", path, headers=headers)
                reply = connection.getresponse()
                reply.read()
                assert reply.status == 200, (path, reply.status)
                if not select.select([sock], [], [], 0)[0]:
                    answered[path] += 1
        answer = read_all(sock)
    finally:
        sock.close()
        metrics.close()
        health.close()
    status_line, _, rest = answer.partition(b"\r\n")
    assert b" 200 " in status_line, answer[:300]
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["accepted"] == BATCH
    # Some of those requests may have gone out before the exporter had the whole body; the
    # batch takes tens of milliseconds to record, and scrapes keep being answered meanwhile.
    assert answered["/metrics"] >= 2 and answered["/api/system/health"] >= 2, answered
