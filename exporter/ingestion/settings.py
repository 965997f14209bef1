"""Ingestion's settings, read from the validated ``ingestion`` section of the configuration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exporter.durations import parse_duration


@dataclass(frozen=True)
class TailSettings:
    """The performance_logs tailer (off by default)."""

    enabled: bool = False
    database: str | None = None
    interval: float = 5.0
    batch_size: int = 5000
    settle: float = 10.0
    max_lag: float = 900.0


@dataclass(frozen=True)
class IngestionSettings:
    """Limits, templates and caps of ingestion."""

    enabled: bool = True
    max_body_bytes: int = 2 * 1024 * 1024
    max_events: int = 5000
    max_compression_ratio: float = 100.0
    route_templates: tuple[str, ...] = ()
    route_cap: int = 500
    series_cap: int = 2000
    tail: TailSettings = TailSettings()

    @classmethod
    def from_section(cls, raw: dict[str, Any]) -> IngestionSettings:
        """Settings from the raw validated section (defaults where a key is absent)."""
        caps = raw.get("label_caps") or {}
        tail = raw.get("performance_logs") or {}
        defaults = TailSettings()
        return cls(
            enabled=raw.get("enabled", True),
            max_body_bytes=raw.get("max_body_bytes", cls.max_body_bytes),
            max_events=raw.get("max_events", cls.max_events),
            max_compression_ratio=raw.get("max_compression_ratio", cls.max_compression_ratio),
            route_templates=tuple(raw.get("route_templates") or ()),
            route_cap=caps.get("route", cls.route_cap),
            series_cap=caps.get("series", cls.series_cap),
            tail=TailSettings(
                enabled=tail.get("enabled", False),
                database=tail.get("database"),
                interval=parse_duration(tail.get("interval", defaults.interval)),
                batch_size=tail.get("batch_size", defaults.batch_size),
                settle=parse_duration(tail.get("settle", defaults.settle)),
                max_lag=parse_duration(tail.get("max_lag", defaults.max_lag)),
            ),
        )
