"""Hostile input: at least 10,000 random and malformed bodies against a running exporter with
the rate limit raised. No 5xx, the exporter keeps serving, every event is accounted for, and
the request histogram stays within its caps."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Callable

import aiohttp

from tests.support import exporter_config, samples, value, wait_metrics

TOKEN = "ingest-token-for-fuzzing"
BODIES = 10_000
DISTINCT_PATH_BATCHES = 200  # x 500 events = 100,000 distinct raw paths
ROUTE_CAP, SERIES_CAP = 50, 150
DEADLINE = 150.0


def good(rng: random.Random, endpoint: str | None = None) -> dict[str, object]:
    return {"endpoint": endpoint or f"/api/{rng.choice(['clients', 'weddings', 'notes'])}/"
                                    f"{rng.randrange(10**6)}",
            "method": rng.choice(["GET", "POST", "PATCH", "DELETE"]),
            "response_time_ms": rng.uniform(0, 3000),
            "status_code": rng.choice([200, 201, 404, 500])}


def deep(rng: random.Random) -> bytes:
    depth = rng.choice([50, 999, 1001, 5000, 100_000])
    return b'{"events": ' + b"[" * depth + b"]" * depth + b"}"


def mutated(rng: random.Random) -> bytes:
    event = good(rng)
    field = rng.choice(list(event))
    event[field] = rng.choice([None, True, [], {}, "", "x" * 3000, -1, -1e-9, 1e308, -1e308,
                               10**30, 2**63, 3_600_000.5, 99, 600, 200.5, "200", {"a": [1]},
                               "\u0000", "\ud800", "\U0001f4a9" * 50])
    return json.dumps({"events": [event, good(rng)]}).encode()


def literal(rng: random.Random) -> bytes:
    constant = rng.choice(["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1" * 5000, "0x10",
                           "01", ".5", "+1", "true", "null", '"\\ud800"'])
    return (b'{"endpoint": "/a", "method": "GET", "status_code": 200, "response_time_ms": '
            + constant.encode() + b"}")


def garbage(rng: random.Random) -> bytes:
    return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300)))


def invalid_utf8(rng: random.Random) -> bytes:
    text = json.dumps(good(rng)).encode()
    cut = rng.randrange(1, len(text))
    return text[:cut] + rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80"]) + text[cut:]


def truncated(rng: random.Random) -> bytes:
    text = json.dumps({"events": [good(rng) for _ in range(5)]}).encode()
    return text[:rng.randrange(len(text))]


def odd_shapes(rng: random.Random) -> bytes:
    return rng.choice([b"", b"   ", b"null", b"42", b'"events"', b"[]", b'{"events": null}',
                       b'{"events": "x"}', b'{"events": [[], 1, "a", null]}', b"{}",
                       b'{"events": [{}]}', b"\xef\xbb\xbf{}"])


def odd_paths(rng: random.Random) -> bytes:
    path = rng.choice(["/api/\u0000/x", "/api/\ud800", "\n\r\t", "?only=query", "#frag",
                       "http://[::1/x", "//////", "/api/" + "a/" * 500, "/api/%ff%fe/%00",
                       "/api/caf\u00e9/\U0001f389", "javascript:alert(1)", " "])
    return json.dumps(good(rng, path)).encode()


MAKERS: tuple[Callable[[random.Random], bytes], ...] = (
    deep, mutated, literal, garbage, invalid_utf8, truncated, odd_shapes, odd_paths,
    lambda rng: json.dumps(good(rng)).encode(),
)


def bodies(rng: random.Random) -> list[bytes]:
    out = [rng.choice(MAKERS)(rng) for _ in range(BODIES)]
    serial = iter(range(10**9))
    for _ in range(DISTINCT_PATH_BATCHES):
        out.append(json.dumps({"events": [
            good(rng, f"/api/{rng.choice(['v1', 'v2'])}/section-{next(serial)}-x/items")
            for _ in range(500)]}).encode())
    out.append(b'{"events": [' + b'{"a": 1},' * 5000 + b'{"a": 1}]}')  # 5,001 events
    out.append(b" " * (2 * 1024 * 1024 + 1))  # over max_body_bytes
    rng.shuffle(out)
    return out


async def send_all(url: str, payloads: list[bytes]) -> tuple[Counter[int], int]:
    statuses: Counter[int] = Counter()
    accepted = 0
    deadline = time.monotonic() + DEADLINE
    queue = list(reversed(payloads))
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal accepted
        while queue and time.monotonic() < deadline:
            body = queue.pop()
            async with session.post(f"{url}/api/system/metrics", data=body,
                                    headers=headers) as reply:
                statuses[reply.status] += 1
                if reply.status in (200, 400) and reply.content_type == "application/json":
                    answer = await reply.json()  # await before adding: no lost updates
                    accepted += answer.get("accepted", 0)
                else:
                    await reply.read()

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        await asyncio.gather(*(worker(session) for _ in range(4)))
    return statuses, accepted


def test_ten_thousand_hostile_bodies_cause_no_5xx_and_stay_within_the_caps(make_exporter) -> None:
    exporter = make_exporter(exporter_config(
        tokens={"ingest": "${INGEST_TOKEN}"}, rate_limits={"ingestion": "10000000/minute"},
        ingestion={"label_caps": {"route": ROUTE_CAP, "series": SERIES_CAP}},
        # Thousands of bad bodies from one address as fast as they are answered: a refusal
        # budget that fits them, so that none waits in the tarpit (tests/test_tarpit.py).
        server={"refusals_per_second": 100000}),
        env={"INGEST_TOKEN": TOKEN})
    payloads = bodies(random.Random(20260606))
    statuses, accepted = asyncio.run(send_all(exporter.url, payloads))

    assert sum(statuses.values()) == len(payloads) >= 10_000, statuses
    assert not [s for s in statuses if s >= 500], statuses
    assert set(statuses) <= {200, 400, 413}, statuses
    assert statuses[413] == 2
    assert b"healthy" in exporter.get("/-/healthy")
    text = wait_metrics(exporter, lambda t: value(
        t, "wedsync_ingest_events_total", result="accepted") == accepted, timeout=15)
    series = [labels for name, labels, _ in samples(text)
              if name == "wedsync_http_request_duration_seconds_count"]
    assert len(series) <= SERIES_CAP + 8 * 5
    assert len({s["route"] for s in series} - {"other"}) <= ROUTE_CAP
    assert all(s["route"].isascii() and s["route"].isprintable() for s in series)
    recorded = sum(v for name, _, v in samples(text)
                   if name == "wedsync_http_request_duration_seconds_count")
    assert recorded == accepted >= DISTINCT_PATH_BATCHES * 500
    assert value(text, "wedsync_ingest_folded_total", label="route") > 0
