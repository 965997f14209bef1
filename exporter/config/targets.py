"""Target settings kinds: the schema fragment of one target and the typed settings it parses to.

A component declares its kind by key (``exporter.components.Component.settings``); the config
schema puts the fragment in the component's section and the loader calls ``parse`` on each
listed target. Components of the same protocol share a kind (the API and external services both
take ``http`` targets). A new kind is one entry in ``TARGET_KINDS``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from exporter.config import model
from exporter.config.errors import ConfigError
from exporter.config.schema_parts import Schema, duration, file_path, secret, strict
from exporter.durations import parse_duration


@dataclass
class ParseContext:
    """What a target's parser may use besides its own section."""

    # The whole validated tree (e.g. to check that a named database target exists).
    tree: Mapping[str, Any]
    # Every secret value read, so the log redactor can hide it.
    secrets: set[str]

    def keep(self, value: str) -> str:
        """Remember ``value`` as a secret (and a URL's password) and return it."""
        if value:
            self.secrets.add(value)
            parsed = urlsplit(value) if "://" in value else None
            if parsed is not None and parsed.password:
                self.secrets.add(parsed.password)
        return value

    def database_names(self) -> list[str]:
        """Names of the configured database targets, in order."""
        return [raw["name"] for raw in self.tree.get("database") or []]


def read_secret(section: Mapping[str, Any], key: str, where: str) -> str:
    """The value of ``key``, or the contents of ``key_file`` (trailing newline removed)."""
    file_key = f"{key}_file"
    if section.get(file_key):
        if section.get(key):
            raise ConfigError(f"config error at {where}: set {key} or {file_key}, not both")
        try:
            return Path(section[file_key]).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(
                f"config error at {where}.{file_key}: cannot read {section[file_key]}: "
                f"{exc.strerror}") from None
    return str(section.get(key) or "")


def setting(schema: Schema, raw: Mapping[str, Any], key: str) -> Any:
    """``raw[key]``, or the default the kind's schema fragment documents for it."""
    return raw[key] if key in raw else schema[key]["default"]


# parse(raw target section, the common timing fields, context, key path) -> typed target,
# or None when the target is turned off (an empty address).
Parser = Callable[[dict[str, Any], dict[str, Any], ParseContext, str], "model.Target | None"]


@dataclass(frozen=True)
class TargetKind:
    """One kind of target settings."""

    # Properties of one target besides name, interval, timeout and thresholds.
    schema: Schema
    parse: Parser
    # Schemes a target's ``url`` may have (checked when the configuration loads); none: the
    # kind has no ``url`` (PostgreSQL's ``dsn`` has its own check).
    url_schemes: tuple[str, ...] = ()


# --- database (PostgreSQL) ------------------------------------------------------------------------
DATABASE_SCHEMA: Schema = {
    "dsn": secret("libpq connection URL; a password in it must come from a "
                  "reference or dsn_file. Empty turns the target off.", "password"),
    "dsn_file": file_path("File holding the connection URL."),
    "statement_timeout": duration("statement_timeout set on every probe query.", "2s"),
    "pool_size": {"type": "integer", "minimum": 1, "maximum": 10, "default": 2,
                  "description": "Connections kept for probing and queries."},
    "exposed_schemas": {"type": "array", "items": {"type": "string"},
                        "default": ["public"],
                        "description": "Schemas the API exposes (RLS checks)."},
    "slow_statement_threshold": duration(
        "Mean time above which a pg_stat_statements entry counts as slow.", "500ms"),
}


def parse_database(raw: dict[str, Any], timing: dict[str, Any], ctx: ParseContext,
                   where: str) -> model.DatabaseTarget | None:
    dsn = ctx.keep(read_secret(raw, "dsn", where))
    if not dsn:
        return None
    return model.DatabaseTarget(
        **timing, dsn=dsn,
        statement_timeout=parse_duration(setting(DATABASE_SCHEMA, raw, "statement_timeout")),
        pool_size=setting(DATABASE_SCHEMA, raw, "pool_size"),
        exposed_schemas=tuple(setting(DATABASE_SCHEMA, raw, "exposed_schemas")),
        slow_statement_threshold=parse_duration(
            setting(DATABASE_SCHEMA, raw, "slow_statement_threshold")),
    )


