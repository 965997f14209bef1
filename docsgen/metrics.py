"""docs/reference/metrics.md from the metric catalogue."""

from __future__ import annotations

from exporter.catalogue import (
    FAILURE_REASONS,
    FAMILIES,
    HTTP_CONNECTION_CLOSE_REASONS,
    HTTP_REFUSAL_REASONS,
    HTTP_TARPIT_OUTCOMES,
    QUERY_DISABLED_REASONS,
    QUERY_FILLED_FAMILIES,
    STATUS_CLASSES,
    STATUSES,
    WEDDING_WINDOWS,
    Family,
)
from exporter.components import REGISTRY
from exporter.ingestion.contract import REASONS as INGEST_REJECTED_REASONS

# Sections in reading order: (title, test on a family).
SECTIONS: tuple[tuple[str, str], ...] = (
    ("Every probe", "probe"),
    ("Database (PostgreSQL)", "wedsync_db_"),
    ("Redis", "wedsync_redis_"),
    ("Supabase Auth", "wedsync_auth_"),
    ("Supabase Realtime", "wedsync_realtime_"),
    ("API and external HTTP targets", "http_probe"),
    ("Request-timing ingestion", "ingest"),
    ("Architecture validation", "wedsync_validation_"),
    ("Weddings, wedding-day mode and SQL queries", "queries"),
    ("Deploy gate", "wedsync_deploy_gate_"),
    ("The exporter itself", "self"),
)
_PROBE = {"wedsync_up", "wedsync_probe_duration_seconds",
          "wedsync_probe_last_success_timestamp_seconds", "wedsync_probe_failures_total",
          "wedsync_probe_runs_total", "wedsync_probe_overruns_total",
          "wedsync_component_status"}
_HTTP_PROBE = {"wedsync_probe_http_status_code", "wedsync_tls_certificate_expiry_timestamp_seconds"}
def label_values() -> dict[str | tuple[str, str], tuple[str, ...]]:
    """Enumerated label values, by label name or by (family, label); components are the
    registry's at the time of rendering."""
    return {
        "component": REGISTRY.names(), "reason": FAILURE_REASONS, "status": STATUSES,
        "status_class": STATUS_CLASSES, ("wedsync_weddings", "window"): WEDDING_WINDOWS,
        ("wedsync_ingest_rejected_total", "reason"): INGEST_REJECTED_REASONS,
        ("wedsync_custom_query_disabled", "reason"): QUERY_DISABLED_REASONS,
        ("wedsync_http_refused_requests_total", "reason"): HTTP_REFUSAL_REASONS,
        ("wedsync_http_connections_closed_total", "reason"): HTTP_CONNECTION_CLOSE_REASONS,
        ("wedsync_http_tarpit_total", "outcome"): HTTP_TARPIT_OUTCOMES,
    }


def section_of(fam: Family) -> str:
    """The title of the section a family is listed in."""
    if fam.name in _PROBE:
        return SECTIONS[0][0]
    if fam.name in _HTTP_PROBE:
        return "API and external HTTP targets"
    if "ingest" in fam.name or fam.name == "wedsync_http_request_duration_seconds":
        return "Request-timing ingestion"
    if fam.name in QUERY_FILLED_FAMILIES or "custom_query" in fam.name or "wedding" in fam.name:
        return "Weddings, wedding-day mode and SQL queries"
    for title, prefix in SECTIONS:
        if prefix.startswith("wedsync_") and fam.name.startswith(prefix):
            return title
    return "The exporter itself"


def _labels(fam: Family) -> str:
    if not fam.labels:
        return "—"
    parts = []
    known = label_values()
    for label in fam.labels:
        values = known.get((fam.name, label)) or known.get(label)
        parts.append(f"`{label}` ({', '.join(values)})" if values else f"`{label}`")
    return ", ".join(parts)


def render() -> str:
    """The whole document."""
    out = [
        "# Metrics reference",
        "",
        "Generated from `exporter/catalogue.py` by `python -m docsgen build`; do not edit.",
        "",
        "Every value a probe measures is cached: probes run in the background on their own",
        "interval and a scrape only reads their last result, so each probe's age is",
        "`time() - wedsync_probe_last_success_timestamp_seconds`. Counters start at zero for",
        "their known label values; gauges appear with the first result. A histogram `x` is",
        "exposed as `x_bucket`, `x_sum` and `x_count`. Families marked *planned* are declared",
        "for rules and dashboards but not yet emitted.",
        "",
    ]
    for title, _ in SECTIONS:
        families = [f for f in FAMILIES if section_of(f) == title]
        if not families:
            continue
        out += [f"## {title}", "", "| metric | type | labels | meaning |", "|---|---|---|---|"]
        for fam in families:
            kind = fam.kind + ("" if fam.produced else ", *planned*")
            meaning = fam.help.replace("|", "\\|")
            if fam.buckets:
                meaning += f" Buckets (s): {', '.join(f'{b:g}' for b in fam.buckets)}."
            out.append(f"| `{fam.name}` | {kind} | {_labels(fam)} | {meaning} |")
        out.append("")
    return "\n".join(out)
