"""docs/reference/configuration.md from the configuration's JSON Schema."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from exporter.config.schema import config_schema


def _type(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in schema["enum"])
    kind = schema.get("type")
    if kind == "string" and "pattern" in schema and "ms|s|m|h|d" in schema["pattern"]:
        return "duration"
    if kind == "array":
        items = schema.get("items", {})
        return f"list of {_type(items)}" if items else "list"
    if kind == "object" and "properties" not in schema:
        extra = schema.get("additionalProperties")
        return f"map of {_type(extra)}" if isinstance(extra, dict) else "map"
    return str(kind or "any")


def rows(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, str, str, str]]:
    """(key path, type, default, description) for every documented key."""
    for key, sub in schema.get("properties", {}).items():
        where = f"{path}.{key}" if path else key
        if sub.get("type") == "array" and isinstance(sub.get("items"), dict) and \
                "properties" in sub["items"]:
            yield where, "list of targets", "[]", sub.get("description", "")
            yield from rows(sub["items"], f"{where}[]")
            continue
        default = json.dumps(sub["default"]) if "default" in sub else ""
        description = sub.get("description", "")
        if sub.get("x-secret"):
            description += " **Secret**: only from `${VAR}` or the `_file` key."
        yield where, _type(sub), default, description
        if "properties" in sub:
            yield from rows(sub, where)
        extra = sub.get("additionalProperties")
        if isinstance(extra, dict) and "properties" in extra:
            yield from rows(extra, f"{where}.<name>")


def render() -> str:
    """The whole document."""
    out = [
        "# Configuration reference",
        "",
        "Generated from `exporter/config/schema.py` by `python -m docsgen build`; do not edit.",
        "",
        "One YAML file (`wedsync-exporter --config FILE`; check it with `wedsync-exporter",
        "check-config FILE`). Unknown keys are errors; an error names the key path.",
        "Durations are strings like `15s`, `250ms`, `2m`. Any string may use environment",
        "references: `${VAR}` (must be set), `${VAR:-default}`, `${VAR:-}` (may be empty; an",
        "empty address turns that target off). Secrets may only come from references or",
        "`*_file` paths. See `exporter/example.yaml` for a complete example.",
        "",
        "| key | type | default | meaning |",
        "|---|---|---|---|",
    ]
    for path, kind, default, description in rows(config_schema()):
        cell = description.replace("|", "\\|").replace("\n", " ")
        out.append(f"| `{path}` | {kind} | {f'`{default}`' if default else ''} | {cell} |")
    out.append("")
    return "\n".join(out)
