"""The component registry: a component is declared once, a half-declared or unknown one is an
error (never silently skipped), and the names of components that mean nothing else are not
scattered as literals through the exporter, the rules, the dashboards and the docs generator."""

from __future__ import annotations

import ast
import re
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from exporter.clock import utc_now
from exporter.components import REGISTRY, Component, ComponentError, DownAlert
from exporter.config import ConfigError, parse_config
from exporter.config.targets import TARGET_KINDS
from exporter.metrics.store import MetricStore
from exporter.probes import PROBERS
from exporter.runtime import Runtime

REPO = Path(__file__).resolve().parent.parent
FAKE = Component("fake", "Fake", False, settings="http", prober="http", spoken="the fake",
                 description="A fake component.",
                 down=DownAlert("Fake", "A fake target", "warning", "2m", "10m"))


def test_every_declared_component_has_its_settings_kind_and_prober() -> None:
    for component in REGISTRY:
        assert component.settings in TARGET_KINDS, component.name
        assert component.prober in PROBERS, component.name


@pytest.mark.parametrize(("change", "problem"), [
    ({"label": ""}, "has no label"),
    ({"spoken": " "}, "has no spoken"),
    ({"name": "Fake Thing"}, "lower case"),
    ({"down": DownAlert("fake", "A fake target", "warning", "2m", "10m")}, "CamelCase"),
    ({"down": DownAlert("Fake", "A fake target", "page", "2m", "10m")}, "severity"),
    ({"document_key": "external_services"}, "already that of component 'external'"),
    ({"label": "Database"}, "already that of component 'database'"),
    ({"down": DownAlert("Redis", "A fake target", "warning", "2m", "10m")},
     "WedSyncRedisDown already belongs"),
    ({"metric_prefix": "wedsync_redis_"}, "already belongs to component 'redis'"),
])
def test_a_half_declared_or_clashing_component_is_refused_at_registration(
        change: dict[str, object], problem: str) -> None:
    before = REGISTRY.names()
    with pytest.raises(ComponentError, match=re.escape(problem)):
        REGISTRY.register(replace(FAKE, **change))  # type: ignore[arg-type]
    assert REGISTRY.names() == before


def test_an_unknown_component_is_an_error_naming_the_known_ones() -> None:
    with pytest.raises(ComponentError, match="unknown component 'teleporter'; known: database"):
        REGISTRY.get("teleporter")


def test_a_component_whose_settings_kind_nobody_provides_stops_the_config_load() -> None:
    with REGISTRY.registered(replace(FAKE, settings="carrier_pigeon")), \
            pytest.raises(ConfigError, match="component 'fake' names target settings "
                                             "'carrier_pigeon'"):
        parse_config(yaml.safe_dump({}), {})


def test_a_component_whose_prober_nobody_provides_stops_the_runtime_not_skipped() -> None:
    with REGISTRY.registered(replace(FAKE, prober="carrier_pigeon")):
        config = parse_config(yaml.safe_dump({"fake": [{"name": "a", "url": "http://x/"}]}),
                              {})
        runtime = Runtime(config, MetricStore(), utc_now, job_factories=())
        with pytest.raises(ComponentError, match="component 'fake' names prober "
                                                 "'carrier_pigeon'"):
            runtime.build()
    assert runtime.probes == []


def test_a_prober_that_mislabels_a_shared_components_probes_is_refused() -> None:
    with REGISTRY.registered(replace(FAKE, prober="redis", settings="redis")):
        config = parse_config(yaml.safe_dump(
            {"fake": [{"name": "a", "url": "redis://127.0.0.1:1/0"}]}), {})
        with pytest.raises(ComponentError, match="labelled 'redis' for component 'fake'"):
            Runtime(config, MetricStore(), utc_now, job_factories=()).build()


# --- literals -----------------------------------------------------------------------------------
# A string literal names a component when it is the name itself or holds it quoted or in a
# regular-expression alternative (`component="realtime"`, `component=~"api|realtime"`);
# metric names (wedsync_realtime_...), URLs and docstrings are not component names.
SCANNED = ("exporter", "alerts", "dashboards", "docsgen")
REGISTRY_MODULE = "exporter/components.py"
OWN_PROBE_MODULE = {"realtime": "exporter/probes/realtime.py",
                    "external": "exporter/probes/http.py"}


def files_naming(component: str) -> list[str]:
    """Non-test files under SCANNED whose code has a literal naming ``component``."""
    pattern = re.compile(rf"(?:^|[\"'|=~]){component}(?:$|[\"'|])")
    found = []
    for folder in SCANNED:
        for path in sorted((REPO / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                          if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef |
                                        ast.AsyncFunctionDef)
                          and node.body and isinstance(node.body[0], ast.Expr)}
            if any(isinstance(node, ast.Constant) and isinstance(node.value, str)
                   and id(node) not in docstrings and pattern.search(node.value)
                   for node in ast.walk(tree)):
                found.append(path.relative_to(REPO).as_posix())
    return found


def test_the_counter_of_literals_sees_what_it_should() -> None:
    # The registry names every component; a metric name alone does not count.
    assert REGISTRY_MODULE in files_naming("realtime")
    assert "exporter/catalogue.py" not in files_naming("realtime")


@pytest.mark.parametrize("component", ["realtime", "external"])
def test_a_component_name_appears_as_a_literal_in_at_most_three_other_files(
        component: str) -> None:
    others = [f for f in files_naming(component)
              if f not in (REGISTRY_MODULE, OWN_PROBE_MODULE[component])]
    assert len(others) <= 3, others


def test_asking_a_configuration_for_an_unknown_components_targets_is_an_error() -> None:
    config = parse_config(yaml.safe_dump({}), {})
    assert config.targets("external") == ()
    with pytest.raises(KeyError, match="'teleporter' is not a component of this configuration"):
        config.targets("teleporter")