# --- Redis ----------------------------------------------------------------------------------------
REDIS_SCHEMA: Schema = {
    "url": secret("redis:// or rediss:// URL; a password in it must come from a "
                  "reference or url_file. Empty turns the target off.", "password"),
    "url_file": file_path("File holding the Redis URL."),
}


def parse_redis(raw: dict[str, Any], timing: dict[str, Any], ctx: ParseContext,
                where: str) -> model.RedisTarget | None:
    url = ctx.keep(read_secret(raw, "url", where))
    return model.RedisTarget(**timing, url=url) if url else None


# --- Supabase Auth --------------------------------------------------------------------------------
AUTH_SCHEMA: Schema = {
    "url": {"type": "string",
            "description": "Auth base URL, e.g. https://<ref>.supabase.co/auth/v1; "
                           "the probe calls {url}/health. Empty turns it off."},
    "anon_key": secret("Anon key, sent as the apikey header."),
    "anon_key_file": file_path("File holding the anon key."),
    "sign_in": strict(
        {
            "enabled": {"type": "boolean", "default": False,
                        "description": "Run a synthetic password sign-in."},
            "email": {"type": "string", "description": "The probe user's email."},
            "email_file": file_path("File holding the probe user's email."),
            "password": secret("The probe user's password."),
            "password_file": file_path("File holding the probe user's password."),
            "captcha_token": secret(
                "CAPTCHA token sent with the password sign-in; only for a project "
                "whose CAPTCHA provider uses its test secret (the provider's test "
                "token)."),
            "captcha_token_file": file_path("File holding the CAPTCHA test token."),
        },
        "Synthetic sign-in with a dedicated probe user (off by default): one "
        "password sign-in, then the refresh-token grant on every run.",
    ),
    "audit_log": strict(
        {
            "enabled": {"type": "boolean", "default": False,
                        "description": "Count auth.audit_log_entries actions."},
            "database": {"type": "string",
                         "description": "Name of the database target to read "
                                        "(default: the first)."},
            "interval": duration("How often to count new entries.", "60s"),
        },
        "Counts of recent Auth audit-log actions (off by default).",
    ),
}


AUDIT_LOG: Schema = AUTH_SCHEMA["audit_log"]["properties"]


def parse_auth(raw: dict[str, Any], timing: dict[str, Any], ctx: ParseContext,
               where: str) -> model.AuthTarget | None:
    if not raw.get("url"):
        return None
    sign_in_raw = raw.get("sign_in") or {}
    sign_in = model.SignIn(
        enabled=bool(setting(AUTH_SCHEMA["sign_in"]["properties"], sign_in_raw, "enabled")),
        email=read_secret(sign_in_raw, "email", f"{where}.sign_in"),
        password=ctx.keep(read_secret(sign_in_raw, "password", f"{where}.sign_in")),
        captcha_token=ctx.keep(read_secret(sign_in_raw, "captcha_token", f"{where}.sign_in")),
    )
    if sign_in.enabled and not (sign_in.email and sign_in.password):
        raise ConfigError(f"config error at {where}.sign_in: enabled sign-in needs an email "
                          f"and a password (or their *_file)")
    audit_raw = raw.get("audit_log") or {}
    configured = ctx.database_names()
    audit_database = audit_raw.get("database") or (configured[0] if configured else None)
    if setting(AUDIT_LOG, audit_raw, "enabled") and audit_database not in configured:
        raise ConfigError(
            f"config error at {where}.audit_log.database: "
            + (f"no database target named {audit_database!r}" if audit_database
               else "counting audit-log entries needs a database target"))
    return model.AuthTarget(
        **timing, url=raw["url"].rstrip("/"),
        anon_key=ctx.keep(read_secret(raw, "anon_key", where)), sign_in=sign_in,
        audit_log=model.AuditLog(
            enabled=bool(setting(AUDIT_LOG, audit_raw, "enabled")), database=audit_database,
            interval=parse_duration(setting(AUDIT_LOG, audit_raw, "interval"))),
    )


