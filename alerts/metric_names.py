"""DESIGN.md's catalogue rule, reusable by every PromQL generator (rules, dashboards).

Every metric an expression names must be one the exporter exposes (``exporter.catalogue``), a
recording rule, one of k6's remote-write metrics, or one that Prometheus or Alertmanager make
themselves, or a host series of node_exporter or Supabase's Metrics API
(``alerts.outside_families``). ``unknown_metrics(expr, recorded)`` lists the names that break
the rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import promql_parser

from alerts.outside_families import is_outside
from exporter.catalogue import exposed_metric_names

# Series Prometheus itself attaches to every scrape and alerting rule.
PROMETHEUS_SYNTHETIC: frozenset[str] = frozenset({
    "up", "ALERTS", "ALERTS_FOR_STATE", "scrape_duration_seconds", "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling", "scrape_series_added",
})
SELF_MONITORING_PREFIXES: tuple[str, ...] = ("prometheus_", "alertmanager_")

# k6's built-in metrics by type (k6 v1.1). The remote-write output names them
# k6_<name>_total (counter), k6_<name>_rate (rate), k6_<name> (gauge) and
# k6_<name>_<stat> (trend; stats from K6_PROMETHEUS_RW_TREND_STATS) — checked against a real run.
K6_BUILTIN: dict[str, tuple[str, ...]] = {
    "counter": ("http_reqs", "iterations", "data_sent", "data_received", "dropped_iterations",
                "ws_msgs_sent", "ws_msgs_received", "ws_sessions", "grpc_streams",
                "grpc_streams_msgs_sent", "grpc_streams_msgs_received"),
    "gauge": ("vus", "vus_max"),
    "rate": ("http_req_failed", "checks"),
    "trend": ("http_req_duration", "http_req_blocked", "http_req_connecting",
              "http_req_tls_handshaking", "http_req_sending", "http_req_waiting",
              "http_req_receiving", "iteration_duration", "group_duration", "ws_connecting",
              "ws_session_duration", "ws_ping", "grpc_req_duration"),
}
K6_TREND_STAT = re.compile(r"^(avg|count|max|med|min|sum|p[0-9]+)$")


def metric_names(expr: str) -> set[str]:
    """Every metric name an expression selects (raises ValueError if it does not parse)."""
    found: set[str] = set()

    def visit(node: object) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                found.add(node.name)
            for matcher in node.matchers.matchers:
                if matcher.name == "__name__":
                    found.add(matcher.value)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def k6_metric_names(custom: Iterable[tuple[str, str]] = ()) -> frozenset[str]:
    """The non-trend k6 remote-write names, for built-ins and ``custom`` (name, kind) metrics."""
    kinds = {kind: list(names) for kind, names in K6_BUILTIN.items()}
    for name, kind in custom:
        kinds.setdefault(kind, []).append(name)
    suffix = {"counter": "_total", "rate": "_rate", "gauge": ""}
    return frozenset(f"k6_{name}{suffix[kind]}" for kind, names in kinds.items()
                     if kind in suffix for name in names)


def is_k6_metric(name: str, custom: Iterable[tuple[str, str]] = ()) -> bool:
    """True for a name k6's remote-write output makes from a built-in or ``custom`` metric."""
    custom = tuple(custom)
    if name in k6_metric_names(custom):
        return True
    trends = [*K6_BUILTIN["trend"], *(n for n, kind in custom if kind == "trend")]
    for trend in trends:
        prefix = f"k6_{trend}_"
        if name.startswith(prefix) and K6_TREND_STAT.match(name[len(prefix):]):
            return True
    return False


def is_allowed(name: str, recorded: Iterable[str] = (),
               k6_custom: Iterable[tuple[str, str]] = ()) -> bool:
    """Whether ``name`` passes the catalogue rule."""
    return (name in exposed_metric_names() or name in set(recorded)
            or name in PROMETHEUS_SYNTHETIC or name.startswith(SELF_MONITORING_PREFIXES)
            or is_outside(name) or is_k6_metric(name, k6_custom))


def unknown_metrics(expr: str, recorded: Iterable[str] = (),
                    k6_custom: Iterable[tuple[str, str]] = ()) -> set[str]:
    """The names in ``expr`` that break the catalogue rule (empty when it complies)."""
    recorded = frozenset(recorded)
    return {name for name in metric_names(expr) if not is_allowed(name, recorded, k6_custom)}
