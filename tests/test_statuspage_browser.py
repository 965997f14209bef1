"""The whole status page in headless Chromium on a phone-sized screen: an incident with an
operator's update shown as text, maintenance under way and planned, and 90 daily uptime bars
from a real Prometheus, all within 390 CSS pixels."""

from __future__ import annotations

import json
import shutil
import tempfile
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from harness.ports import free_port
from harness.prometheus import PrometheusServer
from harness.status_page_screenshots import StandInApi
from tests.support import (
    SHARED_PG_DSN,
    SHARED_REDIS_URL,
    eventually,
    exporter_config,
    headless_chromium,
)

ADMIN = "admin-token-for-the-browser-status-page"
pytest.importorskip("selenium.webdriver")


def test_the_full_page_fits_a_phone_and_shows_updates_as_text(make_exporter) -> None:
    profile = tempfile.mkdtemp(prefix="wedsync-chromium-")
    driver = headless_chromium(profile, phone_width=390)
    if driver is None:
        pytest.skip("Debian chromium and chromium-driver are not installed")
    api = StandInApi()
    api.failing = {"b"}
    prometheus_port = free_port()
    now = datetime.now(UTC)
    windows = [{"start": (now - timedelta(hours=1)).isoformat(),
                "end": (now + timedelta(hours=1)).isoformat(),
                "components": ["redis"], "message": "Cache upgrade under way."},
               {"start": (now + timedelta(days=2)).isoformat(),
                "end": (now + timedelta(days=2, hours=1)).isoformat(),
                "components": ["database"], "message": "Database upgrade."}]
    exporter = make_exporter(exporter_config(
        database=[{"name": "primary", "dsn": "${PG}"}],
        redis=[{"name": "cache", "url": "${REDIS}"}],
        api=[{"name": "eu", "url": api.url("a")}, {"name": "us", "url": api.url("b")}],
        tokens={"admin": "${ADMIN}"},
        prometheus={"url": f"http://127.0.0.1:{prometheus_port}", "refresh": "1s"},
        maintenance={"windows": windows}),
        env={"PG": SHARED_PG_DSN, "REDIS": SHARED_REDIS_URL, "ADMIN": ADMIN})
    prometheus = PrometheusServer({
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [{"job_name": "wedsync-exporter", "static_configs": [
            {"targets": [f"127.0.0.1:{exporter.port}"]}]}]},
        port=prometheus_port, retention="90d")
    try:
        prometheus.start()
        incident = eventually(
            lambda: json.loads(exporter.get("/api/v2/summary.json"))["incidents"],
            timeout=20, message="no incident for the API's partial outage")[0]
        request = urllib.request.Request(
            f"{exporter.url}/api/status/incidents/{incident['id']}/updates",
            data=json.dumps({"body": "Moving <b>US</b> traffic to the EU."}).encode(),
            headers={"Authorization": f"Bearer {ADMIN}"})
        urllib.request.urlopen(request, timeout=10).close()
        eventually(lambda: b'<div class="history" data-component="api">' in exporter.get("/"),
                   timeout=30, message="no uptime history for the API")

        driver.get(f"{exporter.url}/")
        update = driver.find_element("css selector", "#incidents .update")
        assert "Moving <b>US</b> traffic to the EU." in update.text  # text, not markup
        assert driver.find_elements("css selector", "#incidents b") == []
        states = [e.get_attribute("data-state")
                  for e in driver.find_elements("css selector", "#maintenance article")]
        assert states == ["in_progress", "scheduled"]
        redis = driver.find_element("css selector", 'li[data-component="redis"]')
        assert redis.get_attribute("data-grade") == "under_maintenance"
        assert "Under maintenance" in redis.text
        uptime = driver.find_element("id", "uptime")
        assert uptime.get_attribute("data-days") == "90"  # Prometheus keeps 90 days here
        assert "Uptime, last 90 days" in uptime.text and "Prometheus keeps" not in uptime.text
        # One script for all 90 bars: element by element, a loaded machine can take longer
        # than the page's own meta refresh, which leaves the elements stale.
        widths = driver.execute_script(
            "return Array.from(document.querySelectorAll("
            "'#uptime [data-component=\"api\"] .bar'), b => b.getBoundingClientRect().width)")
        assert len(widths) == 90 and all(w >= 1 for w in widths)
        assert driver.execute_script("return document.documentElement.scrollWidth") <= 390
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
        prometheus.stop()
        prometheus.cleanup()
        api.server.shutdown()
