"""Configuration: environment references, schema errors that name the key path, secrets only
from references or files, and a refusal to start on a bad config."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from exporter.config import ConfigError, load_config, parse_config
from harness.ports import free_port
from tests.conftest import REPO

EXAMPLE = REPO / "exporter" / "example.yaml"


def test_example_config_runs_against_the_local_machine_by_default() -> None:
    config = load_config(EXAMPLE, env={})
    assert [t.dsn for t in config.database] == ["postgresql://postgres@127.0.0.1:5432/postgres"]
    assert [t.url for t in config.redis] == ["redis://127.0.0.1:6379/0"]
    # Auth, Realtime and API probes are off until their URLs are set.
    assert config.auth == config.realtime == config.api == ()
    assert config.database[0].interval == 15.0
    assert config.tokens.admin == ""
    assert [q.name for q in config.queries] == [
        "weddings", "core_field_updates", "form_submissions", "active_suppliers",
        "active_couples", "supplier_invitations"]


def test_environment_references_fill_the_example() -> None:
    env = {"WEDSYNC_DATABASE_URL": "postgresql://exporter:s3cret-pw@db:5432/app",
           "WEDSYNC_AUTH_URL": "https://ref.supabase.co/auth/v1",
           "SUPABASE_ANON_KEY": "anon-key-value", "WEDSYNC_PROBE_INTERVAL_SECONDS": "30",
           "WEDSYNC_ADMIN_TOKEN": "admin-token-value"}
    config = load_config(EXAMPLE, env=env)
    assert config.database[0].dsn == env["WEDSYNC_DATABASE_URL"]
    assert config.database[0].interval == 30.0
    assert config.auth[0].url == "https://ref.supabase.co/auth/v1"
    assert config.auth[0].anon_key == "anon-key-value"
    assert config.tokens.admin == "admin-token-value"
    # Every secret is known to the log redactor, the DSN's password on its own too.
    assert {"s3cret-pw", "anon-key-value", "admin-token-value"} <= config.secrets


@pytest.mark.parametrize(("text", "env", "expected"), [
    ("redis: [{name: c, url: '${R}'}]", {"R": "redis://h:1/0"}, "redis://h:1/0"),
    ("redis: [{name: c, url: '${R:-redis://d:2/0}'}]", {}, "redis://d:2/0"),
    ("redis: [{name: c, url: '${R:-redis://d:2/0}'}]", {"R": ""}, "redis://d:2/0"),
    ("redis: [{name: c, url: 'redis://${HOST:-x}:${PORT:-9}/0'}]", {"HOST": "h"},
     "redis://h:9/0"),
])
def test_references_expand(text: str, env: dict[str, str], expected: str) -> None:
    assert parse_config(text, env).redis[0].url == expected


def test_an_empty_reference_turns_the_probe_off() -> None:
    config = parse_config("redis: [{name: c, url: '${R:-}'}]", {})
    assert config.redis == ()


@pytest.mark.parametrize(("text", "env", "message"), [
    ("redis: [{name: c, url: '${REDIS_URL}'}]", {},
     "environment variable REDIS_URL is not set (at redis[0].url)"),
    ("databse: []", {}, "unknown key 'databse' at (top level)"),
    ("database: [{name: p, dsn: 'postgresql://x', intervl: 5s}]", {},
     "unknown key 'intervl' at database[0]"),
    ("probe_defaults: {interval: 15x}", {},
     "probe_defaults.interval: '15x' is not a duration"),
    ("database: [{dsn: 'postgresql://x'}]", {}, "database[0]: 'name' is a required property"),
    ("timezone: Europe/Londn", {}, "timezone: 'Europe/Londn' is not an IANA time zone"),
    ("log: {level: loud}", {}, "log.level: 'loud' is not one of: debug, info, warning, error"),
    ("redis: [{name: a, url: 'redis://x'}, {name: a, url: 'redis://y'}]", {},
     "redis[1].name: 'a' is used twice"),
    ("queries: {weddings: {builtin: weddings, database: nope}}", {},
     "queries.weddings.database: no database target named 'nope'"),
    ("- a list", {}, "must be a mapping"),
    ("a: [unclosed", {}, "is not valid YAML"),
])
def test_bad_config_is_one_clear_line(text: str, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, env)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("text", [
    "tokens: {admin: literal-admin-token}",
    "auth: [{name: a, url: 'https://x/auth/v1', anon_key: literal-anon-key}]",
    "database: [{name: p, dsn: 'postgresql://u:literal-pw@h/db'}]",
    "redis: [{name: c, url: 'redis://:literal-pw@h:6379/0'}]",
])
def test_secrets_written_in_the_file_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match=r"use a \$\{VAR\} reference or .*_file") as caught:
        parse_config(text, {})
    assert "literal" not in str(caught.value)


def test_secrets_come_from_files(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("file-admin-token\n")
    (tmp_path / "dsn").write_text("postgresql://u:file-pw@h/db\n")
    text = (f"tokens: {{admin_file: {tmp_path / 'token'}}}\n"
            f"database: [{{name: p, dsn_file: {tmp_path / 'dsn'}}}]\n")
    config = parse_config(text, {})
    assert config.tokens.admin == "file-admin-token"
    assert config.database[0].dsn == "postgresql://u:file-pw@h/db"
    assert "file-pw" in config.secrets


def test_unreadable_secret_file_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"tokens\.admin_file: cannot read"):
        parse_config(f"tokens: {{admin_file: {tmp_path / 'missing'}}}", {})


def run_cli(*args: str, env: dict[str, str] | None = None,
            timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "exporter", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_check_config_accepts_the_example() -> None:
    result = run_cli("check-config", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    assert "configuration is valid" in result.stdout


@pytest.mark.parametrize(("text", "message"), [
    ("database: [{name: p, dsn: 'postgresql://x', bogus: 1}]", "unknown key 'bogus'"),
    ("redis: [{name: c, url: '${WEDSYNC_TEST_UNSET_VAR}'}]",
     "environment variable WEDSYNC_TEST_UNSET_VAR is not set"),
    ("probe_defaults: {timeout: soon}", "is not a duration"),
])
def test_exporter_refuses_to_start_on_a_bad_config(tmp_path: Path, text: str,
                                                     message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    checked = run_cli("check-config", str(path))
    assert checked.returncode != 0
    assert message in checked.stderr
    assert len(checked.stderr.strip().splitlines()) == 1
    port = free_port()
    started = run_cli("--config", str(path), "--listen", f"127.0.0.1:{port}")
    assert started.returncode != 0
    assert message in started.stderr
    assert len(started.stderr.strip().splitlines()) == 1
    # Nothing was started: the port is still free.
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_ingestion_and_validation_sections_are_strict() -> None:
    with pytest.raises(ConfigError, match=re.escape(
            "ingestion.performance_logs.database: no database target named 'replica'")):
        parse_config("ingestion: {performance_logs: {enabled: true, database: replica}}", {})
    with pytest.raises(ConfigError, match=re.escape("unknown key 'routes' at ingestion.")):
        parse_config("ingestion: {label_caps: {routes: 5}}", {})
    with pytest.raises(ConfigError, match=re.escape("validation.thresholds.cache_hit_ratio")):
        parse_config("validation: {thresholds: {cache_hit_ratio: 2}}", {})


def test_a_sections_defaults_come_from_the_schema_alone() -> None:
    from exporter.config.schema import schema_default

    config = parse_config("{}", {})
    assert config.ingestion.max_body_bytes == schema_default("ingestion", "max_body_bytes")
    assert config.validation.cache_hit_ratio == schema_default(
        "validation", "thresholds", "cache_hit_ratio")
    assert config.deploy_gate.override_max_duration == 2 * 3600
    # The 2 MiB body limit is written once in the exporter: in the schema.
    written = [path for path in (REPO / "exporter").rglob("*.py")
               if "2097152" in path.read_text() or "2 * 1024 * 1024" in path.read_text()]
    assert [p.name for p in written] == ["schema.py"]
    assert "2097152" not in (REPO / "exporter" / "example.yaml").read_text()
