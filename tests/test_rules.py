"""The generated rules: up to date, accepted by promtool, unit-tested, and linted."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from alerts import build, durations
from alerts.metric_names import is_allowed, metric_names, unknown_metrics
from alerts.model import CATEGORIES, SEVERITIES
from alerts.settings import RUNBOOK_BASE_URL
from exporter.catalogue import BY_NAME

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "prometheus" / "rules"
UNIT_TESTS = REPO / "prometheus" / "tests"
RUNBOOKS = REPO / "docs" / "runbooks"
PRODUCTION_EVALUATION = 15.0

# Alerts whose expression yields no labels to template: their description is static on purpose.
STATIC_DESCRIPTIONS = {"WedSyncWatchdog", "WedSyncExporterMissing", "WedSyncIngestionSilent"}
# The Watchdog fires always; a "must not fire" case cannot exist.
ALWAYS_FIRING = {"WedSyncWatchdog"}


def rule_groups() -> list[dict[str, Any]]:
    groups = []
    for path in sorted(RULES.glob("*.yml")):
        groups += yaml.safe_load(path.read_text())["groups"]
    return groups


def alert_rules() -> list[dict[str, Any]]:
    return [r for g in rule_groups() for r in g["rules"] if "alert" in r]


def alert_names() -> list[str]:
    return sorted({r["alert"] for r in alert_rules()})


def unit_test_files() -> list[Path]:
    return sorted(UNIT_TESTS.glob("*.test.yml"))


# --- generated and accepted ---------------------------------------------------------------------
def test_committed_rule_files_are_what_the_code_generates() -> None:
    assert build.differences() == []
    check = subprocess.run([sys.executable, "-m", "alerts", "check"], cwd=REPO,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_a_changed_rule_file_is_reported_as_out_of_date(tmp_path: Path) -> None:
    build.write(tmp_path)
    assert build.differences(tmp_path) == []
    (tmp_path / "slo.yml").write_text((tmp_path / "slo.yml").read_text() + "# edited\n")
    (tmp_path / "extra.yml").write_text("groups: []\n")
    assert build.differences(tmp_path) == ["slo.yml", "extra.yml"]


def test_for_scale_shortens_for_and_keep_firing_for_but_no_expression(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "alerts", "build", "--out", str(tmp_path),
                           "--for-scale", "0.1"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for name in build.render():
        original = yaml.safe_load((RULES / name).read_text())["groups"]
        scaled = yaml.safe_load((tmp_path / name).read_text())["groups"]
        for group, short in zip(original, scaled, strict=True):
            for rule, fast in zip(group["rules"], short["rules"], strict=True):
                assert fast["expr"] == rule["expr"]
                for key in ("for", "keep_firing_for"):
                    if key in rule:
                        wanted = max(1.0, -(-durations.seconds(rule[key]) * 0.1 // 1))
                        assert durations.seconds(fast[key]) == wanted
    refused = subprocess.run([sys.executable, "-m", "alerts", "build", "--out", str(tmp_path),
                              "--for-scale", "0"], cwd=REPO, capture_output=True, text=True)
    assert refused.returncode == 2 and "--for-scale must be greater than 0" in refused.stderr
    # Scaled rules never overwrite the committed ones.
    refused = subprocess.run([sys.executable, "-m", "alerts", "build", "--for-scale", "0.5"],
                             cwd=REPO, capture_output=True, text=True)
    assert refused.returncode == 2 and "write them elsewhere with --out" in refused.stderr
    assert build.differences() == []


def test_promtool_accepts_every_rule_file_without_lint_warnings() -> None:
    done = subprocess.run(["promtool", "check", "rules", *sorted(map(str, RULES.glob("*.yml")))],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "duplicate" not in done.stdout + done.stderr


def test_promtool_accepts_the_prometheus_config() -> None:
    done = subprocess.run(["promtool", "check", "config", str(REPO / "prometheus" /
                                                              "prometheus.yml")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("test_file", unit_test_files(), ids=lambda p: p.name)
def test_promtool_unit_tests_pass(test_file: Path) -> None:
    done = subprocess.run(["promtool", "test", "rules", test_file.name], cwd=UNIT_TESTS,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr


# --- every alert is tested ----------------------------------------------------------------------
def alert_cases() -> list[dict[str, Any]]:
    cases = []
    for path in unit_test_files():
        for group in yaml.safe_load(path.read_text())["tests"]:
            cases += group.get("alert_rule_test", [])
    return cases


def test_every_alert_has_a_case_where_it_fires_with_exact_labels_and_annotations() -> None:
    firing = {c["alertname"] for c in alert_cases() for a in c["exp_alerts"]
              if a.get("exp_labels") and a.get("exp_annotations")}
    assert set(alert_names()) - firing == set()


def test_every_alert_has_a_case_where_it_must_not_fire() -> None:
    quiet = {c["alertname"] for c in alert_cases() if not c["exp_alerts"]}
    assert set(alert_names()) - quiet - ALWAYS_FIRING == set()


def test_unit_tests_evaluate_recording_groups_before_the_alerts_that_read_them() -> None:
    for path in unit_test_files():
        document = yaml.safe_load(path.read_text())
        order = document.get("group_eval_order", [])
        loaded = []
        for name in document["rule_files"]:
            loaded += yaml.safe_load((path.parent / name).read_text())["groups"]
        recording = [g["name"] for g in loaded if all("record" in r for r in g["rules"])]
        alerting = [g["name"] for g in loaded if any("alert" in r for r in g["rules"])]
        assert recording, path.name
        positions = {name: i for i, name in enumerate(order)}
        for group in recording:
            assert group in positions, f"{path.name}: {group} is not in group_eval_order"
        first_alert = min((positions.get(g, len(order)) for g in alerting), default=len(order))
        assert max(positions[g] for g in recording) < first_alert, path.name


# --- lints --------------------------------------------------------------------------------------
def test_alert_names_are_camel_case_with_the_shared_prefix_and_at_most_40_characters() -> None:
    for name in alert_names():
        assert re.fullmatch(r"WedSync(?:[A-Z][a-z0-9]*|[A-Z]+(?=[A-Z][a-z]|[0-9]|$))+", name), name
        assert len(name) <= 40, name


def test_every_alert_has_an_allowed_severity_and_category() -> None:
    for rule in alert_rules():
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        assert rule["labels"]["category"] in CATEGORIES, rule["alert"]


def test_summaries_are_static_sentences_and_descriptions_are_templated() -> None:
    for rule in alert_rules():
        summary, description = rule["annotations"]["summary"], rule["annotations"]["description"]
        assert "{{" not in summary and summary.endswith("."), rule["alert"]
        assert summary[0].isupper(), rule["alert"]
        assert description and description != summary, rule["alert"]
        if rule["alert"] not in STATIC_DESCRIPTIONS:
            assert "{{" in description, f"{rule['alert']}: the description names nothing"


def test_every_alert_links_a_runbook_that_says_what_to_check_and_do_on_wedding_days() -> None:
    for rule in alert_rules():
        name = rule["alert"]
        assert rule["annotations"]["runbook_url"] == f"{RUNBOOK_BASE_URL}/{name}.md"
        runbook = RUNBOOKS / f"{name}.md"
        assert runbook.exists(), f"{runbook} is missing"
        text = runbook.read_text()
        assert text.startswith(f"# {name}\n"), name
        for heading in ("## Meaning", "## Check", "## Do", "## On a wedding day"):
            assert f"\n{heading}\n" in text, f"{name}: runbook lacks {heading}"
    documented = {p.stem for p in RUNBOOKS.glob("*.md")}
    assert documented - set(alert_names()) == set(), "runbooks of alerts that do not exist"


def test_every_metric_in_every_expression_is_allowed_by_the_catalogue_rule() -> None:
    recorded = build.recorded_names()
    for group in rule_groups():
        for rule in group["rules"]:
            assert unknown_metrics(rule["expr"], recorded) == set(), rule.get("alert", rule.get(
                "record"))


def test_the_catalogue_rule_names_what_breaks_it() -> None:
    expr = ('sum(rate(wedsync_made_up_total[5m])) / up + ALERTS + scrape_duration_seconds'
            ' + prometheus_tsdb_head_series + alertmanager_alerts + k6_http_req_duration_p95'
            ' + k6_http_reqs_total + k6_vus + k6_checks_rate + slo:sli_error:ratio_rate5m'
            ' + {__name__="wedsync_other"} + k6_wedding_rsvps_total + k6_propagation_p99')
    assert metric_names("rate(x[5m]) + y{a='b'}") == {"x", "y"}
    assert unknown_metrics(expr, {"slo:sli_error:ratio_rate5m"}) == {
        "wedsync_made_up_total", "wedsync_other", "k6_wedding_rsvps_total", "k6_propagation_p99"}
    custom = [("wedding_rsvps", "counter"), ("propagation", "trend")]
    assert unknown_metrics(expr, {"slo:sli_error:ratio_rate5m"}, custom) == {
        "wedsync_made_up_total", "wedsync_other"}
    assert is_allowed("wedsync_up") and not is_allowed("wedsync_up_total")
    with pytest.raises(ValueError):
        metric_names("rate(x[5m]")


def exposed_bucket_bounds(family_name: str) -> set[str]:
    """``le`` values exactly as prometheus-client writes them for a catalogue histogram."""
    family = BY_NAME[family_name]
    registry = CollectorRegistry()
    Histogram(family.name, family.help, buckets=family.buckets, registry=registry).observe(0)
    text = generate_latest(registry).decode()
    return set(re.findall(r'le="([^"]+)"', text))


def test_latency_selectors_use_bucket_bounds_exactly_as_exposed() -> None:
    seen = 0
    for group in rule_groups():
        for rule in group["rules"]:
            for metric, bound in re.findall(r'(\w+)_bucket\{le="([^"]+)"\}', rule["expr"]):
                assert bound in exposed_bucket_bounds(metric), (metric, bound)
                seen += 1
    assert seen >= 3


def test_wedding_day_variants_differ_only_in_timing_and_the_day() -> None:
    by_name: dict[str, list[dict[str, Any]]] = {}
    for rule in alert_rules():
        by_name.setdefault(rule["alert"], []).append(rule)
    for name, rules in by_name.items():
        if len(rules) == 1:
            continue
        assert sorted(r["labels"]["wedding_day"] for r in rules) == ["false", "true"], name
        labels = [{k: v for k, v in r["labels"].items() if k != "wedding_day"} for r in rules]
        assert labels[0] == labels[1], f"{name}: a day flip would change the route"
        assert rules[0]["annotations"] == rules[1]["annotations"], name


def test_urgent_alerts_carry_the_wedding_day_and_planning_alerts_never_do() -> None:
    planning = {a.name for a in build.all_alerts() if a.urgency == "later"}
    for rule in alert_rules():
        labelled = ("wedding_day" in rule["labels"]
                    or "group_left (wedding_day) wedsync:wedding_day:label" in rule["expr"])
        assert labelled == (rule["alert"] not in planning), rule["alert"]


def test_day_labelled_alerts_keep_firing_until_the_other_days_variant_has_fired() -> None:
    by_name: dict[str, list[dict[str, Any]]] = {}
    for rule in alert_rules():
        by_name.setdefault(rule["alert"], []).append(rule)
    for name, rules in by_name.items():
        if "keep_firing_for" not in rules[0]:
            continue
        longest = max(durations.seconds(r.get("for", "0s")) for r in rules)
        for rule in rules:
            assert (durations.seconds(rule["keep_firing_for"])
                    >= longest + PRODUCTION_EVALUATION), name


def test_every_alert_that_reads_the_exporter_is_labelled_as_fed_by_it() -> None:
    day = {"wedsync:wedding_day:active", "wedsync:wedding_day:label"}
    for rule in alert_rules():
        # wedsync_* come from the exporter, and so do all our recordings except the day's and
        # the hosts' (node_exporter's and Supabase's series).
        names = {n for n in metric_names(rule["expr"]) - day
                 if not n.startswith("wedsync:host_")}
        reads = any(n.startswith(("wedsync_", "wedsync:", "slo:")) for n in names)
        assert (rule["labels"].get("source") == "exporter") == reads, rule["alert"]
