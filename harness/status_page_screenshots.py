"""Regenerate the status page's screenshots in docs/images/ (docs/status-page.md shows them).

    python -m harness.status_page_screenshots [--out docs/images]

Runs the exporter against the local PostgreSQL and Redis and a stand-in API with two health URLs
it can break, with a real Prometheus scraping it, and photographs the page in headless Chromium
on a phone-sized window: everything operational; the API in partial outage with its incident
and an operator's update (the uptime bars then show the dip Prometheus scraped); a maintenance
window under way with one planned. Rendering is not byte-stable, so no test compares the images.
Loopback only; takes about a minute.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from harness.exporter import ExporterProcess
from harness.ports import free_port
from harness.prometheus import PrometheusServer

ADMIN = "screenshots-admin-token"
WIDTH, HEIGHT = 390, 1800


class StandInApi:
    """``/a`` and ``/b`` answer 200, or 503 while named in ``failing``."""

    def __init__(self) -> None:
        self.failing: set[str] = set()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(503 if self.path.strip("/") in owner.failing else 200)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"


def config(api: StandInApi, prometheus_url: str, windows: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "log": {"level": "warning"},
        "probe_defaults": {"interval": "1s", "timeout": "1s"},
        "database": [{"name": "primary", "dsn": "postgresql://postgres@127.0.0.1:5432/postgres"}],
        "redis": [{"name": "cache", "url": "redis://127.0.0.1:6379/0"}],
        "api": [{"name": "eu", "url": api.url("a")}, {"name": "us", "url": api.url("b")}],
        "queries": {},
        "tokens": {"admin": "${ADMIN}"},
        "prometheus": {"url": prometheus_url, "refresh": "2s"},
        "maintenance": {"windows": windows},
        "status_page": {"title": "WedSync status"},
    }


def summary(exporter: ExporterProcess) -> dict[str, Any]:
    return json.loads(exporter.get("/api/v2/summary.json"))


def wait_until(check: Any, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.25)
    raise SystemExit(f"gave up waiting for {what}")


def photograph(url: str, path: Path) -> None:
    """A phone-sized screenshot of ``url`` with Debian's headless Chromium."""
    browser = shutil.which("chromium")
    if browser is None:
        raise SystemExit("chromium is not installed: apt-get install chromium")
    with tempfile.TemporaryDirectory(prefix="wedsync-shot-") as profile:
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", f"--user-data-dir={profile}",
                        f"--window-size={WIDTH},{HEIGHT}", "--force-device-scale-factor=1",
                        f"--screenshot={path}", url], check=True, timeout=60,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(f"wrote {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    api = StandInApi()
    prometheus_port = free_port()
    prometheus_url = f"http://127.0.0.1:{prometheus_port}"
    now = datetime.now(UTC).replace(microsecond=0)
    planned = {"start": (now + timedelta(days=3)).isoformat(),
               "end": (now + timedelta(days=3, hours=2)).isoformat(),
               "components": ["database"], "message": "Database upgrade to a larger instance."}
    exporter = ExporterProcess(config(api, prometheus_url, []), env={"ADMIN": ADMIN})
    exporter.start()
    prometheus = PrometheusServer({
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [{"job_name": "wedsync-exporter", "static_configs": [
            {"targets": [f"127.0.0.1:{exporter.port}"]}]}]},
        port=prometheus_port, retention="35d")
    try:
        exporter.wait_ready(timeout=30)
        prometheus.start()
        wait_until(lambda: b'data-history="available"' in exporter.get("/"), "uptime history")
        time.sleep(5)
        photograph(f"{exporter.url}/", args.out / "status-page-operational.png")

        api.failing = {"b"}
        incident = wait_until(lambda: summary(exporter)["incidents"], "the incident")[0]
        request = urllib.request.Request(
            f"{exporter.url}/api/status/incidents/{incident['id']}/updates",
            data=json.dumps({"body": "US customers may see slow saves; we are moving "
                                     "traffic to the EU region."}).encode(),
            headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=10).close()
        time.sleep(8)  # Prometheus scrapes the outage; the next history fetch shows it
        photograph(f"{exporter.url}/", args.out / "status-page-incident.png")

        api.failing = set()
        under_way = {"start": (now - timedelta(minutes=30)).isoformat(),
                     "end": (now + timedelta(hours=1)).isoformat(),
                     "components": ["redis"], "message": "Cache upgrade: pages may load a "
                                                         "little slower."}
        exporter.write_config(config(api, prometheus_url, [under_way, planned]))
        reload = urllib.request.Request(f"{exporter.url}/-/reload", method="POST",
                                        headers={"Authorization": f"Bearer {ADMIN}"})
        urllib.request.urlopen(reload, timeout=10).close()
        wait_until(lambda: summary(exporter)["scheduled_maintenances"], "the maintenance")
        wait_until(lambda: not summary(exporter)["incidents"], "the incident to resolve")
        time.sleep(3)
        photograph(f"{exporter.url}/", args.out / "status-page-maintenance.png")
    finally:
        prometheus.stop()
        prometheus.cleanup()
        exporter.stop()
        api.server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
