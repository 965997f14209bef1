"""Validation's settings, read from the validated ``validation`` section."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exporter.config.model import DEFAULT_REQUIRED_TABLES
from exporter.durations import parse_duration


@dataclass(frozen=True)
class ValidationSettings:
    """Interval, required tables and the thresholds the performance checks use."""

    enabled: bool = True
    interval: float = 300.0
    timeout: float = 20.0
    required_tables: tuple[str, ...] = DEFAULT_REQUIRED_TABLES
    connection_usage: float = 0.8
    cache_hit_ratio: float = 0.99
    cache_min_blocks: int = 10_000
    redis_hit_ratio: float = 0.95
    redis_min_lookups: int = 1_000

    @classmethod
    def from_section(cls, raw: dict[str, Any]) -> ValidationSettings:
        """Settings from the raw validated section (defaults where a key is absent)."""
        limits = raw.get("thresholds") or {}
        return cls(
            enabled=raw.get("enabled", True),
            interval=parse_duration(raw.get("interval", "5m")),
            timeout=parse_duration(raw.get("timeout", "20s")),
            required_tables=tuple(raw.get("required_tables", DEFAULT_REQUIRED_TABLES)),
            **{name: limits[name] for name in (
                "connection_usage", "cache_hit_ratio", "cache_min_blocks", "redis_hit_ratio",
                "redis_min_lookups") if name in limits},
        )
