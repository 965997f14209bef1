"""Uptime history from a real Prometheus that scraped the exporter while a component went down:
daily bars with percentages, how long Prometheus keeps data said on the page; and with
Prometheus stopped, the page still answers 200 with the current states and says the history
is unavailable."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from harness.ports import free_port
from harness.prometheus import PrometheusServer
from tests.test_statuspage_api import ADMIN, FlakyApi, get_json, grades, running, until


def history_rows(page: str) -> dict[str, tuple[str, list[str]]]:
    """component -> (its uptime figure, the titles of its daily bars)."""
    rows = {}
    for match in re.finditer(r'<div class="history" data-component="([a-z_]+)">(.*?)</div></div>',
                             page, flags=re.S):
        figure = re.search(r'<span class="meta">([^<]*)</span>', match.group(2))
        titles = re.findall(r'class="bar [a-z]+" data-day="[0-9-]+" title="([^"]*)"',
                            match.group(2))
        rows[match.group(1)] = (figure.group(1) if figure else "", titles)
    return rows


def test_history_comes_from_prometheus_and_its_absence_keeps_the_page_up() -> None:
    api = FlakyApi()
    prometheus_port = free_port()

    async def scenario() -> None:
        async with running(api, prometheus={"url": f"http://127.0.0.1:{prometheus_port}",
                                            "refresh": "2s", "timeout": "2s"},
                           ) as (exporter, http):
            host_port = exporter.url.removeprefix("http://")
            prometheus = PrometheusServer({
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "scrape_configs": [{"job_name": "wedsync-exporter",
                                    "static_configs": [{"targets": [host_port]}]}],
            }, port=prometheus_port, retention="35d")
            await asyncio.to_thread(prometheus.start)
            try:
                async def scraped_up() -> Any:
                    found = await asyncio.to_thread(
                        prometheus.query, 'count_over_time(wedsync_up{component="api"}[1m]) > 3')
                    return len(found) == 2
                await until(scraped_up, timeout=30)  # a few scrapes with every target up
                api.failing = {"a", "b"}  # then the API goes down for good

                async def api_down() -> Any:
                    found = await get_json(http, f"{exporter.url}/api/v2/summary.json")
                    return grades(found).get("api") == "major_outage"
                await until(api_down)
                await asyncio.sleep(4)  # ... and Prometheus scrapes it down

                async def history_with_the_outage() -> Any:
                    async with http.get(f"{exporter.url}/") as answer:
                        page = await answer.text()
                    rows = history_rows(page)
                    figure = rows.get("api", ("", []))[0]
                    share = re.match(r"([0-9.]+)% uptime", figure)
                    return page if share and 0 < float(share.group(1)) < 100 else None
                page = await until(history_with_the_outage, timeout=30)
                assert 'data-history="available" data-days="35"' in page
                assert "Prometheus keeps 35 days" in page
                rows = history_rows(page)
                bars = rows["api"][1]
                assert len(bars) == 35
                assert bars[:-1] == [b for b in bars[:-1] if b.endswith("no data")]
                assert re.search(r": [0-9.]+%$", bars[-1]) and not bars[-1].endswith("100.00%")
                assert rows["database"][0] == "100.00% uptime"
                assert "auth" not in rows  # not monitored: no bars
            finally:
                await asyncio.to_thread(prometheus.stop)
                prometheus.cleanup()

            async def history_unavailable() -> Any:
                async with http.get(f"{exporter.url}/") as answer:
                    assert answer.status == 200
                    page = await answer.text()
                return page if 'data-history="unavailable"' in page else None
            page = await until(history_unavailable, timeout=20)
            assert "History is unavailable right now" in page
            assert 'data-component="api" data-status="critical" data-grade="major_outage"' \
                in page
            assert f"127.0.0.1:{prometheus_port}" not in page and ADMIN not in page

    asyncio.run(scenario())
