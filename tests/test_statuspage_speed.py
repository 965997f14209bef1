"""The status page and its API are served from memory: under 5 ms p99 for sequential keep-alive
requests while every probe runs each second (bench/status_page.py measures the same with all six
components and prints the exporter's other routes beside it)."""

from __future__ import annotations

import http.client
import time

from tests.support import SHARED_PG_DSN, SHARED_REDIS_URL, exporter_config

ROUTES = ("/", "/api/v2/summary.json", "/api/v2/status.json")
REQUESTS = 500
P99_MS = 5.0


def p99(path: str, port: int) -> float:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    timings = []
    for n in range(REQUESTS + 50):
        started = time.perf_counter()
        connection.request("GET", path)
        answer = connection.getresponse()
        answer.read()
        assert answer.status == 200
        if n >= 50:  # the first requests warm the connection up
            timings.append((time.perf_counter() - started) * 1000)
    connection.close()
    return sorted(timings)[int(0.99 * (len(timings) - 1))]


def test_page_and_api_stay_under_5_ms_p99_from_cache(make_exporter) -> None:
    now = time.time()
    window = {"start": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 86400)),
              "end": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 90000)),
              "components": ["redis"], "message": "Cache upgrade."}
    exporter = make_exporter(exporter_config(
        database=[{"name": "primary", "dsn": "${PG}"}, {"name": "replica", "dsn": "${PG}"}],
        redis=[{"name": "cache", "url": "${REDIS}"}],
        maintenance={"windows": [window]}), env={"PG": SHARED_PG_DSN, "REDIS": SHARED_REDIS_URL})
    exporter.wait_ready()
    found = {path: p99(path, exporter.port) for path in ROUTES}
    assert all(value < P99_MS for value in found.values()), found
