"""The event contract: the JSON Schema file, its limits as constants, and the reference
validator (``jsonschema``) that tests hold the fast check to."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema import Draft7Validator

SCHEMA_PATH = Path(__file__).with_name("event.schema.json")
SCHEMA: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))

_PROPERTIES = SCHEMA["properties"]
REQUIRED: tuple[str, ...] = tuple(SCHEMA["required"])
ENDPOINT_MAX = _PROPERTIES["endpoint"]["maxLength"]
METHOD_MAX = _PROPERTIES["method"]["maxLength"]
RESPONSE_TIME_MAX_MS = _PROPERTIES["response_time_ms"]["maximum"]
STATUS_MIN = _PROPERTIES["status_code"]["minimum"]
STATUS_MAX = _PROPERTIES["status_code"]["maximum"]
# JSON Schema's `pattern` is a search, like re.search: the same compiled expression serves both.
TIMESTAMP_PATTERN = re.compile(_PROPERTIES["timestamp"]["pattern"])

# Why an event is rejected (the `reason` label of wedsync_ingest_rejected_total).
EVENT_REASONS: tuple[str, ...] = ("not_an_object", "missing_field", "wrong_type", "invalid_value")
# Why a cache entry (`"cache": [...]` beside the events) is rejected.
CACHE_REASONS: tuple[str, ...] = ("unknown_cache_layer", "invalid_cache_entry")
# Why a whole request is rejected.
REQUEST_REASONS: tuple[str, ...] = (
    "unauthorized", "rate_limited", "body_too_large", "too_many_events", "invalid_json",
    "invalid_body", "too_many_cache_entries", "invalid_encoding", "body_timeout",
)
REASONS: tuple[str, ...] = EVENT_REASONS + CACHE_REASONS + REQUEST_REASONS


@cache
def reference_validator() -> Draft7Validator:
    """The schema's own validator: slow (about 28k events/s), the yardstick for the fast one."""
    from jsonschema import Draft7Validator

    Draft7Validator.check_schema(SCHEMA)
    return Draft7Validator(SCHEMA)
