"""Series the rules and dashboards may read although the exporter does not make them: the
host metrics of node_exporter and of Supabase's Metrics API. The one place that lists them.

Supabase's Metrics API (``https://<ref>.supabase.co/customer/v1/privileged/metrics``) serves the
database host's resources under node_exporter's own names (with ``service_type="db"``), so one
set of host rules serves a self-hosted machine and the hosted database alike. The names below
were checked against node_exporter 1.5 (Debian's ``prometheus-node-exporter``, which
``tests/test_host_metrics.py`` runs) and against Supabase's published metric list
(``supabase/supabase-grafana``, ``docs/metrics.md``).
"""

from __future__ import annotations

# Any node_exporter family passes the catalogue rule: dashboards may grow into them.
OUTSIDE_PREFIXES: tuple[str, ...] = ("node_",)

# The node_exporter families the shipped rules and panels name (checked against a real
# node_exporter by the tests).
NODE_EXPORTER_SERIES: frozenset[str] = frozenset({
    "node_cpu_seconds_total",
    "node_memory_MemAvailable_bytes",
    "node_memory_MemTotal_bytes",
    "node_filesystem_avail_bytes",
    "node_filesystem_size_bytes",
    "node_filesystem_readonly",
    "node_disk_read_bytes_total",
    "node_disk_written_bytes_total",
    "node_network_receive_bytes_total",
    "node_network_transmit_bytes_total",
})

# The Supabase Metrics API series the rules name: every one is in Supabase's published list,
# under the same name as node_exporter's.
SUPABASE_METRICS_API_SERIES: frozenset[str] = NODE_EXPORTER_SERIES


def is_outside(name: str) -> bool:
    """Whether ``name`` is a host series from node_exporter or Supabase's Metrics API."""
    return name.startswith(OUTSIDE_PREFIXES) or name in SUPABASE_METRICS_API_SERIES
