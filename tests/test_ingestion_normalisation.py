"""Route normalisation and label caps: whatever clients send, labels stay few and printable,
and every event is recorded or counted."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.ingestion.caps import LabelCaps
from exporter.ingestion.recorder import DURATION, Ingestion
from exporter.ingestion.routes import (
    MAX_ROUTE_LENGTH,
    RouteNormaliser,
    method_label,
    segment_label,
)
from exporter.metrics.store import MetricStore


@pytest.mark.parametrize(("endpoint", "route"), [
    ("/api/clients/42", "/api/clients/:id"),
    ("/api/clients/42/", "/api/clients/:id"),
    ("/api/clients/42?include=notes#top", "/api/clients/:id"),
    ("https://app.wedsync.example/api/weddings/3fa85f64-5717-4562-b3fc-2c963f66afa6?x=1",
     "/api/weddings/:uuid"),
    ("/api/suppliers/anna%40flowers.example/portfolio", "/api/suppliers/:email/portfolio"),
    ("/api/invites/9f86d081884c7d659a2feaa0c55ad015", "/api/invites/:token"),
    ("/api/share/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.Xk9aB3dE2fG", "/api/share/:token"),
    ("/api/guides/wedding-day-checklist-2026", "/api/guides/wedding-day-checklist-2026"),
    ("//api//core-fields///", "/api/core-fields"),
    ("/", "/"),
    ("/api/venues/caf\u00e9", "/api/venues/caf%C3%A9"),
    ("/api/a b/\n", "/api/a%20b/%0A"),
    ("/" + "segment/" * 40, "other"),
])
def test_paths_become_routes_with_placeholders(endpoint: str, route: str) -> None:
    assert RouteNormaliser()(endpoint) == route


def test_configured_templates_come_first() -> None:
    normalise = RouteNormaliser(("/api/clients/:client/notes/:note", "/api/files/*",
                                 "/api/guides/:slug"))
    assert normalise("/api/clients/42/notes/7") == "/api/clients/:client/notes/:note"
    assert normalise("/api/files/2026/06/plan.pdf") == "/api/files/*"
    assert normalise("/api/guides/wedding-day-checklist") == "/api/guides/:slug"
    # Paths no template matches still get the placeholders.
    assert normalise("/api/clients/42") == "/api/clients/:id"


@pytest.mark.parametrize(("method", "label"), [
    ("GET", "GET"), ("post", "POST"), ("Options", "OPTIONS"), ("PROPFIND", "other"),
    ("G\u00c9T", "other"), ("", "other"),
])
def test_methods_outside_the_standard_set_are_other(method: str, label: str) -> None:
    assert method_label(method) == label


printable = set(string.printable) - set("\t\n\r\x0b\x0c ")


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_any_path_becomes_a_short_printable_ascii_route(endpoint: str) -> None:
    route = RouteNormaliser().normalise(endpoint)
    assert route == "other" or (route.startswith("/") and len(route) <= MAX_ROUTE_LENGTH)
    assert set(route) <= printable
    assert "?" not in route and "#" not in route
    route.encode("ascii")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.integers(0, 10**12).map(str), st.uuids().map(str),
                          st.sampled_from(["clients", "notes", "api", "weddings"])),
                max_size=6))
def test_identifiers_never_reach_a_label(segments: list[str]) -> None:
    route = RouteNormaliser().normalise("/" + "/".join(segments))
    for segment in route.strip("/").split("/"):
        assert not segment.isdigit()
        assert len(segment) < 36
    # Normalising a route again changes nothing.
    assert RouteNormaliser().normalise(route) == route


@settings(max_examples=200, deadline=None)
@given(route_cap=st.integers(1, 30), series_cap=st.integers(1, 60),
       events=st.lists(st.tuples(st.integers(0, 80), st.sampled_from(["GET", "POST", "X"]),
                                 st.integers(100, 599)), max_size=300))
def test_caps_bound_the_series_and_every_event_is_recorded_or_folded(
        route_cap: int, series_cap: int, events: list[tuple[int, str, int]]) -> None:
    store = MetricStore()
    ingestion = Ingestion(store)
    ingestion.caps.resize(route_cap, series_cap)
    batch = [{"endpoint": f"/api/r{n}/items", "method": method, "response_time_ms": 5,
              "status_code": status} for n, method, status in events]
    outcome = ingestion.record(batch)
    histogram = store.histogram(DURATION)
    assert outcome.accepted == len(batch)
    assert sum(s.count for s in histogram.snapshot()) == len(batch)
    routes = {s.key[0] for s in histogram.snapshot()} - {"other"}
    assert len(routes) <= route_cap
    assert len([s for s in histogram.snapshot() if s.key[0] != "other"]) <= series_cap
    assert len(histogram) <= series_cap + 8 * 5
    in_other = sum(s.count for s in histogram.snapshot() if s.key[0] == "other")
    assert store.get("wedsync_ingest_folded_total", {"label": "route"}) == in_other
    assert store.get("wedsync_ingest_folded_total", {"label": "method"}) == sum(
        1 for _, method, _ in events if method == "X")


def test_caps_keep_the_first_routes_and_fold_later_ones() -> None:
    caps = LabelCaps(route_cap=2, series_cap=10)
    assert caps.admit("/a", "GET", "2xx") == (("/a", "GET", "2xx"), False)
    assert caps.admit("/b", "GET", "2xx") == (("/b", "GET", "2xx"), False)
    assert caps.admit("/c", "GET", "2xx") == (("other", "GET", "2xx"), True)
    # A known route may still gain series until the series cap.
    assert caps.admit("/a", "POST", "5xx") == (("/a", "POST", "5xx"), False)


def test_user_context_and_error_message_are_never_kept() -> None:
    store = MetricStore()
    ingestion = Ingestion(store)
    secret = "supplier-7c1e-secret-client-list"
    ingestion.record([{"endpoint": "/api/clients/1", "method": "GET", "response_time_ms": 3,
                       "status_code": 500, "error_message": f"boom {secret}",
                       "user_context": {"supplier_id": secret, "couple_id": secret}}])
    from exporter.metrics.exposition import Renderer

    assert secret not in Renderer(store).current.plain.decode()
    assert secret not in repr(vars(ingestion))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.integers(0, 10**30).map(str), st.uuids().map(str),
                          st.text(max_size=12), st.sampled_from(["", "%31%32", "a-b", ":id"])),
                max_size=6))
def test_the_remembered_skeleton_gives_the_same_route_as_segment_by_segment(parts) -> None:
    path = "/" + "/".join(parts)
    normaliser = RouteNormaliser()
    first = normaliser.normalise(path)
    assert first == normaliser.normalise(path)  # from the memo
    labels = [segment_label(p) for p in path.split("/") if p]
    expected = "/" + "/".join(labels)
    expected = expected if len(expected) <= MAX_ROUTE_LENGTH else "other"
    if "?" not in path and "#" not in path and "://" not in path:
        assert first == expected


def test_a_new_route_gets_its_5xx_series_at_zero_so_its_first_error_counts() -> None:
    # rate() counts a series only from its second sample: a 5xx series born with the first
    # error would hide that error from the availability SLO.
    from exporter.ingestion.recorder import DURATION, Ingestion
    from exporter.metrics.store import MetricStore

    store = MetricStore()
    ingestion = Ingestion(store)
    ingestion.record([{"endpoint": "/api/clients/42", "method": "GET", "response_time_ms": 12,
                       "status_code": 200}])
    errors = store.histogram(DURATION).get(("/api/clients/:id", "GET", "5xx"))
    assert errors is not None and errors.count == 0
    ingestion.record([{"endpoint": "/api/clients/7", "method": "GET", "response_time_ms": 40,
                       "status_code": 503}])
    assert errors.count == 1


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.text(min_size=1, max_size=6), st.text(min_size=1, max_size=4),
                          st.one_of(st.integers(100, 599), st.floats(100, 599))),
                min_size=2, max_size=2, unique=True))
def test_the_memo_of_raw_endpoints_never_takes_one_triple_for_another(triples) -> None:
    from exporter.ingestion.recorder import memo_key

    (a, b) = triples
    if a[0] == b[0] and a[1] == b[1] and a[2] == b[2]:  # 200 and 200.0: the same triple
        return
    assert memo_key(*a) != memo_key(*b)


def test_a_full_memo_is_freed_a_slice_at_a_time_and_events_still_reach_their_series(
        monkeypatch) -> None:
    import gc

    from exporter.ingestion import recorder

    monkeypatch.setattr(recorder, "TARGET_MEMO_SIZE", 40)
    monkeypatch.setattr(recorder, "RETIRE_EVERY", 7)
    store = MetricStore()
    ingestion = Ingestion(store)
    first = [{"endpoint": f"/api/clients/{n}", "method": "GET", "response_time_ms": 5,
              "status_code": 200} for n in range(40)]
    ingestion.record(first)
    assert len(ingestion._targets) == 40 and not ingestion._retired
    # Seen before, an endpoint goes straight to its series: the memo is looked up with the
    # same text it was filled with.
    built = []
    with monkeypatch.context() as patch:
        patch.setattr(ingestion, "_target", lambda *raw: built.append(raw))
        ingestion.record(first)
    assert built == []
    # Its keys are text, which the collector never tracks (tuples it tracks until a pass).
    assert not any(gc.is_tracked(key) for key in ingestion._targets)
    ingestion.record([{"endpoint": "/api/clients/new", "method": "GET",
                       "response_time_ms": 5, "status_code": 200}])
    # Full: a new memo started, and the old one lost RETIRE_EVERY entries, not all at once.
    assert len(ingestion._targets) == 1
    assert len(ingestion._retired) == 40 - 7
    for _ in range(4):
        ingestion.record([first[0]])
    assert len(ingestion._retired) == 40 - 5 * 7
    ingestion.record([first[1]])
    assert not ingestion._retired
    series = store.histogram(DURATION).get(("/api/clients/:id", "GET", "2xx"))
    # "/api/clients/new" has a route of its own.
    assert series is not None and series.count == 2 * 40 + 4 + 1