# --- Supabase Realtime ----------------------------------------------------------------------------
def synthetic_user(who: str, description: str) -> Schema:
    """The schema of one of the Core Fields probe's users (an email and a password)."""
    return strict({
        "email": {"type": "string", "description": f"The {who}'s email."},
        "email_file": file_path(f"File holding the {who}'s email."),
        "password": secret(f"The {who}'s password."),
        "password_file": file_path(f"File holding the {who}'s password."),
    }, description)


REALTIME_SCHEMA: Schema = {
    "url": {"type": "string",
            "description": "Realtime base URL, e.g. wss://<ref>.supabase.co/"
                           "realtime/v1; the probe opens {url}/websocket. Empty "
                           "turns it off."},
    "anon_key": secret("Anon key, sent as the apikey query parameter."),
    "anon_key_file": file_path("File holding the anon key."),
    "channel": {"type": "string", "default": "wedsync-probe",
                "description": "Channel the probe joins (topic realtime:<channel>)."},
    "access_token": secret("Optional user JWT sent with phx_join."),
    "access_token_file": file_path("File holding the user JWT."),
    "write_dsn": secret("libpq URL of the role the Core Fields probe writes with (UPDATE on "
                        "the probe table and nothing else; docs/core-fields-probe.md). Empty "
                        "turns the Core Fields probe off.", "password"),
    "write_dsn_file": file_path("File holding the Core Fields probe's write URL."),
    "postgres_changes": strict(
        {
            "enabled": {"type": "boolean", "default": False,
                        "description": "Measure the Core Fields path: a write to the probe "
                                       "table until its postgres_changes event, and RLS on it."},
            "auth": {"type": "string",
                     "description": "Name of the auth target whose URL and anon key sign "
                                    "the synthetic users in (default: the first)."},
            "schema": {"type": "string", "pattern": "^[a-z_][a-z0-9_]{0,62}$",
                       "default": "wedsync_probe",
                       "description": "Schema of the probe table."},
            "table": {"type": "string", "pattern": "^[a-z_][a-z0-9_]{0,62}$",
                      "default": "core_fields",
                      "description": "The probe table (one row per synthetic user)."},
            "watcher": synthetic_user(
                "watcher", "The watcher: a synthetic user of the project's Auth whose row the "
                "probe writes and who must get each change."),
            "outsider": synthetic_user(
                "outsider", "The outsider: a second synthetic user, whose RLS hides the "
                "watcher's row; any change it gets is a leak."),
        },
        "The Core Fields probe (off by default): each run writes a nonce to the watcher's "
        "row and times its postgres_changes event; the outsider, whose RLS hides that row, "
        "subscribes to it too and must hear nothing.",
    ),
}


POSTGRES_CHANGES: Schema = REALTIME_SCHEMA["postgres_changes"]["properties"]


def _synthetic_user(raw: dict[str, Any], ctx: ParseContext, where: str) -> model.SyntheticUser:
    user = model.SyntheticUser(email=read_secret(raw, "email", where),
                               password=ctx.keep(read_secret(raw, "password", where)))
    if not (user.email and user.password):
        raise ConfigError(f"config error at {where}: the Core Fields probe needs this user's "
                          f"email and password (or their *_file)")
    return user


def parse_postgres_changes(raw: dict[str, Any], ctx: ParseContext,
                           where: str) -> model.PostgresChanges | None:
    """The Core Fields probe's settings, or None when it is off (not enabled, or an empty
    ``write_dsn``)."""
    section = raw.get("postgres_changes") or {}
    write_dsn = ctx.keep(read_secret(raw, "write_dsn", where))
    if not setting(POSTGRES_CHANGES, section, "enabled") or not write_dsn:
        return None
    here = f"{where}.postgres_changes"
    auth_targets = [t for t in ctx.tree.get("auth") or [] if isinstance(t, dict)]
    wanted = section.get("auth")
    auth = next((t for t in auth_targets if t.get("name") == wanted), None) if wanted \
        else (auth_targets[0] if auth_targets else None)
    if auth is None or not auth.get("url"):
        raise ConfigError(f"config error at {here}.auth: "
                          + (f"no auth target named {wanted!r} with a url" if wanted else
                             "the Core Fields probe signs its users in through Auth: "
                             "configure an auth target with a url"))
    auth_where = f"auth[{auth_targets.index(auth)}]"
    return model.PostgresChanges(
        write_dsn=write_dsn, auth_url=str(auth["url"]).rstrip("/"),
        anon_key=ctx.keep(read_secret(auth, "anon_key", auth_where)),
        schema=setting(POSTGRES_CHANGES, section, "schema"),
        table=setting(POSTGRES_CHANGES, section, "table"),
        watcher=_synthetic_user(section.get("watcher") or {}, ctx, f"{here}.watcher"),
        outsider=_synthetic_user(section.get("outsider") or {}, ctx, f"{here}.outsider"),
    )


