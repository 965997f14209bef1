"""Read, expand, validate and type the configuration file; every failure is one clear line."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from exporter.components import REGISTRY, ComponentError, check_wiring
from exporter.config import model
from exporter.config.addresses import AddressError, check_addresses
from exporter.config.envrefs import UnsetVariableError, expand, path_text
from exporter.config.errors import ConfigError
from exporter.config.query_naming import NamingError, query_families
from exporter.config.query_pack import builtin_queries
from exporter.config.query_statement import StatementError, check_statement
from exporter.config.schema import config_schema, schema_default
from exporter.config.sections import (
    deploy_gate_settings,
    ingestion_settings,
    maintenance_windows,
    prometheus_settings,
    server_settings,
    shared_state_settings,
    validation_settings,
)
from exporter.config.targets import TARGET_KINDS, ParseContext, read_secret
from exporter.durations import parse_duration

__all__ = ["ConfigError", "load_config", "parse_config"]
_validator: tuple[int, Draft202012Validator] | None = None


def _schema_validator() -> Draft202012Validator:
    """The validator of the current schema (rebuilt when the component registry changed)."""
    global _validator
    if _validator is None or _validator[0] != REGISTRY.generation:
        _validator = (REGISTRY.generation, Draft202012Validator(config_schema()))
    return _validator[1]


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> model.Config:
    """Load ``path`` with environment ``env`` (default: os.environ)."""
    env = os.environ if env is None else env
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {file}: {exc.strerror}") from None
    return parse_config(text, env, source=str(file))


def parse_config(text: str, env: Mapping[str, str], source: str = "<string>") -> model.Config:
    """Parse configuration text (YAML)."""
    try:
        tree = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"config file {source} is not valid YAML{where}: {problem}") from None
    if tree is None:
        tree = {}
    if not isinstance(tree, dict):
        raise ConfigError(f"config file {source} must be a mapping of sections at the top level")
    try:
        expanded = expand(tree, env)
    except UnsetVariableError as exc:
        raise ConfigError(f"config error: {exc}") from None
    try:
        check_wiring(TARGET_KINDS, "target settings", "settings",
                     "exporter.config.targets.TARGET_KINDS")
    except ComponentError as exc:
        raise ConfigError(f"component registry error: {exc}") from None
    _validate(expanded.tree)
    _check_secrets(expanded.tree, config_schema(), (), expanded.referenced_paths)
    config = _build(expanded.tree, source)
    try:
        check_addresses(config)
    except AddressError as exc:
        raise ConfigError(f"config error at {exc}") from None
    return config


def _describe(error: ValidationError) -> str:
    where = path_text(tuple(error.absolute_path))
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties":
        known = sorted(schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(known)) if isinstance(error.instance, dict) else []
        expected = f"; expected one of: {', '.join(known)}" if known else ""
        return f"unknown key {', '.join(map(repr, extra))} at {where}{expected}"
    if error.validator == "pattern" and schema.get("pattern") == config_schema()["properties"][
        "probe_defaults"]["properties"]["interval"]["pattern"]:
        return f"{where}: {error.instance!r} is not a duration; expected e.g. 15s, 250ms, 2m"
    if error.validator == "required":
        return f"{where}: {error.message}"
    if error.validator == "type":
        return f"{where}: expected {error.validator_value}, got {type(error.instance).__name__}"
    if error.validator == "enum":
        options = ", ".join(map(str, error.validator_value))
        return f"{where}: {error.instance!r} is not one of: {options}"
    return f"{where}: {error.message}"


def _validate(tree: dict[str, Any]) -> None:
    errors = sorted(_schema_validator().iter_errors(tree),
                    key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ConfigError(f"config error at {_describe(errors[0])}{more}")


def _check_secrets(node: Any, schema: dict[str, Any], path: tuple[str | int, ...],
                   referenced: set[tuple[str | int, ...]]) -> None:
    """Secrets come only from ${VAR} references or *_file paths, never literal in the file."""
    kind = schema.get("x-secret")
    if kind and isinstance(node, str) and node and path not in referenced:
        if kind is True:
            raise ConfigError(
                f"config error at {path_text(path)}: secrets may not be written in the file; "
                f"use a ${{VAR}} reference or {path[-1]}_file")
        if kind == "password" and urlsplit(node).password:
            raise ConfigError(
                f"config error at {path_text(path)}: a password may not be written in the "
                f"file; use a ${{VAR}} reference or {path[-1]}_file")
    if isinstance(node, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, value in node.items():
            sub = props.get(key, extra if isinstance(extra, dict) else {})
            _check_secrets(value, sub, (*path, key), referenced)
    elif isinstance(node, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(node):
            _check_secrets(item, schema["items"], (*path, i), referenced)


def _thresholds(raw: dict[str, Any] | None) -> model.Thresholds:
    raw = raw or {}
    degraded = parse_duration(raw["degraded"]) if "degraded" in raw else None
    critical = parse_duration(raw["critical"]) if "critical" in raw else None
    return model.Thresholds(degraded=degraded, critical=critical)


def _timing(raw: dict[str, Any], defaults: dict[str, Any], where: str) -> dict[str, Any]:
    def default(key: str) -> Any:
        return defaults[key] if key in defaults else schema_default("probe_defaults", key)

    interval = parse_duration(raw.get("interval", default("interval")))
    timeout = parse_duration(raw.get("timeout", default("timeout")))
    if interval <= 0 or timeout <= 0:
        raise ConfigError(f"config error at {where}: interval and timeout must be above zero")
    thresholds = _thresholds(raw.get("thresholds"))
    if (thresholds.degraded and thresholds.critical
            and thresholds.critical < thresholds.degraded):
        raise ConfigError(f"config error at {where}.thresholds: critical is below degraded")
    return {"name": raw["name"], "interval": interval, "timeout": timeout,
            "thresholds": thresholds}


def _targets(tree: dict[str, Any], component: str, defaults: dict[str, Any]) -> list[
        tuple[dict[str, Any], dict[str, Any], str]]:
    seen: set[str] = set()
    out = []
    for i, raw in enumerate(tree.get(component) or []):
        where = f"{component}[{i}]"
        if raw["name"] in seen:
            raise ConfigError(f"config error at {where}.name: {raw['name']!r} is used twice")
        seen.add(raw["name"])
        out.append((raw, _timing(raw, defaults, where), where))
    return out


def _query_setting(definition: dict[str, Any], key: str) -> Any:
    return definition[key] if key in definition else schema_default("queries", "*", key)


def _query(name: str, raw: dict[str, Any], default_database: str) -> model.QueryConfig:
    """One query, its built-in definition filled in, its statement and mapping checked."""
    where = f"queries.{name}"
    if raw.get("builtin"):
        if any(key in raw for key in ("sql", "metrics", "labels")):
            raise ConfigError(f"config error at {where}: a builtin query takes no sql, metrics "
                              f"or labels; copy it from the wedding pack to change them")
        definition = {**builtin_queries()[raw["builtin"]], **raw}
    else:
        definition = raw
    if not definition.get("sql") or not definition.get("metrics"):
        raise ConfigError(f"config error at {where}: a query needs sql and metrics, or builtin")
    try:
        if not raw.get("builtin"):  # the pack's statements are checked by the tests
            check_statement(definition["sql"])
    except StatementError as exc:
        raise ConfigError(f"config error at {where}.sql: {exc}") from None
    label_columns = definition.get("labels") or {}
    both = sorted(set(definition["metrics"]) & set(label_columns))
    if both:
        raise ConfigError(f"config error at {where}: column {both[0]!r} cannot be both a "
                          f"metric and a label")
    metrics = tuple(
        model.MetricMapping(column=column, name=spec["name"], kind=spec["type"],
                            help=spec.get("help", ""), unit=spec.get("unit", ""))
        for column, spec in definition["metrics"].items())
    labels = tuple(model.LabelMapping(column=column, name=spec.get("name", column),
                                      cap=spec["cap"])
                   for column, spec in label_columns.items())
    names = [label.name for label in labels]
    if len(set(names)) != len(names):
        raise ConfigError(f"config error at {where}.labels: two columns give the same label "
                          f"name")
    try:
        query_families(metrics, labels)
    except NamingError as exc:
        raise ConfigError(f"config error at {where}.metrics: {exc}") from None
    return model.QueryConfig(
        name=name, database=raw.get("database") or default_database,
        builtin=raw.get("builtin"), enabled=_query_setting(raw, "enabled"),
        interval=parse_duration(_query_setting(definition, "interval")),
        timeout=parse_duration(_query_setting(definition, "timeout")), raw=raw,
        sql=definition["sql"], max_rows=_query_setting(definition, "max_rows"),
        metrics=metrics, labels=labels,
    )


def _queries(tree: dict[str, Any], databases: list[model.DatabaseTarget]) -> tuple[
        model.QueryConfig, ...]:
    """The ``queries`` section; two running queries may not fill the same metric family."""
    declared = {raw["name"] for raw in tree.get("database") or []}
    default_database = databases[0].name if databases else ""
    filled_by: dict[str, str] = {}
    queries = []
    for name, raw in (tree.get("queries") or {}).items():
        where = f"queries.{name}"
        if raw.get("database") and raw["database"] not in declared:
            raise ConfigError(f"config error at {where}.database: no database target named "
                              f"{raw['database']!r}")
        query = _query(name, raw, default_database)
        if query.interval <= 0 or query.timeout <= 0:
            raise ConfigError(f"config error at {where}: interval and timeout must be above "
                              f"zero")
        if query.enabled:
            for metric in query.metrics:
                other = filled_by.setdefault(metric.name, name)
                if other != name:
                    raise ConfigError(f"config error at {where}.metrics: {metric.name} is "
                                      f"filled by query {other} too")
        queries.append(query)
    return tuple(queries)


def _build(tree: dict[str, Any], source: str) -> model.Config:
    timezone = tree.get("timezone", schema_default("timezone"))
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"config error at timezone: {timezone!r} is not an IANA time zone such as "
            f"Europe/London") from None
    defaults = tree.get("probe_defaults") or {}
    ctx = ParseContext(tree, set())
    keep = ctx.keep
    components: dict[str, tuple[model.Target, ...]] = {}
    for component in REGISTRY:
        parse = TARGET_KINDS[component.settings].parse
        parsed = (parse(raw, timing, ctx, where)
                  for raw, timing, where in _targets(tree, component.name, defaults))
        components[component.name] = tuple(t for t in parsed if t is not None)
    databases = [t for t in components.get("database", ()) if isinstance(t, model.DatabaseTarget)]
    tokens_raw = tree.get("tokens") or {}
    tokens = model.Tokens(**{kind: keep(read_secret(tokens_raw, kind, "tokens"))
                             for kind in ("admin", "ingest", "deploy")})
    queries = _queries(tree, databases)
    tail_database = ((tree.get("ingestion") or {}).get("performance_logs") or {}).get("database")
    if tail_database and tail_database not in {r["name"] for r in tree.get("database") or []}:
        raise ConfigError(f"config error at ingestion.performance_logs.database: no database "
                          f"target named {tail_database!r}")
    log = tree.get("log") or {}
    status_page = tree.get("status_page") or {}

    def setting(section: dict[str, Any], *path: str) -> Any:
        return section[path[-1]] if path[-1] in section else schema_default(*path)

    return model.Config(
        timezone=timezone,
        listen=setting(tree, "listen"),
        log_level=setting(log, "log", "level"),
        log_format=setting(log, "log", "format"),
        tokens=tokens,
        rate_limits={**model.DEFAULT_RATE_LIMITS, **(tree.get("rate_limits") or {})},
        essential=tuple((tree.get("components") or {}).get("essential",
                                                          REGISTRY.essential(components))),
        components=components,
        queries=tuple(queries),
        status_page_enabled=setting(status_page, "status_page", "enabled"),
        status_page_title=setting(status_page, "status_page", "title"),
        server=server_settings(tree.get("server") or {}),
        ingestion=ingestion_settings(tree.get("ingestion") or {}),
        validation=validation_settings(tree.get("validation") or {}),
        deploy_gate=deploy_gate_settings(tree.get("deploy_gate") or {},
                                         tree.get("alertmanager") or {}),
        secrets=frozenset(ctx.secrets),
        raw=tree,
        source=source,
        prometheus=prometheus_settings(tree.get("prometheus") or {}),
        maintenance=maintenance_windows(tree.get("maintenance") or {}, timezone),
        shared_state=shared_state_settings(
            tree.get("shared_state") or {},
            keep(read_secret(tree.get("shared_state") or {}, "url", "shared_state"))),
    )
