"""The harness starts real Prometheus and Alertmanager on free ports and stops them by PID."""

from __future__ import annotations

import time

from harness.alertmanager import AlertmanagerServer
from harness.ports import free_port
from harness.prometheus import PrometheusServer


def test_prometheus_and_alertmanager_start_answer_and_stop() -> None:
    am_config = {"route": {"receiver": "null"}, "receivers": [{"name": "null"}]}
    with AlertmanagerServer(am_config) as am:
        am.post_alerts([{"labels": {"alertname": "HarnessCheck", "severity": "info"}}])
        assert am.alerts(alertname="HarnessCheck")
        port = free_port()
        with PrometheusServer({"global": {"scrape_interval": "1s"}, "scrape_configs": [
                {"job_name": "self", "static_configs": [
                    {"targets": [f"127.0.0.1:{port}"]}]}]}, port=port) as prom:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not prom.query("prometheus_build_info"):
                time.sleep(0.2)
            assert prom.query("prometheus_build_info")
        pid = am.process.pid
    import os

    import pytest
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
