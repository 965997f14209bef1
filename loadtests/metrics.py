"""The Prometheus series a run remote-writes (``-o experimental-prometheus-rw``), for the
"Load tests" dashboard and for the check that every metric a PromQL expression names exists.

k6 prefixes every metric with ``k6_``; counters get ``_total``, rates ``_rate``, and each trend
one series per statistic in ``K6_PROMETHEUS_RW_TREND_STATS`` (the runner asks for the ones in
``TREND_STATS``), in seconds for time trends. Listed here as data; docs/loadtests.md has the
same table for people.
"""

from __future__ import annotations

from loadtests.runner import REMOTE_WRITE_DEFAULTS

PREFIX = "k6_"
COUNTERS = ("http_reqs", "iterations", "data_received", "data_sent", "ws_sessions",
            "ws_msgs_sent", "ws_msgs_received", "dropped_iterations")
RATES = ("http_req_failed", "checks", "realtime_core_fields_lost")
GAUGES = ("vus", "vus_max")
TRENDS = ("http_req_duration", "http_req_waiting", "http_req_blocked", "http_req_connecting",
          "http_req_tls_handshaking", "http_req_sending", "http_req_receiving",
          "iteration_duration", "ws_connecting", "ws_session_duration",
          "realtime_core_fields_roundtrip")
# "p(95)" in K6_PROMETHEUS_RW_TREND_STATS becomes the suffix "p95".
TREND_STATS = tuple(stat.replace("(", "").replace(")", "")
                    for stat in REMOTE_WRITE_DEFAULTS["K6_PROMETHEUS_RW_TREND_STATS"].split(","))
# Series that only exist when something went wrong (k6 ran out of VUs).
CONDITIONAL = frozenset({f"{PREFIX}dropped_iterations_total"})

# Label -> what it holds. All bounded: one value per run, scenario, endpoint, check or status.
LABELS = {
    "testid": "the run (wedsync-loadtest run --testid; default PROFILE-TIME-RANDOM)",
    "profile": "smoke, load, stress, spike or soak",
    "scenario": "vendor_dashboard, couple_forms, wedding_day_ops, payments, "
                "realtime_core_fields (absent on vus, vus_max)",
    "endpoint": "the flow's name for the endpoint (dashboard, payment_process, …), stable when "
                "the paths differ",
    "name": "the request path (/api/payments/process) or the Realtime socket URL",
    "url": "as name (k6 copies the name tag)",
    "method": "GET, POST, PUT",
    "status": "HTTP status (101 for the WebSocket upgrade)",
    "expected_response": "true for 2xx/3xx",
    "error_code": "k6's code on failed requests (1000 + status for 4xx/5xx: 1401, 1500; "
                  "lower 1xxx for network errors)",
    "proto": "HTTP/1.1, HTTP/2.0",
    "check": "the check's name on k6_checks_rate",
}


def remote_write_metrics() -> frozenset[str]:
    """Every series name a run can produce."""
    names = {f"{PREFIX}{name}_total" for name in COUNTERS}
    names |= {f"{PREFIX}{name}_rate" for name in RATES}
    names |= {f"{PREFIX}{name}" for name in GAUGES}
    names |= {f"{PREFIX}{name}_{stat}" for name in TRENDS for stat in TREND_STATS}
    return frozenset(names)


REMOTE_WRITE_METRICS = remote_write_metrics()
