"""compose.yaml, checked without a Docker engine: it validates against the compose-spec schema,
every mounted file exists, images are pinned, long-running services have health checks, no
secret is written in it, and it mounts the Prometheus and Alertmanager configs the harness
tests."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness import stack
from tests.conftest import REPO

COMPOSE = yaml.safe_load((REPO / "compose.yaml").read_text())
SERVICES: dict = COMPOSE["services"]
SECRET_NAME = re.compile(r"PASSWORD|TOKEN|SECRET|_KEY$|ANON_KEY|_DSN|DATABASE_URL|REDIS_URL")
ONE_SHOT = {"k6"}  # run with `docker compose run --rm`, then gone


def bind_mounts(service: dict) -> list[str]:
    return [v.split(":")[0] for v in service.get("volumes", []) if v.startswith(("./", "/"))]


def test_compose_validates_against_the_compose_spec_schema() -> None:
    checker = shutil.which("check-jsonschema") or str(Path(sys.executable).parent /
                                                       "check-jsonschema")
    result = subprocess.run([checker, "--builtin-schema", "vendor.compose-spec",
                             str(REPO / "compose.yaml"), str(REPO / "compose.supabase.yaml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_mounted_file_and_build_context_exists() -> None:
    for name, service in SERVICES.items():
        for source in bind_mounts(service):
            assert (REPO / source).exists(), f"{name} mounts {source}, which does not exist"
        if "build" in service:
            assert (REPO / service["build"] / "Dockerfile").exists(), name


def test_every_image_is_pinned_to_a_version() -> None:
    for name, service in SERVICES.items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest" and re.search(r"\d", tag), (name, image)
    base = re.search(r"^FROM (\S+)", (REPO / "Dockerfile").read_text(), re.M).group(1)
    assert re.fullmatch(r"python:3\.\d+\.\d+-slim-\w+", base)


def test_long_running_services_have_health_checks() -> None:
    for name, service in SERVICES.items():
        if name in ONE_SHOT:
            continue
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        assert service.get("restart") == "unless-stopped", name


def test_no_secret_is_written_in_the_file() -> None:
    for name, service in SERVICES.items():
        for key, value in (service.get("environment") or {}).items():
            if not SECRET_NAME.search(key) or key.endswith("_FILE"):
                continue
            text = str(value)
            assert text == "" or re.fullmatch(r"\$\{[A-Z0-9_]+(:[-?][^}]*)?\}", text), (
                f"{name}: {key} must come from .env or a secret file, not {text!r}")
    for secret in COMPOSE["secrets"].values():
        assert secret["file"].startswith("./secrets/")
    assert "/secrets/" in (REPO / ".gitignore").read_text().splitlines()
    assert "/.env" in (REPO / ".gitignore").read_text().splitlines()


def test_grafana_has_anonymous_access_off_and_its_password_from_the_environment() -> None:
    grafana = SERVICES["grafana"]["environment"]
    assert grafana["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")


def test_prometheus_keeps_35_days_and_receives_remote_write() -> None:
    command = SERVICES["prometheus"]["command"]
    assert "--web.enable-remote-write-receiver" in command
    retention = next(c for c in command if c.startswith("--storage.tsdb.retention.time="))
    assert int(retention.split("=")[1].rstrip("d")) >= 35


def test_it_mounts_the_configs_the_harness_tests() -> None:
    prometheus = dict(reversed(v.split(":")[:2]) for v in SERVICES["prometheus"]["volumes"]
                      if v.startswith("./"))
    alertmanager = dict(reversed(v.split(":")[:2]) for v in SERVICES["alertmanager"]["volumes"]
                        if v.startswith("./"))
    assert (REPO / prometheus["/etc/prometheus/prometheus.yml"]).resolve() == \
        stack.PROMETHEUS_CONFIG.resolve()
    assert (REPO / alertmanager["/etc/alertmanager/alertmanager.yml"]).resolve() == \
        stack.ALERTMANAGER_CONFIG.resolve()
    # The rule files Prometheus loads (rules/*.yml beside its config) are mounted there.
    assert prometheus["/etc/prometheus/rules"] == "./prometheus/rules"
    # Alertmanager reads its secrets from the files compose mounts.
    am_text = (REPO / "prometheus" / "alertmanager.yml").read_text()
    for mount in SERVICES["alertmanager"]["secrets"]:
        assert mount["target"] in am_text


def test_targets_in_the_prometheus_config_are_compose_services() -> None:
    config = yaml.safe_load(stack.PROMETHEUS_CONFIG.read_text())
    for job in config["scrape_configs"]:
        # Jobs with file-based discovery (Supabase's Metrics API) name their targets elsewhere.
        for target in [t for c in job.get("static_configs", []) for t in c["targets"]]:
            host = target.split(":")[0]
            assert host == "localhost" or host in SERVICES, (job["job_name"], target)


def test_the_setup_script_creates_every_secret_and_a_complete_env(tmp_path: Path) -> None:
    for name in ("scripts/compose-setup.sh", ".env.example"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, tmp_path / name)
    result = subprocess.run(["bash", str(tmp_path / "scripts" / "compose-setup.sh")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for secret in COMPOSE["secrets"].values():
        assert (tmp_path / secret["file"]).stat().st_size > 0
    env = (tmp_path / ".env").read_text()
    assert "__" not in env
    exporter_password = (tmp_path / "secrets" / "exporter-db-password").read_text()
    assert f"wedsync_exporter:{exporter_password}@postgres" in env
    # Every variable compose requires (${VAR:?…}) is in the generated .env.
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", (REPO / "compose.yaml").read_text()))
    defined = {line.split("=")[0] for line in env.splitlines() if "=" in line
               and not line.startswith("#")}
    assert required <= defined


@pytest.mark.parametrize("instruction", ["USER wedsync", "HEALTHCHECK", "EXPOSE 9847"])
def test_the_exporter_image_runs_as_a_user_with_a_healthcheck(instruction: str) -> None:
    assert instruction in (REPO / "Dockerfile").read_text()


def test_grafana_mounts_its_provisioning_where_the_provider_looks() -> None:
    provider = yaml.safe_load(
        (REPO / "grafana" / "provisioning" / "dashboards" / "wedsync.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    mounts = dict(reversed(v.split(":")[:2]) for v in SERVICES["grafana"]["volumes"]
                  if v.startswith("./"))
    assert mounts[path] == "./grafana/dashboards"
    assert mounts["/etc/grafana/provisioning"] == "./grafana/provisioning"
    home = SERVICES["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(path + "/")
    assert (REPO / "grafana" / "dashboards" / home.rsplit("/", 1)[1]).exists()
    datasources = yaml.safe_load(
        (REPO / "grafana" / "provisioning" / "datasources" / "wedsync.yml").read_text())
    for source in datasources["datasources"]:
        assert source["url"].split("//")[1].split(":")[0] in SERVICES
