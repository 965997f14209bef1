"""The store's own histogram writes exactly what prometheus-client would, and a rendering of a
histogram at its caps hands the event loop back instead of holding it."""

from __future__ import annotations

import asyncio
import gzip

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from exporter.catalogue import REQUEST_BUCKETS
from exporter.metrics.exposition import SLICE, Renderer
from exporter.metrics.store import MetricStore

NAME = "wedsync_http_request_duration_seconds"
labels = st.tuples(st.sampled_from(["/api/a", '/q"uote', "/back\\slash", "/new\nline", "/é"]),
                   st.sampled_from(["GET", "POST"]), st.sampled_from(["2xx", "5xx"]))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(labels, st.floats(0, 100, allow_nan=False)), max_size=60))
def test_histogram_text_is_exactly_prometheus_clients(observations) -> None:
    store = MetricStore()
    registry = CollectorRegistry()
    theirs = Histogram(NAME, store.families[NAME].help, ["route", "method", "status_class"],
                       buckets=REQUEST_BUCKETS, registry=registry)
    for key, seconds in observations:
        theirs.labels(*key).observe(seconds)
        store.observe(NAME, key, seconds)
    expected = [line for line in generate_latest(registry).decode().splitlines()
                if NAME in line]
    rendered = Renderer(store).current.plain.decode().splitlines()
    got = [line for line in rendered if NAME in line]
    assert got == (expected if observations else [])


def test_a_rendering_at_the_caps_hands_the_loop_back_and_matches_a_full_one() -> None:
    store = MetricStore()
    histogram = store.histogram(NAME)
    for n in range(2040):
        histogram.labels(f"/api/r{n // 4}", ("GET", "POST")[n % 2],
                         ("2xx", "5xx")[n // 2 % 2]).observe(n / 1000)
    store.version += 1
    renderer = Renderer(store)
    full = renderer.current

    async def render_while_ticking() -> tuple[int, bytes, bytes]:
        ticks = 0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        rendered = await renderer._render_sliced()
        done.set()
        await task
        return ticks, rendered.plain, rendered.gzipped

    ticks, plain, gzipped = asyncio.run(render_while_ticking())
    # The loop ran other work between every slice of series.
    assert ticks >= 2040 // SLICE
    def histogram_lines(text: bytes) -> list[bytes]:
        return [line for line in text.splitlines() if NAME.encode() in line]

    assert histogram_lines(plain) == histogram_lines(full.plain)
    assert len(histogram_lines(plain)) == 2040 * 16 + 2
    assert gzip.decompress(gzipped) == plain