def parse_realtime(raw: dict[str, Any], timing: dict[str, Any], ctx: ParseContext,
                   where: str) -> model.RealtimeTarget | None:
    if not raw.get("url"):
        return None
    return model.RealtimeTarget(
        **timing, url=raw["url"].rstrip("/"),
        anon_key=ctx.keep(read_secret(raw, "anon_key", where)),
        channel=setting(REALTIME_SCHEMA, raw, "channel"),
        access_token=ctx.keep(read_secret(raw, "access_token", where)),
        postgres_changes=parse_postgres_changes(raw, ctx, where),
    )


# --- HTTP (the API, external services, any HTTP health URL) -------------------------------------
# Success unless the target lists its own codes (the schema has no default key for it, so the
# reference's default column stays as it is; its description says this value).
EXPECTED_STATUS: tuple[int, ...] = (200,)
HTTP_SCHEMA: Schema = {
    "url": {"type": "string", "description": "URL to request; empty turns the target off."},
    "method": {"type": "string", "enum": ["GET", "HEAD", "POST"], "default": "GET",
               "description": "HTTP method."},
    "expected_status": {
        "type": "array", "items": {"type": "integer", "minimum": 100, "maximum": 599},
        "minItems": 1, "description": "Status codes that count as success (default "
                                      f"{list(EXPECTED_STATUS)}).",
    },
    "json_field": strict(
        {
            "path": {"type": "string", "minLength": 1,
                     "description": "Dotted path into the JSON answer, e.g. `status`."},
            "equals": {"description": "The value the field must have."},
        },
        "Optional check of one field of a JSON answer.",
        ("path", "equals"),
    ),
    "headers": {
        "type": "object",
        "additionalProperties": {"type": "string"},
        "description": "Extra request headers; take secret values from ${VAR} references.",
    },
    "tls_verify": {"type": "boolean", "default": True,
                   "description": "Verify the TLS certificate of https targets."},
    "ca_file": file_path("PEM file of the CA(s) to trust for this target instead of the "
                         "system's (a private CA)."),
}


def parse_http(raw: dict[str, Any], timing: dict[str, Any], ctx: ParseContext,
               where: str) -> model.HttpTarget | None:
    if not raw.get("url"):
        return None
    check = raw.get("json_field")
    headers = raw.get("headers") or {}
    for value in headers.values():
        ctx.keep(value)
    return model.HttpTarget(
        **timing, url=raw["url"], method=setting(HTTP_SCHEMA, raw, "method"),
        expected_status=tuple(raw.get("expected_status", EXPECTED_STATUS)),
        json_field=model.JsonFieldCheck(check["path"], check["equals"]) if check else None,
        headers=tuple(headers.items()), tls_verify=setting(HTTP_SCHEMA, raw, "tls_verify"),
        ca_file=raw.get("ca_file", ""),
    )


# --- PgBouncer admin console ----------------------------------------------------------------------
PGBOUNCER_SCHEMA: Schema = {
    "url": secret("libpq URL of the PgBouncer admin console (database `pgbouncer`, a role in "
                  "PgBouncer's stats_users); a password in it must come from a reference or "
                  "url_file. Empty turns the target off.", "password"),
    "url_file": file_path("File holding the admin-console URL."),
    "databases": {"type": "array", "items": {"type": "string", "minLength": 1},
                  "uniqueItems": True, "default": [],
                  "description": "Pooled databases that keep their own `database` label; the "
                                 "others fold into `other`. Empty: the first max_databases by "
                                 "name keep theirs."},
    "max_databases": {"type": "integer", "minimum": 1, "maximum": 500, "default": 20,
                      "description": "Cap on `database` label values when `databases` is "
                                     "empty."},
}


