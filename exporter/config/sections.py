"""The typed settings of the configuration's feature sections, parsed once when it loads.

A key the file leaves out takes the default the schema documents (``schema_default``), so a
default is written in one place; features read ``config.server``, ``config.ingestion``,
``config.validation`` and ``config.deploy_gate``, never the raw sections.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from exporter.config.errors import ConfigError
from exporter.config.model import (
    DEFAULT_PRIVILEGED_ROLES,
    DEFAULT_REQUIRED_TABLES,
    DeployGateSettings,
    IngestionSettings,
    MaintenanceWindow,
    PrometheusSettings,
    ServerSettings,
    SharedStateSettings,
    TailSettings,
    ValidationSettings,
)
from exporter.config.schema import schema_default
from exporter.durations import parse_duration


def _value(raw: Mapping[str, Any], *path: str) -> Any:
    """``raw[path[-1]]``, or the schema's default for the key at ``path``."""
    return raw[path[-1]] if path[-1] in raw else schema_default(*path)


def server_settings(raw: Mapping[str, Any]) -> ServerSettings:
    """The ``server`` section (``{}`` gives every default)."""
    return ServerSettings(
        header_timeout=parse_duration(_value(raw, "server", "header_timeout")),
        body_timeout=parse_duration(_value(raw, "server", "body_timeout")),
        idle_timeout=parse_duration(_value(raw, "server", "idle_timeout")),
        max_connections=_value(raw, "server", "max_connections"),
        refusals_per_second=_value(raw, "server", "refusals_per_second"),
        tarpit_seconds=parse_duration(_value(raw, "server", "tarpit_seconds")),
        tarpit_max=_value(raw, "server", "tarpit_max"),
    )


def ingestion_settings(raw: Mapping[str, Any]) -> IngestionSettings:
    """The ``ingestion`` section (``{}`` gives every default)."""
    caps = raw.get("label_caps") or {}
    tail = raw.get("performance_logs") or {}

    def of_tail(key: str) -> Any:
        return _value(tail, "ingestion", "performance_logs", key)

    return IngestionSettings(
        enabled=_value(raw, "ingestion", "enabled"),
        max_body_bytes=_value(raw, "ingestion", "max_body_bytes"),
        max_compression_ratio=_value(raw, "ingestion", "max_compression_ratio"),
        max_events=_value(raw, "ingestion", "max_events"),
        route_templates=tuple(raw.get("route_templates") or ()),
        route_cap=_value(caps, "ingestion", "label_caps", "route"),
        series_cap=_value(caps, "ingestion", "label_caps", "series"),
        tail=TailSettings(
            enabled=of_tail("enabled"),
            database=tail.get("database"),
            interval=parse_duration(of_tail("interval")),
            batch_size=of_tail("batch_size"),
            settle=parse_duration(of_tail("settle")),
            max_lag=parse_duration(of_tail("max_lag")),
        ),
    )


THRESHOLDS = ("connection_usage", "cache_hit_ratio", "cache_min_blocks", "redis_hit_ratio",
              "redis_min_lookups")


def validation_settings(raw: Mapping[str, Any]) -> ValidationSettings:
    """The ``validation`` section (``{}`` gives every default)."""
    limits = raw.get("thresholds") or {}
    return ValidationSettings(
        enabled=_value(raw, "validation", "enabled"),
        interval=parse_duration(_value(raw, "validation", "interval")),
        timeout=parse_duration(_value(raw, "validation", "timeout")),
        required_tables=tuple(raw.get("required_tables", DEFAULT_REQUIRED_TABLES)),
        **{name: _value(limits, "validation", "thresholds", name) for name in THRESHOLDS},
        privileged_roles=tuple(raw.get("privileged_roles", DEFAULT_PRIVILEGED_ROLES)),
        archiving_off_severity=_value(raw, "validation", "archiving_off_severity"),
        archive_max_pending_age=parse_duration(
            _value(limits, "validation", "thresholds", "archive_max_pending_age")),
    )


def deploy_gate_settings(gate: Mapping[str, Any],
                         alertmanager: Mapping[str, Any]) -> DeployGateSettings:
    """The ``deploy_gate`` and ``alertmanager`` sections."""
    return DeployGateSettings(
        fail_open=_value(gate, "deploy_gate", "fail_open"),
        override_max_duration=parse_duration(
            _value(gate, "deploy_gate", "override_max_duration")),
        alertmanager_url=str(alertmanager.get("url") or "").rstrip("/"),
        # Never below 0.1 s: a zero timeout would make every question fail.
        alertmanager_timeout=max(0.1, parse_duration(
            _value(alertmanager, "alertmanager", "timeout"))),
    )


def shared_state_settings(raw: Mapping[str, Any], url: str) -> SharedStateSettings:
    """The ``shared_state`` section; ``url`` is read by the loader (it is a secret)."""
    return SharedStateSettings(
        url=url,
        key_prefix=_value(raw, "shared_state", "key_prefix"),
        timeout=max(0.01, parse_duration(_value(raw, "shared_state", "timeout"))),
        refresh=max(0.05, parse_duration(_value(raw, "shared_state", "refresh"))),
        lease=max(1.0, parse_duration(_value(raw, "shared_state", "lease"))),
    )


def prometheus_settings(raw: Mapping[str, Any]) -> PrometheusSettings:
    """The ``prometheus`` section: one URL for every feature that asks Prometheus."""
    return PrometheusSettings(
        url=str(raw.get("url") or "").rstrip("/"),
        timeout=max(0.1, parse_duration(_value(raw, "prometheus", "timeout"))),
        # Never more often than every second (tests ask every 2 s; the default is 5 minutes).
        refresh=max(1.0, parse_duration(_value(raw, "prometheus", "refresh"))))


def maintenance_windows(raw: Mapping[str, Any], timezone: str) -> tuple[MaintenanceWindow, ...]:
    """The ``maintenance`` section's windows, in start order; a time without an offset is in
    the platform's ``timezone``."""
    zone = ZoneInfo(timezone)

    def moment(text: str, where: str) -> datetime:
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(f"config error at {where}: {text!r} is not a date and time such "
                              f"as 2026-06-06T09:00") from None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)

    windows = []
    for index, window in enumerate(raw.get("windows") or ()):
        where = f"maintenance.windows[{index}]"
        start, end = moment(window["start"], f"{where}.start"), moment(window["end"],
                                                                        f"{where}.end")
        if end <= start:
            raise ConfigError(f"config error at {where}: end must be after start")
        windows.append(MaintenanceWindow(start=start, end=end,
                                         components=tuple(window["components"]),
                                         message=window["message"]))
    return tuple(sorted(windows, key=lambda w: w.start))
