"""Turns the dashboard definitions into ``grafana/dashboards/*.json``.

``render()`` gives {file name: JSON text}: grafanalib's output, normalised to current Grafana's
schema (``dashboards.normalise``), with stable key order and a final newline so that the
committed files only change when a dashboard does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grafanalib import core
from grafanalib._gen import DashboardEncoder

from dashboards import (
    api_slo,
    capacity,
    database,
    exporter_health,
    load_tests,
    normalise,
    overview,
    pooler,
    realtime_auth,
    redis_cache,
    reference,
)
from dashboards.settings import BOARDS, Board

REPO = Path(__file__).resolve().parent.parent
DASHBOARDS_DIR = REPO / "grafana" / "dashboards"

DEFINITIONS: dict[Board, Callable[[], core.Dashboard]] = dict(zip(BOARDS, (
    overview.dashboard, api_slo.dashboard, database.dashboard, redis_cache.dashboard,
    realtime_auth.dashboard, load_tests.dashboard, exporter_health.dashboard,
    pooler.dashboard, capacity.dashboard), strict=True))


def document(board: Board) -> dict[str, Any]:
    """One dashboard as current Grafana's JSON model."""
    raw = json.loads(json.dumps(DEFINITIONS[board]().to_json_data(), cls=DashboardEncoder))
    return normalise.dashboard(raw)


def documents() -> dict[Board, dict[str, Any]]:
    """Every dashboard's JSON model."""
    return {board: document(board) for board in BOARDS}


def render() -> dict[str, str]:
    """{file name: JSON text} of every dashboard."""
    return {board.file: json.dumps(model, indent=2, ensure_ascii=False) + "\n"
            for board, model in documents().items()}


def documentation() -> str:
    """docs/dashboards.md with its generated section as the code says."""
    return reference.updated(reference.DOCUMENT.read_text(), documents())


def write(directory: Path = DASHBOARDS_DIR) -> list[Path]:
    """Write every dashboard into ``directory`` (and, for the repo's own folder, the generated
    section of docs/dashboards.md); the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render().items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    if directory == DASHBOARDS_DIR:
        reference.DOCUMENT.write_text(documentation())
        written.append(reference.DOCUMENT)
    return written


def differences(directory: Path = DASHBOARDS_DIR) -> list[str]:
    """Dashboard files in ``directory`` that differ from ``render()`` (or should not be there);
    for the repo's own folder, docs/dashboards.md too."""
    wanted = render()
    found = {p.name for p in directory.glob("*.json")}
    out = [name for name, text in wanted.items()
           if not (directory / name).exists() or (directory / name).read_text() != text]
    out += sorted(found - set(wanted))
    if directory == DASHBOARDS_DIR and reference.DOCUMENT.read_text() != documentation():
        out.append("docs/dashboards.md")
    return out
