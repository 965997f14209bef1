"""Benchmark: the status page and its Statuspage API served from cache, next to the same
exporter's /metrics and health document in the same run.

    python bench/status_page.py [--requests 2000]

All six components probed every second (the sandbox for Auth, Realtime, API and external; the
local PostgreSQL and Redis), a maintenance window, and a real Prometheus scraping the exporter
so that the page carries its uptime bars. Sequential keep-alive requests from one client; prints
p50/p99/max per route and the exporter's CPU time per request. Target (issue 23): the page and
the API under 5 ms p99. No open-source status page (Gatus, Cachet, Upptime) is packaged here, so
the peers in the run are the exporter's own cached routes. Bounded in count and time; loopback
only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.health import ADMIN, ANON_KEY, PASSWORD, config, measure, percentile
from harness.exporter import ExporterProcess
from harness.ports import free_port
from harness.prometheus import PrometheusServer
from harness.sandbox import SandboxServer

TIME_LIMIT = 300.0
ROUTES: dict[str, tuple[dict[str, str], float | None]] = {
    "/": ({}, 5.0),
    "/api/v2/summary.json": ({}, 5.0),
    "/api/v2/status.json": ({}, 5.0),
    # Peers in the same run: the routes the exporter already served from cache.
    "/metrics": ({"Accept-Encoding": "gzip"}, None),
    "/api/system/health": ({"Authorization": f"Bearer {ADMIN}"}, None),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    deadline = time.monotonic() + TIME_LIMIT
    now = datetime.now(UTC)
    prometheus_port = free_port()
    with SandboxServer(anon_key=ANON_KEY, probe_password=PASSWORD) as sandbox:
        cfg = {**config(sandbox),
               "prometheus": {"url": f"http://127.0.0.1:{prometheus_port}", "refresh": "5s"},
               "maintenance": {"windows": [{
                   "start": (now + timedelta(days=1)).isoformat(),
                   "end": (now + timedelta(days=1, hours=2)).isoformat(),
                   "components": ["redis"], "message": "Cache upgrade."}]}}
        exporter = ExporterProcess(cfg, env={"KEY": ANON_KEY, "PW": PASSWORD, "ADMIN": ADMIN})
        exporter.start()
        prometheus = PrometheusServer({
            "global": {"scrape_interval": "1s"},
            "scrape_configs": [{"job_name": "wedsync-exporter", "static_configs": [
                {"targets": [f"127.0.0.1:{exporter.port}"]}]}]},
            port=prometheus_port, retention="35d")
        met = True
        try:
            exporter.wait_ready(timeout=30)
            prometheus.start()
            time.sleep(12)  # scrapes, then a history fetch
            assert exporter.process is not None
            pid = exporter.process.pid
            with urllib.request.urlopen(f"{exporter.url}/", timeout=10) as answer:
                page = answer.read()
            shown = "shown" if b'data-history="available"' in page else "NOT shown"
            print(f"page: {len(page)} bytes, uptime history {shown}")
            print(f"{args.requests} sequential keep-alive requests per route; probes every 1 s; "
                  f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
            print(f"{'route':<24}{'n':>6}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
                  f"{'CPU ms/req':>11}{'target':>8}  verdict")
            for path, (headers, target) in ROUTES.items():
                timings, cpu = measure(exporter.port, path, headers, args.requests, pid,
                                       deadline)
                p99 = percentile(timings, 0.99)
                ok = target is None or p99 <= target
                met &= ok
                verdict = "peer" if target is None else "ok" if ok else "OVER"
                print(f"{path:<24}{len(timings):>6}{statistics.median(timings):>9.3f}"
                      f"{p99:>9.3f}{max(timings):>9.2f}{cpu:>11.3f}"
                      f"{'' if target is None else f'{target:.1f}':>8}  {verdict}")
        finally:
            prometheus.stop()
            prometheus.cleanup()
            exporter.stop()
    print("page and API under 5 ms p99" if met else
          "page or API over 5 ms p99 (compare with the peers: the machine's own noise)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
