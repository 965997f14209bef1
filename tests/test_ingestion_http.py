"""POST /api/system/metrics against a running exporter: what clients see and what Prometheus
sees."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support import exporter_config, in_process_exporter, samples, value, wait_metrics

INGEST = "ingest-token-for-tests"
ADMIN = "admin-token-for-tests"
ENV = {"INGEST_TOKEN": INGEST, "ADMIN_TOKEN": ADMIN}
TOKENS = {"ingest": "${INGEST_TOKEN}", "admin": "${ADMIN_TOKEN}"}
EVENT = {"endpoint": "/api/clients/42", "method": "GET", "response_time_ms": 120,
         "status_code": 200}


def post(url: str, body: Any, token: str | None = INGEST,
         raw: bytes | None = None) -> tuple[int, dict[str, Any], dict[str, str]]:
    data = raw if raw is not None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(f"{url}/api/system/metrics", data=data, headers=headers,
                                     method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read()), dict(answer.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)


def metrics_once(exporter: Any, name: str, expected: float, **labels: str) -> str:
    """/metrics once ``name{labels}`` shows ``expected`` (it is rendered within a second)."""
    return wait_metrics(exporter, lambda t: value(t, name, **labels) == expected,
                        message=f"{name}{labels} == {expected}")


CONFIG = exporter_config(
    tokens=TOKENS, rate_limits={"ingestion": "100000/minute"},
    ingestion={"max_body_bytes": 65536, "max_events": 50,
               "route_templates": ["/api/clients/:client/notes"]})


@pytest.fixture
def exporter(make_exporter):
    return make_exporter(CONFIG, env=ENV)


@pytest.fixture(scope="module")
def shared_exporter():
    """One exporter for tests that only ever refuse input (they compare before and after)."""
    from harness.exporter import ExporterProcess

    with ExporterProcess(CONFIG, env=ENV) as running:
        yield running


def test_one_event_is_recorded_under_its_normalised_route(exporter) -> None:
    status, answer, _ = post(exporter.url, {**EVENT, "endpoint": "/api/clients/42?tab=notes",
                                            "response_time_ms": 150})
    assert (status, answer) == (200, {"accepted": 1, "rejected": 0, "errors": []})
    text = metrics_once(exporter, "wedsync_ingest_events_total", 1, result="accepted")
    labels = {"route": "/api/clients/:id", "method": "GET", "status_class": "2xx"}
    assert value(text, "wedsync_http_request_duration_seconds_count", **labels) == 1
    assert value(text, "wedsync_http_request_duration_seconds_bucket", le="0.2", **labels) == 1
    assert value(text, "wedsync_http_request_duration_seconds_bucket", le="0.1", **labels) == 0
    assert value(text, "wedsync_http_request_duration_seconds_sum", **labels) == 0.15
    assert value(text, "wedsync_ingest_events_total", result="accepted") == 1
    assert value(text, "wedsync_ingest_last_event_timestamp_seconds") > 0


def test_a_batch_accepts_the_valid_events_and_names_the_bad_ones(exporter) -> None:
    events = [EVENT, {**EVENT, "status_code": "200"}, {**EVENT, "method": "PROPFIND"},
              "not an event", {**EVENT, "endpoint": "/api/clients/7/notes",
                               "status_code": 503, "response_time_ms": 2000}]
    status, answer, _ = post(exporter.url, {"events": events})
    assert status == 200
    assert answer == {"accepted": 3, "rejected": 2, "errors": [
        {"index": 1, "reason": "wrong_type", "message": "status_code must be an integer"},
        {"index": 3, "reason": "not_an_object", "message": "an event must be a JSON object"}]}
    text = metrics_once(exporter, "wedsync_ingest_events_total", 2, result="rejected")
    assert value(text, "wedsync_ingest_events_total", result="accepted") == 3
    assert value(text, "wedsync_ingest_events_total", result="rejected") == 2
    assert value(text, "wedsync_ingest_rejected_total", reason="wrong_type") == 1
    assert value(text, "wedsync_ingest_rejected_total", reason="not_an_object") == 1
    assert value(text, "wedsync_ingest_folded_total", label="method") == 1
    assert value(text, "wedsync_http_request_duration_seconds_count", method="other",
                 route="/api/clients/:id", status_class="2xx") == 1
    assert value(text, "wedsync_http_request_duration_seconds_count", method="GET",
                 route="/api/clients/:client/notes", status_class="5xx") == 1


@pytest.mark.parametrize(("body", "status", "reason", "message"), [
    (b'{"endpoint": ', 400, "invalid_json", "the body is not valid JSON"),
    (b'{"response_time_ms": NaN}', 400, "invalid_json", "unexpected character"),
    (b'\xff\xfe{"a": 1}', 400, "invalid_json", "not valid UTF-8"),
    (b"[" * 60_000, 400, "invalid_json", "depth limit exceeded"),
    (b'{"events": [{"status_code": 1' + b"0" * 5000 + b"}]}", 400, "invalid_json",
     "number is infinity"),
    (b"[]", 400, "invalid_body", 'expected one event object or {"events": [...]}'),
    (b'{"events": {"endpoint": "/"}}', 400, "invalid_body", '"events" must be a list'),
    (json.dumps({"events": [EVENT] * 51}).encode(), 413, "too_many_events",
     "51 events is more than the 50 allowed"),
    (b" " * 70_000, 413, "body_too_large", "the body is larger than 65536 bytes"),
])
def test_bad_bodies_get_a_clear_4xx_and_change_nothing_else(shared_exporter, body: bytes,
                                                           status: int, reason: str,
                                                           message: str) -> None:
    before = value(shared_exporter.metrics(), "wedsync_ingest_rejected_total", reason=reason)
    got, answer, _ = post(shared_exporter.url, None, raw=body)
    assert got == status
    assert message in answer["error"]
    text = metrics_once(shared_exporter, "wedsync_ingest_rejected_total", before + 1,
                        reason=reason)
    assert value(text, "wedsync_ingest_events_total", result="accepted") == 0
    assert "wedsync_http_request_duration_seconds_count" not in text


def test_tokens_are_checked_and_refusals_counted(exporter) -> None:
    assert post(exporter.url, EVENT, token=None)[0] == 401
    assert post(exporter.url, EVENT, token="wrong")[0] == 401
    assert post(exporter.url, EVENT, token=ADMIN)[0] == 403
    text = metrics_once(exporter, "wedsync_ingest_rejected_total", 3, reason="unauthorized")
    assert value(text, "wedsync_ingest_rejected_total", reason="unauthorized") == 3
    assert value(text, "wedsync_http_unauthorized_total", route="ingestion") == 3
    assert value(text, "wedsync_ingest_events_total", result="accepted") == 0


def test_the_rate_limit_answers_429_with_retry_after(make_exporter) -> None:
    exporter = make_exporter(exporter_config(tokens=TOKENS, rate_limits={"ingestion": "3/minute"}),
                             env=ENV)
    assert [post(exporter.url, EVENT)[0] for _ in range(3)] == [200, 200, 200]
    status, answer, headers = post(exporter.url, EVENT)
    assert status == 429 and "rate limit" in answer["error"]
    assert 1 <= int(headers["Retry-After"]) <= 60
    metrics_once(exporter, "wedsync_ingest_rejected_total", 1, reason="rate_limited")


def test_the_health_document_gets_a_five_minute_summary_from_ingestion() -> None:
    async def scenario() -> tuple[Any, Any]:
        config = exporter_config(tokens=TOKENS, rate_limits={"ingestion": "1000/minute"})
        async with in_process_exporter(config, env=ENV) as running:
            extension = running.service.ingestion
            before = extension.performance_summary()
            events = [{**EVENT, "response_time_ms": ms, "status_code": 500 if ms == 1000 else 200}
                      for ms in range(10, 1001, 10)]
            status, _, _ = await asyncio.to_thread(post, running.url, {"events": events})
            assert status == 200
            return before, extension.performance_summary()

    before, after = asyncio.run(scenario())
    assert before is None
    assert after == {"avg_response_time": 505.0,
                     "p95_response_time": pytest.approx(950, rel=0.01), "error_rate": 0.01}


def test_the_summary_follows_the_exporters_clock() -> None:
    # A Saturday in June, long ago: events stamped then are in the window of that clock.
    saturday = datetime(2026, 6, 6, 14, 0, tzinfo=UTC)

    async def scenario() -> Any:
        config = exporter_config(tokens=TOKENS, rate_limits={"ingestion": "1000/minute"})
        async with in_process_exporter(config, env=ENV, clock=lambda: saturday) as running:
            event = {**EVENT, "timestamp": "2026-06-06T13:59:00Z", "response_time_ms": 80}
            status, _, _ = await asyncio.to_thread(post, running.url, event)
            assert status == 200
            return running.service.ingestion.performance_summary()

    after = asyncio.run(scenario())
    assert after == {"avg_response_time": 80.0, "p95_response_time": pytest.approx(80, rel=0.01),
                     "error_rate": 0.0}


def test_metrics_output_passes_promtool_after_ingestion(exporter) -> None:
    import subprocess

    post(exporter.url, {"events": [{**EVENT, "endpoint": f"/api/r{n}/x"} for n in range(20)]})
    metrics_once(exporter, "wedsync_ingest_events_total", 20, result="accepted")
    checked = subprocess.run(["promtool", "check", "metrics"], input=exporter.metrics(),
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    names = {name for name, _, _ in samples(exporter.metrics())}
    assert "wedsync_http_request_duration_seconds_bucket" in names
