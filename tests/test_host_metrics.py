"""Host metrics: the series the host rules and panels name are the ones a real node_exporter
serves here (and Supabase's Metrics API publishes), the rules read only the host jobs the
Prometheus config defines, the Supabase job is set up as Supabase documents it, and
`wedsync-stack up --node-exporter` feeds the host recordings from this machine."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
import yaml

from alerts import build as rule_build
from alerts.metric_names import is_allowed, metric_names
from alerts.outside_families import NODE_EXPORTER_SERIES, SUPABASE_METRICS_API_SERIES
from alerts.settings import HOST_JOBS, NODE_JOB, SUPABASE_METRICS_JOB
from dashboards import build as dashboard_build
from dashboards.lint import placeholder_values
from dashboards.queries import panel_queries, substitute
from harness.cli import options_from, parser
from harness.node_exporter import NodeExporterServer
from harness.stack import PROMETHEUS_CONFIG, Stack, StackOptions
from tests.support import eventually, exporter_config

REPO = Path(__file__).resolve().parent.parent


def named_node_series() -> set[str]:
    """Every node_* name the generated rules and dashboards select."""
    names: set[str] = set()
    for text in rule_build.render().values():
        for group in yaml.safe_load(text)["groups"]:
            for rule in group["rules"]:
                names |= metric_names(rule["expr"])
    models = dashboard_build.documents()
    for query in panel_queries(models):
        names |= metric_names(substitute(query.expr, placeholder_values(models[query.board])))
    return {name for name in names if name.startswith("node_")}


def served_families(text: str) -> set[str]:
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


def test_node_exporter_here_serves_every_host_series_the_rules_and_panels_name() -> None:
    with NodeExporterServer() as server, \
            urllib.request.urlopen(f"{server.url}/metrics", timeout=10) as answer:
        served = served_families(answer.read().decode())
    named = named_node_series()
    assert named, "no rule or panel reads a host series"
    assert named <= NODE_EXPORTER_SERIES, named - NODE_EXPORTER_SERIES
    assert served >= NODE_EXPORTER_SERIES, NODE_EXPORTER_SERIES - served
    # Supabase publishes the database host's resources under the same names.
    assert named <= SUPABASE_METRICS_API_SERIES


def test_the_catalogue_rule_accepts_host_series_and_nothing_else_new() -> None:
    assert is_allowed("node_cpu_seconds_total") and is_allowed("node_load1")
    assert not is_allowed("nodes_cpu_seconds_total")
    assert not is_allowed("pg_stat_database_numbackends")


def test_the_host_jobs_the_rules_select_are_jobs_of_the_prometheus_config() -> None:
    jobs = {j["job_name"]: j for j in yaml.safe_load(PROMETHEUS_CONFIG.read_text())[
        "scrape_configs"]}
    assert set(HOST_JOBS) <= set(jobs)
    for text in rule_build.render().values():
        for group in yaml.safe_load(text)["groups"]:
            for rule in group["rules"]:
                if "node_" in rule["expr"]:
                    assert rule["expr"].count("node_") == rule["expr"].count(
                        'job=~"node|supabase-metrics"'), rule.get("alert", rule.get("record"))


def test_the_supabase_job_authenticates_as_service_role_from_a_file_once_a_minute() -> None:
    jobs = {j["job_name"]: j for j in yaml.safe_load(PROMETHEUS_CONFIG.read_text())[
        "scrape_configs"]}
    supabase = jobs[SUPABASE_METRICS_JOB]
    assert supabase["metrics_path"] == "/customer/v1/privileged/metrics"
    assert supabase["scheme"] == "https" and supabase["scrape_interval"] == "1m"
    assert supabase["basic_auth"]["username"] == "service_role"
    assert "password" not in supabase["basic_auth"]
    assert supabase["basic_auth"]["password_file"].startswith("/etc/prometheus/secrets/")
    # Optional: no target until a targets file names the project.
    assert "static_configs" not in supabase
    example = yaml.safe_load((REPO / "prometheus" / "targets" /
                              "supabase-project.yml.example").read_text())
    assert example[0]["targets"] == ["<project-ref>.supabase.co"]
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    mounted = {m["target"] for m in compose["services"]["prometheus"]["secrets"]}
    assert supabase["basic_auth"]["password_file"] in mounted
    assert jobs[NODE_JOB]["static_configs"][0]["targets"] == ["node-exporter:9100"]


def test_the_command_line_asks_for_node_exporter() -> None:
    assert options_from(parser().parse_args(["up", "--node-exporter"])).node_exporter
    assert not options_from(parser().parse_args(["up"])).node_exporter


@pytest.mark.slow
def test_the_stack_with_node_exporter_records_this_machines_cpu_memory_and_disks() -> None:
    options = StackOptions(exporter_config=exporter_config(), scrape_interval="1s",
                           evaluation_interval="1s", webhook=False, node_exporter=True)
    with Stack(options) as stack:
        assert stack.prometheus is not None and stack.node_exporter is not None
        assert "node_exporter" in stack.describe()
        stack.wait_for_scrape(NODE_JOB)
        for recording in ("wedsync:host_cpu:ratio_rate5m", "wedsync:host_memory_available:ratio",
                          "wedsync:host_filesystem_available:ratio"):
            found = eventually(lambda r=recording: stack.prometheus.query(r), timeout=30,
                               message=f"{recording} is never recorded")
            assert all(0 <= float(s["value"][1]) <= 1 for s in found), found
        node = stack.node_exporter
    assert node.process is None
