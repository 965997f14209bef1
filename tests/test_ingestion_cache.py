"""Cache counters per layer, posted beside the events: what clients see and what Prometheus
sees."""

from __future__ import annotations

import pytest

from tests.support import value
from tests.test_ingestion_http import CONFIG, ENV, EVENT, metrics_once, post

LAYERS = ("application", "redis", "cdn")


@pytest.fixture
def exporter(make_exporter):
    return make_exporter(CONFIG, env=ENV)


def test_every_layer_starts_at_zero_hits_and_misses(exporter) -> None:
    text = exporter.metrics()
    for layer in LAYERS:
        for result in ("hit", "miss"):
            assert value(text, "wedsync_cache_requests_total", layer=layer, result=result) == 0


def test_cache_counters_beside_events_add_up_per_layer(exporter) -> None:
    body = {"events": [EVENT], "cache": [
        {"layer": "application", "hits": 120, "misses": 4},
        {"layer": "redis", "hits": 30, "misses": 0},
        {"layer": "application", "hits": 5, "misses": 1}]}
    status, answer, _ = post(exporter.url, body)
    assert status == 200
    assert answer == {"accepted": 1, "rejected": 0, "errors": [],
                      "cache": {"accepted": 3, "rejected": 0, "errors": []}}
    text = metrics_once(exporter, "wedsync_cache_requests_total", 125, layer="application",
                        result="hit")
    assert value(text, "wedsync_cache_requests_total", layer="application", result="miss") == 5
    assert value(text, "wedsync_cache_requests_total", layer="redis", result="hit") == 30
    assert value(text, "wedsync_cache_requests_total", layer="cdn", result="hit") == 0
    assert value(text, "wedsync_ingest_events_total", result="accepted") == 1


def test_cache_counters_alone_are_a_batch_without_events(exporter) -> None:
    status, answer, _ = post(exporter.url, {"cache": [{"layer": "cdn", "hits": 7,
                                                       "misses": 3}]})
    assert (status, answer["accepted"], answer["cache"]["accepted"]) == (200, 0, 1)
    text = metrics_once(exporter, "wedsync_cache_requests_total", 7, layer="cdn", result="hit")
    assert value(text, "wedsync_ingest_events_total", result="rejected") == 0


def test_other_layers_and_bad_entries_are_refused_and_counted(exporter) -> None:
    body = {"cache": [{"layer": "browser", "hits": 1, "misses": 0},
                      {"layer": "redis", "hits": -1, "misses": 0},
                      {"layer": "redis", "hits": 2.5, "misses": 0},
                      "redis",
                      {"layer": "redis", "hits": 9, "misses": 1}]}
    status, answer, _ = post(exporter.url, body)
    assert status == 200
    reasons = [(e["index"], e["reason"]) for e in answer["cache"]["errors"]]
    assert reasons == [(0, "unknown_cache_layer"), (1, "invalid_cache_entry"),
                       (2, "invalid_cache_entry"), (3, "invalid_cache_entry")]
    assert "application, redis, cdn" in answer["cache"]["errors"][0]["message"]
    text = metrics_once(exporter, "wedsync_cache_requests_total", 9, layer="redis",
                        result="hit")
    assert value(text, "wedsync_ingest_rejected_total", reason="unknown_cache_layer") == 1
    assert value(text, "wedsync_ingest_rejected_total", reason="invalid_cache_entry") == 3
    # Nothing of the refused entries went anywhere: no `browser` series, no negative count.
    assert value(text, "wedsync_cache_requests_total", layer="browser", result="hit") is None
    assert value(text, "wedsync_cache_requests_total", layer="redis", result="miss") == 1


def test_a_body_with_only_refused_entries_is_a_400(exporter) -> None:
    status, answer, _ = post(exporter.url, {"cache": [{"layer": "disk", "hits": 1,
                                                       "misses": 1}]})
    assert status == 400 and answer["cache"]["rejected"] == 1


@pytest.mark.parametrize(("body", "status", "reason"), [
    ({"cache": {"layer": "redis"}}, 400, "invalid_body"),
    ({"cache": [{"layer": "redis", "hits": 1, "misses": 1}] * 101}, 413,
     "too_many_cache_entries"),
])
def test_a_malformed_cache_list_refuses_the_whole_request(exporter, body, status,
                                                          reason) -> None:
    got, answer, _ = post(exporter.url, {"events": [EVENT], **body})
    assert got == status and "cache" in answer["error"]
    text = metrics_once(exporter, "wedsync_ingest_rejected_total", 1, reason=reason)
    assert value(text, "wedsync_ingest_events_total", result="accepted") == 0
    assert value(text, "wedsync_cache_requests_total", layer="redis", result="hit") == 0
