"""The store's own histogram writes exactly what prometheus-client would, and a rendering of a
histogram at its caps hands the event loop back instead of holding it."""

from __future__ import annotations

import asyncio
import gzip

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from exporter.catalogue import FAMILIES, REQUEST_BUCKETS, Family
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


RENDER_COST = "wedsync_metrics_render_duration_seconds"
GAUGE = Family("wedsync_test_gauge", "gauge", 'A gauge\\ with "help"\nover two lines',
               ("target", "component"))
COUNTER = Family("wedsync_test_events_total", "counter", "A counter", ("reason",))
BARE = Family("wedsync_test_bare", "gauge", "No labels")
values = st.one_of(st.floats(allow_nan=True), st.integers(-10**12, 10**15).map(float))
label_values = st.sampled_from(["a", '"q"', "back\\slash", "new\nline", "é", "", "x,y=z"])
changes = st.lists(st.one_of(
    st.tuples(st.just(GAUGE.name), st.tuples(label_values, label_values), values),
    st.tuples(st.just(COUNTER.name), st.tuples(label_values), values),
    st.tuples(st.just(BARE.name), st.just(()), values)), max_size=30)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(changes, st.lists(st.integers(0, 29), max_size=5)), min_size=1,
                max_size=3))
def test_gauge_and_counter_text_is_exactly_prometheus_clients(rounds) -> None:
    """Labels sorted and escaped, counters with _total, values as prometheus-client writes
    them (NaN, infinities, large numbers), also when series come and go between renderings
    (the writer reuses what it formatted last time)."""
    render_cost = next(f for f in FAMILIES if f.name == RENDER_COST)
    store = MetricStore([GAUGE, COUNTER, BARE, render_cost])
    renderer = Renderer(store)

    def text(rendered: bytes) -> list[str]:  # the rendering's own cost is set after it
        return [line for line in rendered.decode().splitlines() if RENDER_COST not in line]

    for sets, removals in rounds:
        for name, key, value in sets:
            store.set(name, key, value)
        for index in removals:
            if index < len(sets):
                store.remove(sets[index][0], sets[index][1])
        expected = text(generate_latest(store.registry))
        assert text(renderer.refresh().plain) == expected
        assert text(asyncio.run(renderer._render_sliced()).plain) == expected

def test_a_rendering_that_reuses_unchanged_families_matches_a_full_one() -> None:
    # Issue 25: only families written since the last rendering are formatted again.
    store = MetricStore()
    ct = {"component": "database", "target": "primary"}
    store.set("wedsync_up", ct, 1)
    store.set("wedsync_db_max_connections", {"target": "primary"}, 100)
    store.replace_owned(("probe", "redis", "cache"), [
        store_sample("wedsync_redis_memory_used_bytes", {"target": "cache"}, 1024)])
    renderer = Renderer(store)

    def without_render_time(text: bytes) -> list[bytes]:
        # Each rendering records its own cost after it is done: the next one shows it.
        return [line for line in text.splitlines() if b"render_duration" not in line]

    def full() -> list[bytes]:
        return without_render_time(generate_latest(store.registry))

    assert without_render_time(renderer.current.plain) == full()
    store.set("wedsync_up", ct, 0)  # changed
    store.set("wedsync_event_loop_lag_seconds", (), 0.25, bump=False)  # new, no bump
    store.replace_owned(("probe", "redis", "cache"), [])  # a family emptied
    store.remove("wedsync_db_max_connections", {"target": "primary"})
    rendered = asyncio.run(renderer._render_sliced())
    assert without_render_time(rendered.plain) == full()
    assert b"wedsync_redis_memory_used_bytes" not in rendered.plain
    assert gzip.decompress(rendered.gzipped) == rendered.plain
    again = asyncio.run(renderer._render_sliced())  # nothing changed: the same text
    assert without_render_time(again.plain) == full()


def store_sample(name: str, labels: dict[str, str], value: float):  # type: ignore[no-untyped-def]
    from exporter.metrics.store import Sample

    return Sample(name, labels, value)
