"""Building blocks of the configuration's JSON Schema, shared by the sections and by the target
settings of every component (``exporter.config.targets``)."""

from __future__ import annotations

from typing import Any

from exporter.durations import DURATION_PATTERN

Schema = dict[str, Any]


def duration(description: str, default: str | None = None) -> Schema:
    out: Schema = {"type": "string", "pattern": DURATION_PATTERN, "description": description}
    if default is not None:
        out["default"] = default
    return out


def strict(properties: Schema, description: str, required: tuple[str, ...] = ()) -> Schema:
    out: Schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        "description": description,
    }
    if required:
        out["required"] = list(required)
    return out


def secret(description: str, kind: bool | str = True) -> Schema:
    return {"type": "string", "description": description, "x-secret": kind}


def file_path(description: str) -> Schema:
    return {"type": "string", "minLength": 1, "description": description}


NAME: Schema = {
    "type": "string",
    "pattern": "^[a-z0-9][a-z0-9_-]{0,62}$",
    "description": "Target name, used as the `target` label (lower case, digits, _ and -).",
}
RATE: Schema = {
    "type": "string",
    "pattern": "^[0-9]+ ?/ ?(second|minute|hour)$",
    "description": "A rate limit such as `60/minute`, per token and client address.",
}
THRESHOLDS = strict(
    {
        "degraded": duration("Latency above which the target is degraded."),
        "critical": duration("Latency above which the target is critical (as if down)."),
    },
    "Latency thresholds that turn a successful probe degraded or critical.",
)
TIMING: Schema = {
    "interval": duration("How often to probe (default: probe_defaults.interval)."),
    "timeout": duration("Hard timeout of one probe run (default: probe_defaults.timeout)."),
    "thresholds": THRESHOLDS,
}


def target_list(properties: Schema, description: str, required: tuple[str, ...]) -> Schema:
    return {
        "type": "array",
        "description": description,
        "items": strict({"name": NAME, **TIMING, **properties}, description, ("name", *required)),
    }
