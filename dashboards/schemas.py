"""Validation of dashboard JSON against Grafana's own JSON schemas (``../shared/schemas/grafana``:
the dashboard, each panel type's options and field config, the Prometheus query)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

# Panel type -> schema file stem, where the two differ.
SCHEMA_FILES = {"state-timeline": "statetimeline"}


class Schemas:
    """The schemas in one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @cache  # noqa: B019 - one Schemas per folder, kept for the test session
    def _load(self, stem: str) -> dict[str, Any] | None:
        path = self.folder / f"{stem}.jsonschema.json"
        return json.loads(path.read_text()) if path.exists() else None

    def _definition(self, stem: str, name: str) -> jsonschema.Draft7Validator | None:
        document = self._load(stem)
        if document is None or name not in document.get("definitions", {}):
            return None
        return jsonschema.Draft7Validator({"$ref": f"#/definitions/{name}",
                                           "definitions": document["definitions"]})

    def has_panel_schema(self, panel_type: str) -> bool:
        """Whether the folder has a schema for ``panel_type``'s options."""
        return self._definition(SCHEMA_FILES.get(panel_type, panel_type), "Options") is not None

    def problems(self, model: dict[str, Any]) -> Iterator[str]:
        """Every way ``model`` (a dashboard) breaks the schemas, as readable lines."""
        dashboard = self._load("dashboard")
        if dashboard is None:
            raise FileNotFoundError(f"no dashboard.jsonschema.json in {self.folder}")
        for error in jsonschema.Draft7Validator(dashboard).iter_errors(model):
            # A panel is "one of" a panel or a row: say what is wrong with it as what it is.
            if error.validator == "oneOf" and isinstance(error.instance, dict):
                branch = 1 if error.instance.get("type") == "row" else 0
                mine = [e for e in error.context if e.relative_schema_path[0] == branch]
                error = jsonschema.exceptions.best_match(mine) or error
            yield f"dashboard {_where(error)}: {error.message}"
        query = jsonschema.Draft7Validator(self._load("prometheus") or {})
        for panel in panels(model):
            name = f"panel {panel.get('title')!r} ({panel['type']})"
            stem = SCHEMA_FILES.get(panel["type"], panel["type"])
            options = self._definition(stem, "Options")
            if options is not None:
                for error in options.iter_errors(panel.get("options", {})):
                    yield f"{name} options{_where(error)}: {error.message}"
            custom = panel.get("fieldConfig", {}).get("defaults", {}).get("custom")
            field_config = self._definition(stem, "FieldConfig")
            if field_config is not None and custom is not None:
                for error in field_config.iter_errors(custom):
                    yield f"{name} fieldConfig.defaults.custom{_where(error)}: {error.message}"
            elif custom:
                yield f"{name}: custom field config {sorted(custom)} but the type has none"
            for target in panel.get("targets", []):
                for error in query.iter_errors(target):
                    yield f"{name} target {target.get('refId')}{_where(error)}: {error.message}"


def _where(error: jsonschema.ValidationError) -> str:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return path


def panels(model: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel of a dashboard that is not a row, rows' own panels included."""
    for panel in model.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel
