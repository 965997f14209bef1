"""The generated dashboards: committed JSON equal to the code, valid against Grafana's own
schemas once normalised, the conventions (ids, grid, title/description/unit, datasource
variable, rates over counters on $__rate_interval, the catalogue rule, links) kept — and the
lints themselves catch each kind of mistake. Grafana provisioning uses the documented keys."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafanalib._gen import DashboardEncoder

from alerts.build import all_alerts
from dashboards import build, lint, normalise, promql, thresholds
from dashboards.schemas import Schemas, panels
from dashboards.settings import (
    API,
    BOARDS,
    DATABASE,
    DATASOURCE_NAME,
    DATASOURCE_UID,
    LOAD_TESTS,
    OVERVIEW,
    REALTIME_AUTH,
    REDIS,
)
from exporter.catalogue import QUERY_FILLED_FAMILIES

REPO = Path(__file__).resolve().parent.parent
SCHEMAS = REPO.parent / "shared" / "schemas" / "grafana"
PROVISIONING = REPO / "grafana" / "provisioning"
MODELS = build.documents()


def needs_schemas() -> Schemas:
    if not (SCHEMAS / "dashboard.jsonschema.json").exists():
        pytest.skip(f"Grafana's JSON schemas are not here ({SCHEMAS}): the shared folder of "
                    "the steering repo is absent")
    return Schemas(SCHEMAS)


def model(board) -> dict[str, Any]:
    return copy.deepcopy(MODELS[board])


def panel_named(document: dict[str, Any], title: str) -> dict[str, Any]:
    found = [p for p in panels(document) if p["title"] == title]
    assert len(found) == 1, f"{len(found)} panels titled {title!r}"
    return found[0]


# --- generated files ---------------------------------------------------------------------------

def test_the_committed_dashboards_are_what_the_code_generates() -> None:
    done = subprocess.run([sys.executable, "-m", "dashboards", "check"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_build_writes_one_file_per_dashboard_and_check_notices_a_hand_edit(tmp_path) -> None:
    done = subprocess.run([sys.executable, "-m", "dashboards", "build", "--out", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(b.file for b in BOARDS)
    edited = tmp_path / OVERVIEW.file
    edited.write_text(edited.read_text().replace("Weddings today", "Weddings today!"))
    assert build.differences(tmp_path) == [OVERVIEW.file]
    (tmp_path / "stray.json").write_text("{}")
    assert build.differences(tmp_path) == [OVERVIEW.file, "stray.json"]


def test_the_dashboards_keep_their_uids() -> None:
    # UIDs are in every link and bookmark: changing one breaks them.
    assert {b.uid: b.file for b in BOARDS} == {
        "wedsync-overview": "overview.json", "wedsync-api-slo": "api-slo.json",
        "wedsync-database": "database.json", "wedsync-redis": "redis.json",
        "wedsync-realtime-auth": "realtime-auth.json", "wedsync-load-tests": "load-tests.json",
        "wedsync-exporter": "exporter.json", "wedsync-pooler": "pooler.json",
        "wedsync-capacity": "capacity.json"}
    for board in BOARDS:
        saved = json.loads((build.DASHBOARDS_DIR / board.file).read_text())
        assert (saved["uid"], saved["title"]) == (board.uid, board.title)


# --- Grafana's schemas -------------------------------------------------------------------------

@pytest.mark.parametrize("board", BOARDS, ids=lambda b: b.uid)
def test_every_dashboard_validates_against_grafanas_schemas(board) -> None:
    schemas = needs_schemas()
    assert list(schemas.problems(MODELS[board])) == []
    for panel in panels(MODELS[board]):
        # Every panel type but the alert list has a schema here; that one is checked by hand.
        assert schemas.has_panel_schema(panel["type"]) or panel["type"] == "alertlist"


def test_grafanalibs_raw_output_breaks_the_schema_and_normalising_mends_it() -> None:
    schemas = needs_schemas()
    raw = json.loads(json.dumps(build.DEFINITIONS[OVERVIEW]().to_json_data(),
                                cls=DashboardEncoder))
    found = "\n".join(schemas.problems(raw))
    for retired in ("rows", "style", "sharedCrosshair", "time_options", "'step'"):
        assert retired in found
    assert list(schemas.problems(normalise.dashboard(raw))) == []


def test_the_schema_check_catches_a_wrong_panel_option() -> None:
    schemas = needs_schemas()
    document = model(OVERVIEW)
    panel_named(document, "Weddings today")["options"]["graphMode"] = "sparkle"
    assert any("graphMode" in p for p in schemas.problems(document))


# Grafana's alert list (UnifiedAlertListOptions in public/app/plugins/panel/alertlist, and the
# "Alert list" page of Grafana's documentation): there is no JSON schema for it.
ALERT_LIST_OPTIONS: dict[str, Callable[[Any], bool]] = {
    "viewMode": lambda v: v in ("list", "stat"),
    "groupMode": lambda v: v in ("default", "custom"),
    "groupBy": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    "maxItems": lambda v: isinstance(v, int) and v > 0,
    "sortOrder": lambda v: v in (1, 2, 3, 4, 5),
    "dashboardAlerts": lambda v: isinstance(v, bool),
    "alertName": lambda v: isinstance(v, str),
    "alertInstanceLabelFilter": lambda v: isinstance(v, str),
    "datasource": lambda v: isinstance(v, str) or v is None,
    "folder": lambda v: isinstance(v, dict),
    "showInstances": lambda v: isinstance(v, bool),
    "showInactiveAlerts": lambda v: isinstance(v, bool),
    "stateFilter": lambda v: isinstance(v, dict) and set(v) <= {
        "firing", "pending", "recovering", "noData", "normal", "error", "inactive"}
        and all(isinstance(x, bool) for x in v.values()),
}


def test_the_alert_list_uses_only_the_options_grafana_documents() -> None:
    lists = [p for b in BOARDS for p in panels(MODELS[b]) if p["type"] == "alertlist"]
    assert lists, "the overview shows firing alerts"
    for panel in lists:
        options = panel["options"]
        assert set(options) <= set(ALERT_LIST_OPTIONS), set(options) - set(ALERT_LIST_OPTIONS)
        for key, valid in ALERT_LIST_OPTIONS.items():
            if key in options:
                assert valid(options[key]), (key, options[key])
        # It lists the rules of the provisioned Prometheus, firing and pending, importance first.
        assert options["datasource"] == DATASOURCE_NAME
        assert options["stateFilter"]["firing"] and options["sortOrder"] == 3


# --- the conventions ---------------------------------------------------------------------------

@pytest.mark.parametrize("board", BOARDS, ids=lambda b: b.uid)
def test_every_dashboard_keeps_the_conventions(board) -> None:
    assert lint.problems(MODELS[board]) == []


def _first_target(document: dict[str, Any], title: str) -> dict[str, Any]:
    return panel_named(document, title)["targets"][0]


def _set_expr(title: str, expr: str) -> Callable[[dict[str, Any]], None]:
    return lambda d: _first_target(d, title).update(expr=expr)


MISTAKES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "duplicate id": (lambda d: panel_named(d, "Weddings tomorrow").update(
        id=panel_named(d, "Weddings today")["id"]), "is used more than once"),
    "overlap": (lambda d: panel_named(d, "Weddings tomorrow")["gridPos"].update(
        panel_named(d, "Weddings today")["gridPos"]), "overlap"),
    "off the grid": (lambda d: panel_named(d, "Tickets firing")["gridPos"].update(x=22),
                     "leaves the 24-column grid"),
    "no description": (lambda d: panel_named(d, "Weddings today").update(description=""),
                       "has no description"),
    "no unit": (lambda d: panel_named(d, "Weddings today")["fieldConfig"]["defaults"].pop(
        "unit"), "has no unit"),
    "unknown unit": (lambda d: panel_named(d, "Weddings today")["fieldConfig"]["defaults"]
                     .update(unit="secs"), "which Grafana does not know"),
    "angular graph": (lambda d: panel_named(d, "Wedding activity per hour").update(
        type="graph"), "not one of Grafana's React panels"),
    "fixed datasource": (lambda d: panel_named(d, "Weddings today").update(
        datasource={"type": "prometheus", "uid": DATASOURCE_UID}), "datasource variable"),
    "variable on a fixed datasource": (lambda d: d["templating"]["list"].append({
        "type": "query", "name": "job", "query": "label_values(up, job)",
        "datasource": {"type": "prometheus", "uid": DATASOURCE_UID}}),
        "does not query the datasource variable"),
    "rate over a gauge": (_set_expr("Weddings today", "rate(wedsync_weddings[$__rate_interval])"),
                          "not a counter"),
    "fixed rate window": (_set_expr("Weddings today", "rate(wedsync_probe_runs_total[5m])"),
                          "instead of $__rate_interval"),
    "metric outside the catalogue": (_set_expr("Weddings today", "wedsync_weddings_total"),
                                     "outside the catalogue rule"),
    "undefined variable": (_set_expr("Weddings today", 'wedsync_weddings{window="$window"}'),
                           "undefined variables ['window']"),
    "no parse": (_set_expr("Weddings today", "sum(wedsync_weddings"), "does not parse"),
    "dead dashboard link": (lambda d: panel_named(d, "Overall status")["links"][0].update(
        url="/d/wedsync-nope"), "no WedSync dashboard"),
    "runbook of no alert": (lambda d: panel_named(d, "Wedding day?")["links"][0].update(
        url=panel_named(d, "Wedding day?")["links"][0]["url"].replace(
            "WedSyncSLOBurnWeddingDay", "WedSyncMadeUp")), "which is no alert"),
}


@pytest.mark.parametrize("mistake", MISTAKES)
def test_the_lints_catch_each_kind_of_mistake(mistake) -> None:
    break_it, message = MISTAKES[mistake]
    document = model(OVERVIEW)
    break_it(document)
    found = lint.problems(document)
    assert any(message in p for p in found), found


def test_rate_builders_refuse_a_gauge() -> None:
    with pytest.raises(ValueError, match="wedsync_weddings is not a counter"):
        promql.sum_rate("wedsync_weddings")
    assert "$__rate_interval" in promql.sum_rate("wedsync_probe_runs_total")


# --- what the issue asks the dashboards to show ------------------------------------------------

def exprs(board) -> str:
    return "\n".join(t["expr"] for p in panels(MODELS[board]) for t in p.get("targets", []))


def test_the_overview_shows_the_wedding_pack_and_the_day() -> None:
    text = exprs(OVERVIEW)
    for family in sorted(QUERY_FILLED_FAMILIES):
        assert family in text, family
    for window in ("today", "tomorrow", "next_7d"):
        assert f'wedsync_weddings{{window="{window}"}}' in text
    for needed in ("wedsync:wedding_day:active", "wedsync_component_status", "ALERTS",
                   "slo:period_error_budget_remaining:ratio",
                   "wedsync_realtime_broadcast_roundtrip_seconds_bucket"):
        assert needed in text, needed


def test_the_load_test_dashboard_filters_by_testid() -> None:
    document = MODELS[LOAD_TESTS]
    for panel in panels(document):
        for target in panel["targets"]:
            assert 'testid="$testid"' in target["expr"], panel["title"]
    testid = next(v for v in document["templating"]["list"] if v["name"] == "testid")
    assert testid["query"] == "label_values(k6_http_reqs_total, testid)"
    assert not testid["multi"] and not testid["includeAll"]


def steps(document: dict[str, Any], title: str) -> set[float]:
    panel = panel_named(document, title)
    return {s["value"] for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
            if s["value"] is not None}


# Panels that draw an SLO or an alert threshold, and the values they must draw.
DRAWN = [
    (OVERVIEW, "API p95 latency", {0.2, 0.5}),
    (OVERVIEW, "API p99 latency", {1.0}),
    (OVERVIEW, "API error rate", {0.001}),
    (OVERVIEW, "Realtime round trip p99", {0.1}),
    (API, "Error rate (5xx share)", {0.001}),
    (API, "Latency percentiles", {0.2, 0.5, 1.0}),
    (API, "p95 latency by route (top $topn)", {0.2}),
    (API, "Burn rate now (5 minutes)", {1, 3, 6, 14.4}),
    (DATABASE, "Probe round trip (p95)", {0.05}),
    (DATABASE, "Connection use", {0.7, 0.8}),
    (DATABASE, "Replication lag", {10, 30}),
    (DATABASE, "Longest open transaction", {300}),
    (REDIS, "Cache hit ratio", {0.85, 0.95}),
    (REDIS, "Memory use", {0.85, 0.9}),
    (REALTIME_AUTH, "Broadcast round trip percentiles", {0.1}),
    (REALTIME_AUTH, "Auth latency", {0.5, 1.0}),
    (LOAD_TESTS, "p95 per scenario", {0.2, 0.5}),
    (LOAD_TESTS, "p99 per scenario", {1.0}),
    (LOAD_TESTS, "Failure rate per scenario", {0.001}),
    (LOAD_TESTS, "Realtime propagation", {0.1}),
]


@pytest.mark.parametrize(("board", "title", "values"), DRAWN,
                         ids=[f"{b.uid}-{t}" for b, t, _ in DRAWN])
def test_slo_and_alert_thresholds_are_drawn(board, title, values) -> None:
    assert steps(MODELS[board], title) == values
    panel = panel_named(MODELS[board], title)
    if panel["type"] == "timeseries":
        assert panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "dashed"


def test_each_slos_objective_is_drawn_on_its_own_series() -> None:
    panel = panel_named(MODELS[API], "Good events (30 days) against objective")
    lines = {o["matcher"]["options"]["names"][0]: o["properties"][0]["value"]["steps"][1]["value"]
             for o in panel["fieldConfig"]["overrides"]}
    assert lines == {"api-availability": 0.999, "api-latency-200ms": 0.95,
                     "api-latency-1s": 0.99, "realtime-propagation": 0.99}


def test_thresholds_kept_here_agree_with_the_rules_and_the_exporter() -> None:
    from exporter.components import REGISTRY
    from exporter.config.schema import CONFIG_SCHEMA

    expressions = {a.name: a.expr for a in all_alerts()}
    assert f"> {thresholds.DATABASE_P95:g}" in expressions["WedSyncDatabaseSlow"]
    assert f"< {thresholds.CACHE_HIT_ALERT:g}" in expressions["WedSyncCacheHitRatioLow"]
    assert f"> {thresholds.LONG_TRANSACTION:g}" in expressions["WedSyncDatabaseLongTransaction"]
    validation = CONFIG_SCHEMA["properties"]["validation"]["properties"]["thresholds"]["properties"]
    assert validation["cache_hit_ratio"]["default"] == thresholds.DATABASE_CACHE_HIT
    assert 'component=~"' + "|".join(REGISTRY.essential()) + '"' in promql.overall_status()


# --- links -------------------------------------------------------------------------------------

def urls(document: dict[str, Any]) -> set[str]:
    return {link["url"] for p in panels(document) for link in p.get("links", [])}


def test_every_dashboard_is_a_click_from_the_overview_and_links_home() -> None:
    reachable, todo = {OVERVIEW.path}, [OVERVIEW]
    while todo:
        board = todo.pop()
        for url in urls(MODELS[board]):
            target = next((b for b in BOARDS if b.path == url), None)
            if target and target.path not in reachable:
                reachable.add(target.path)
                todo.append(target)
    assert reachable == {b.path for b in BOARDS}
    for board in BOARDS:
        top = MODELS[board]["links"]
        assert any(link["type"] == "dashboards" and link["tags"] == ["wedsync"] for link in top)
        if board != OVERVIEW:
            assert any(link.get("url") == OVERVIEW.path for link in top), board.uid


def test_panels_link_to_the_runbooks_of_the_alerts_they_watch() -> None:
    runbooks = {url.rsplit("/", 1)[-1].removesuffix(".md")
                for b in BOARDS for url in urls(MODELS[b]) if url.endswith(".md")}
    for alert in ("WedSyncDatabaseConnectionsHigh", "WedSyncCacheHitRatioLow",
                  "WedSyncRealtimeRoundtripSlow", "WedSyncSLOBurnRate1h", "WedSyncAuthSlow",
                  "WedSyncIngestionSilent", "WedSyncTablesWithoutRLS"):
        assert alert in runbooks


# --- provisioning ------------------------------------------------------------------------------

# The keys Grafana documents (Administration > Provision Grafana; the Prometheus and
# Alertmanager data source pages for jsonData).
DATASOURCE_FILE_KEYS = {"apiVersion", "datasources", "deleteDatasources", "prune"}
DATASOURCE_KEYS = {"name", "type", "access", "orgId", "uid", "url", "user", "database",
                   "basicAuth", "basicAuthUser", "withCredentials", "isDefault", "jsonData",
                   "secureJsonData", "version", "editable"}
JSON_DATA_KEYS = {
    "prometheus": {"timeInterval", "httpMethod", "manageAlerts", "alertmanagerUid",
                   "prometheusType", "prometheusVersion", "customQueryParameters", "cacheLevel",
                   "incrementalQuerying", "incrementalQueryOverlapWindow",
                   "disableRecordingRules", "timeout", "tlsAuth", "tlsAuthWithCACert",
                   "tlsSkipVerify"},
    "alertmanager": {"implementation", "handleGrafanaManagedAlerts"},
}
PROVIDER_FILE_KEYS = {"apiVersion", "providers"}
PROVIDER_KEYS = {"name", "orgId", "folder", "folderUid", "type", "disableDeletion",
                 "updateIntervalSeconds", "allowUiUpdates", "options"}
PROVIDER_OPTION_KEYS = {"path", "foldersFromFilesStructure"}


def provisioning(kind: str) -> dict[str, Any]:
    files = sorted((PROVISIONING / kind).glob("*.yml"))
    assert len(files) == 1, files
    return yaml.safe_load(files[0].read_text())


def test_the_datasource_is_provisioned_with_its_fixed_uid_and_documented_keys() -> None:
    document = provisioning("datasources")
    assert document["apiVersion"] == 1 and set(document) <= DATASOURCE_FILE_KEYS
    by_type = {d["type"]: d for d in document["datasources"]}
    for source in document["datasources"]:
        assert set(source) <= DATASOURCE_KEYS, set(source) - DATASOURCE_KEYS
        assert set(source.get("jsonData", {})) <= JSON_DATA_KEYS[source["type"]]
    prometheus = by_type["prometheus"]
    assert (prometheus["uid"], prometheus["name"]) == (DATASOURCE_UID, DATASOURCE_NAME)
    assert prometheus["access"] == "proxy" and prometheus["isDefault"] is True
    assert prometheus["jsonData"]["alertmanagerUid"] == by_type["alertmanager"]["uid"]
    # $__rate_interval is derived from the scrape interval Grafana is told.
    scrape = yaml.safe_load((REPO / "prometheus" / "prometheus.yml").read_text())
    assert prometheus["jsonData"]["timeInterval"] == scrape["global"]["scrape_interval"]
    # Every dashboard's datasource variable starts on this datasource.
    for board in BOARDS:
        variable = MODELS[board]["templating"]["list"][0]
        assert (variable["type"], variable["current"]["value"]) == ("datasource",
                                                                    DATASOURCE_UID)


def test_a_file_provider_serves_the_generated_dashboards_with_documented_keys() -> None:
    document = provisioning("dashboards")
    assert document["apiVersion"] == 1 and set(document) <= PROVIDER_FILE_KEYS
    (provider,) = document["providers"]
    assert set(provider) <= PROVIDER_KEYS and set(provider["options"]) <= PROVIDER_OPTION_KEYS
    assert provider["type"] == "file" and provider["allowUiUpdates"] is False
    assert Path(provider["options"]["path"]).is_absolute()