def parse_pgbouncer(raw: dict[str, Any], timing: dict[str, Any], ctx: ParseContext,
                    where: str) -> model.PoolerTarget | None:
    url = ctx.keep(read_secret(raw, "url", where))
    if not url:
        return None
    return model.PoolerTarget(
        **timing, url=url, databases=tuple(setting(PGBOUNCER_SCHEMA, raw, "databases")),
        max_databases=setting(PGBOUNCER_SCHEMA, raw, "max_databases"))


# --- BullMQ / Bull v3 queues in Redis -------------------------------------------------------------
BULLMQ_SCHEMA: Schema = {
    "url": secret("redis:// or rediss:// URL of the Redis that holds the queues; a password "
                  "in it must come from a reference or url_file. Empty turns the target off.",
                  "password"),
    "url_file": file_path("File holding the Redis URL."),
    "prefix": {"type": "string", "pattern": "^[^:\\s]+$", "default": "bull",
               "description": "Key prefix of the BullMQ or Bull v3 queues."},
    "names": {
        "default": [],
        "description": "Queue names to watch: a list, or one comma-separated string (so that "
                       "a ${VAR} can hold them). Empty with discovery off turns the target "
                       "off.",
        "oneOf": [{"type": "array", "items": {"type": "string", "pattern": "^[^:,\\s]+$"}},
                  {"type": "string", "pattern": "^[^:]*$"}],
    },
    "discovery": strict(
        {
            "enabled": {"type": "boolean", "default": False,
                        "description": "Find queues by SCAN as well."},
            "scan_calls": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10,
                           "description": "SCAN calls per probe run at most; a pass resumes "
                                          "where the last run stopped."},
            "scan_count": {"type": "integer", "minimum": 10, "maximum": 10000, "default": 1000,
                           "description": "COUNT hint of each SCAN call."},
        },
        "Queue discovery by a bounded SCAN for the queues' `id`, `meta` and `meta-paused` "
        "keys.",
    ),
    "max_queues": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100,
                   "description": "Queues watched at most (named ones first); the rest are "
                                  "counted in wedsync_queues_skipped."},
}


def parse_bullmq(raw: dict[str, Any], timing: dict[str, Any], ctx: ParseContext,
                 where: str) -> model.QueuesTarget | None:
    url = ctx.keep(read_secret(raw, "url", where))
    names = setting(BULLMQ_SCHEMA, raw, "names")
    if isinstance(names, str):
        names = names.split(",")
    found = raw.get("discovery") or {}
    found_schema = BULLMQ_SCHEMA["discovery"]["properties"]
    discovery = model.QueueDiscovery(
        **{key: setting(found_schema, found, key) for key in ("enabled", "scan_calls",
                                                              "scan_count")})
    wanted = tuple(dict.fromkeys(n.strip() for n in names if n.strip()))
    if not url or not (wanted or discovery.enabled):
        return None
    return model.QueuesTarget(**timing, url=url, prefix=setting(BULLMQ_SCHEMA, raw, "prefix"),
                              names=wanted, discovery=discovery,
                              max_queues=setting(BULLMQ_SCHEMA, raw, "max_queues"))


# The kinds by key, as components name them.
TARGET_KINDS: dict[str, TargetKind] = {
    "postgres": TargetKind(DATABASE_SCHEMA, parse_database),
    "redis": TargetKind(REDIS_SCHEMA, parse_redis, ("redis", "rediss", "unix")),
    "supabase_auth": TargetKind(AUTH_SCHEMA, parse_auth, ("http", "https")),
    "supabase_realtime": TargetKind(REALTIME_SCHEMA, parse_realtime,
                                    ("ws", "wss", "http", "https")),
    "http": TargetKind(HTTP_SCHEMA, parse_http, ("http", "https")),
    "pgbouncer": TargetKind(PGBOUNCER_SCHEMA, parse_pgbouncer),
    "bullmq": TargetKind(BULLMQ_SCHEMA, parse_bullmq),
}
