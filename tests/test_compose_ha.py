"""compose.ha.yaml (profile ha, layered on compose.yaml), checked without a Docker engine: the
same shape as ``wedsync-stack up --ha`` — two exporters sharing a Redis of their own, two
Prometheus with their own replica label dropped from alerts and remote writes, every Prometheus
sending to all three clustered Alertmanagers, VictoriaMetrics deduplicating the pair."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from harness import ha_compose
from harness.ha_stack import REPLICA_LABEL, HAOptions
from tests.conftest import REPO

BASE = yaml.safe_load((REPO / "compose.yaml").read_text())
HA = yaml.safe_load((REPO / "compose.ha.yaml").read_text())
ADDED = {name: s for name, s in HA["services"].items() if name not in BASE["services"]}
ALL_SERVICES = {*BASE["services"], *HA["services"]}


def merged(name: str) -> dict[str, Any]:
    """A service as compose merges the two files (mappings merge, lists replace)."""
    base = dict(BASE["services"].get(name, {}))
    for key, value in HA["services"][name].items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        elif key == "volumes" and key in base:
            by_target = {v.split(":")[1]: v for v in base[key]}
            by_target.update({v.split(":")[1]: v for v in value})
            base[key] = list(by_target.values())
        else:
            base[key] = value
    return base


def prometheus_configs() -> dict[str, dict[str, Any]]:
    out = {}
    for name in ("prometheus", "prometheus-b"):
        mount = next(v for v in merged(name)["volumes"]
                     if v.split(":")[1] == "/etc/prometheus/prometheus.yml")
        out[name] = yaml.safe_load((REPO / mount.split(":")[0]).read_text())
    return out


def test_it_validates_against_the_compose_spec_and_mounts_what_exists() -> None:
    checker = shutil.which("check-jsonschema") or str(Path(sys.executable).parent /
                                                       "check-jsonschema")
    result = subprocess.run([checker, "--builtin-schema", "vendor.compose-spec",
                             str(REPO / "compose.ha.yaml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    for name, service in HA["services"].items():
        for volume in service.get("volumes", []):
            if volume.startswith("./"):
                assert (REPO / volume.split(":")[0]).exists(), (name, volume)


def test_added_services_are_in_profile_ha_pinned_restarted_and_health_checked() -> None:
    assert set(ADDED) == {"shared-state", "exporter-b", "prometheus-b", "alertmanager-2",
                          "alertmanager-3", "victoriametrics"}
    for name, service in ADDED.items():
        assert service["profiles"] == ["ha"], name
        repository, _, tag = service["image"].rpartition(":")
        assert repository and tag != "latest" and re.search(r"\d", tag), name
        assert service["restart"] == "unless-stopped", name
        assert service["healthcheck"]["test"], name


def test_the_generated_prometheus_configs_are_current() -> None:
    for path, text in ha_compose.files().items():
        assert path.read_text() == text, f"{path} is stale: run python -m harness.ha_compose"


def test_the_shape_is_the_harness_ha_shape() -> None:
    shape = HAOptions()
    exporters = [n for n in ALL_SERVICES if n.startswith("exporter")]
    alertmanagers = [n for n in ALL_SERVICES if n.startswith("alertmanager")]
    assert (len(exporters), len(prometheus_configs()), len(alertmanagers)) == (
        shape.exporters, shape.prometheus, shape.alertmanagers)


def test_each_prometheus_has_its_replica_label_dropped_from_alerts_and_remote_writes() -> None:
    configs = prometheus_configs()
    replicas = {c["global"]["external_labels"][REPLICA_LABEL] for c in configs.values()}
    assert replicas == {"a", "b"}
    alertmanagers = {f"{n}:9093" for n in ALL_SERVICES if n.startswith("alertmanager")}
    for config in configs.values():
        assert {"action": "labeldrop", "regex": REPLICA_LABEL} in \
            config["alerting"]["alert_relabel_configs"]
        sent_to = {t for am in config["alerting"]["alertmanagers"]
                   for s in am["static_configs"] for t in s["targets"]}
        assert sent_to == alertmanagers  # every Prometheus to every Alertmanager
        [write] = config["remote_write"]
        assert write["url"].split("//")[1].split(":")[0] == "victoriametrics"
        assert {"action": "labeldrop", "regex": REPLICA_LABEL} in \
            write["write_relabel_configs"]
        # Jobs with fixed targets name compose services; a job fed from files (the optional
        # Supabase Metrics API job) has no target until a user adds one.
        static = [j for j in config["scrape_configs"] if "static_configs" in j]
        assert all("file_sd_configs" in j for j in config["scrape_configs"] if j not in static)
        for job in static:
            for target in job["static_configs"][0]["targets"]:
                host = target.split(":")[0]
                assert host == "localhost" or host in ALL_SERVICES, target
        # Each scrapes its peer's own metrics: that is how one sees the other go silent.
        jobs = {j["job_name"]: j["static_configs"][0]["targets"] for j in static}
        assert sorted(jobs["prometheus"]) == ["prometheus-b:9090", "prometheus:9090"]
        assert sorted(jobs["wedsync-exporter"]) == ["exporter-b:9847", "exporter:9847"]


def test_the_alertmanagers_form_one_cluster() -> None:
    members = sorted(n for n in ALL_SERVICES if n.startswith("alertmanager"))
    for name in members:
        command = merged(name)["command"]
        assert "--cluster.listen-address=0.0.0.0:9094" in command, name
        peers = {c.split("=")[1].split(":")[0] for c in command
                 if c.startswith("--cluster.peer=")}
        assert peers == set(members) - {name}, name


def test_the_exporters_share_a_redis_of_the_monitorings_own() -> None:
    urls = {merged(name)["environment"]["WEDSYNC_SHARED_STATE_URL"]
            for name in ("exporter", "exporter-b")}
    assert urls == {"redis://shared-state:6379/0"}
    assert "shared-state" not in str(BASE["services"]["exporter"]["environment"]
                                     ["WEDSYNC_REDIS_URL"])
    assert "${WEDSYNC_SHARED_STATE_URL" in (REPO / "exporter" / "example.yaml").read_text()


def test_victoriametrics_deduplicates_at_the_scrape_interval() -> None:
    command = ADDED["victoriametrics"]["command"]
    dedup = next(c for c in command if c.startswith("-dedup.minScrapeInterval="))
    interval = yaml.safe_load((REPO / "prometheus" / "prometheus.yml").read_text())[
        "global"]["scrape_interval"]
    assert dedup.split("=")[1] == interval
