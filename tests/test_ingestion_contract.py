"""The event JSON Schema is the contract; the hot-path check must give the same verdict."""

from __future__ import annotations

import json

import fastjsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.ingestion.check import check_event
from exporter.ingestion.contract import SCHEMA, reference_validator

FIELDS = ("endpoint", "method", "response_time_ms", "status_code", "timestamp",
          "error_message", "user_context")

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**20, max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30),
)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=6)

timestamps = st.one_of(
    st.datetimes().map(lambda d: d.isoformat() + "Z"),
    st.from_regex(SCHEMA["properties"]["timestamp"]["pattern"], fullmatch=True),
)
valid_event = st.fixed_dictionaries(
    {
        "endpoint": st.text(min_size=1, max_size=60),
        "method": st.sampled_from(["GET", "post", "PATCH", "PROPFIND", "x"]),
        "response_time_ms": st.one_of(st.integers(0, 3_600_000),
                                      st.floats(0, 3_600_000, allow_nan=False)),
        "status_code": st.one_of(st.integers(100, 599), st.integers(100, 599).map(float)),
    },
    optional={
        "timestamp": timestamps,
        "error_message": st.one_of(st.none(), st.text(max_size=40)),
        "user_context": st.one_of(st.none(), st.dictionaries(st.text(max_size=8),
                                                             json_scalars, max_size=2)),
        "request_id": json_values,
    },
)


@st.composite
def mutated_event(draw: st.DrawFn) -> object:
    """A valid event with one field removed, retyped or pushed out of range."""
    event = dict(draw(valid_event))
    field = draw(st.sampled_from(FIELDS))
    action = draw(st.sampled_from(["drop", "retype", "edge"]))
    if action == "drop":
        event.pop(field, None)
    elif action == "retype":
        event[field] = draw(st.one_of(json_values, st.text(max_size=30)))
    else:
        edges = {
            "endpoint": ["", "x" * 2049, "x" * 2048],
            "method": ["", "M" * 33, "M" * 32],
            "response_time_ms": [-1, -0.0001, 3_600_000.5, 3_600_001, 0, 1e300, True],
            "status_code": [99, 600, 200.5, 599, 100, False, 10**30],
            "timestamp": ["2026-13-01T00:00:00Z", "2026-06-06T14:00:00", "2026-06-06T14:00:00Z\n",
                          "2026-06-06 14:00:00+01:00", "2026-06-06T24:00:00Z", "x"],
            "error_message": [5, None, ""],
            "user_context": ["id", [], {}, None],
        }
        event[field] = draw(st.sampled_from(edges[field]))
    return event


def reference_verdict(event: object) -> bool:
    return reference_validator().is_valid(event)


@settings(max_examples=600, deadline=None)
@given(valid_event)
def test_fast_check_accepts_every_event_the_schema_accepts(event: dict) -> None:
    assert reference_verdict(event)
    assert check_event(event) is None


@settings(max_examples=1500, deadline=None)
@given(st.one_of(mutated_event(), json_values))
def test_fast_check_and_schema_agree_on_malformed_events(event: object) -> None:
    problem = check_event(event)
    assert (problem is None) == reference_verdict(event), problem
    if problem is not None:
        # The reason names a field the schema also complains about.
        reason, message = problem
        paths = {str(e.path[0]) if e.path else "" for e in reference_validator().iter_errors(
            event)}
        assert reason == "not_an_object" or any(p and p in message for p in paths) or (
            reason == "missing_field" and "" in paths), (message, paths)


@pytest.mark.parametrize(("event", "reason", "message"), [
    ([], "not_an_object", "an event must be a JSON object"),
    ({"method": "GET", "response_time_ms": 1, "status_code": 200}, "missing_field",
     "endpoint is required"),
    ({"endpoint": "/a", "method": "GET", "response_time_ms": "12", "status_code": 200},
     "wrong_type", "response_time_ms must be a number"),
    ({"endpoint": "/a", "method": "GET", "response_time_ms": -5, "status_code": 200},
     "invalid_value", "response_time_ms must be between 0 and 3600000"),
    ({"endpoint": "/a", "method": "GET", "response_time_ms": 5, "status_code": True},
     "wrong_type", "status_code must be an integer"),
    ({"endpoint": "/a", "method": "GET", "response_time_ms": 5, "status_code": 200,
      "timestamp": "yesterday"}, "invalid_value",
     "timestamp must be an RFC 3339 date-time such as 2026-06-06T14:00:00Z"),
])
def test_each_problem_has_a_reason_and_a_sentence(event: object, reason: str,
                                                  message: str) -> None:
    assert check_event(event) == (reason, message)
    assert not reference_verdict(event)


def test_the_schema_file_is_a_valid_draft_7_schema_that_compiles() -> None:
    # The documented contract must be usable by other tools as it is.
    validate = fastjsonschema.compile(SCHEMA)
    example = json.loads('{"endpoint": "/api/clients/42", "method": "GET", '
                         '"response_time_ms": 123, "status_code": 200, '
                         '"timestamp": "2026-06-06T14:00:00Z", "error_message": null, '
                         '"user_context": {"supplier_id": "s1", "couple_id": "c1"}}')
    assert validate(example) == example
    assert reference_verdict(example) and check_event(example) is None
