"""The home dashboard's answer to "are today's weddings safe?" and its page count, run by a real
Prometheus over series set per case: pages are counted the way prometheus/alertmanager.yml
routes them (a warning on a wedding day pages), and an essential component nobody monitors
turns "safe" into "cannot tell"."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from alerts.routing import deliveries
from dashboards.overview import (
    NOT_SAFE,
    PAGING,
    PARTLY_BLIND,
    SAFE,
    TICKETING,
    WARNINGS,
    count_or_zero,
    verdict,
)
from harness.metrics_endpoint import MetricsEndpoint
from harness.prometheus import PrometheusServer

pytestmark = pytest.mark.slow

ESSENTIAL = ("database", "auth", "realtime", "redis", "api")


def platform(*, unmonitored: tuple[str, ...] = (), status: str = "healthy",
             alerts: tuple[dict[str, str], ...] = ()) -> str:
    """Exposition text as the exporter (and, for ALERTS, Prometheus) would have it."""
    lines = []
    for component in ESSENTIAL:
        monitored = component not in unmonitored
        lines.append(f'wedsync_component_monitored{{component="{component}",essential="true"}} '
                     f"{int(monitored)}")
        if monitored:
            for name in ("healthy", "degraded", "critical"):
                lines.append(f'wedsync_component_status{{component="{component}",'
                             f'target="t",status="{name}"}} {int(name == status)}')
    for labels in alerts:
        text = ",".join(f'{k}="{v}"' for k, v in {"alertstate": "firing", **labels}.items())
        lines.append(f"ALERTS{{{text}}} 1")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[MetricsEndpoint, PrometheusServer]]:
    endpoint = MetricsEndpoint(platform()).start()
    config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
              "scrape_configs": [{"job_name": "wedsync-exporter",
                                  "static_configs": [{"targets": [endpoint.address]}]}]}
    server = PrometheusServer(config)
    server.start()
    try:
        yield endpoint, server
    finally:
        server.cleanup()
        endpoint.stop()


def answer(served: tuple[MetricsEndpoint, PrometheusServer], text: str, expr: str) -> float:
    """Serve ``text``, wait until Prometheus has scraped it (a marker series of this call
    shows; series of the text before are stale from that scrape on), and evaluate ``expr``."""
    endpoint, server = served
    marker = uuid.uuid4().hex
    endpoint.set_text(f'wedsync_test_case{{case="{marker}"}} 1\n{text}')
    deadline = time.monotonic() + 30
    while not server.query(f'wedsync_test_case{{case="{marker}"}}'):
        assert time.monotonic() < deadline, "Prometheus did not scrape the new series"
        time.sleep(0.2)
    [sample] = server.query(expr)
    return float(sample["value"][1])


WEDDING_DAY_WARNING = {"alertname": "WedSyncIngestionSilent", "severity": "warning",
                       "wedding_day": "true"}
ORDINARY_WARNING = {**WEDDING_DAY_WARNING, "wedding_day": "false"}
PLANNING_WARNING = {"alertname": "WedSyncScaleUpRecommended", "severity": "warning"}
CRITICAL = {"alertname": "WedSyncRedisDown", "severity": "critical", "wedding_day": "false"}
WATCHDOG = {"alertname": "WedSyncWatchdog", "severity": "info"}


@pytest.mark.parametrize("labels", [WEDDING_DAY_WARNING, ORDINARY_WARNING, PLANNING_WARNING,
                                    CRITICAL, WATCHDOG],
                         ids=["wedding-day-warning", "ordinary-warning", "planning-warning",
                              "critical", "watchdog"])
def test_pages_and_tickets_are_counted_as_alertmanager_routes_them(served, labels) -> None:
    receivers = {d.receiver for d in deliveries(labels)}
    text = platform(alerts=(labels,))
    assert answer(served, text, count_or_zero(PAGING)) == int("pager" in receivers)
    assert answer(served, text, count_or_zero(TICKETING)) == int("ticket" in receivers)


@pytest.mark.parametrize(("case", "text", "level"), [
    ("all monitored, healthy, only the Watchdog", platform(alerts=(WATCHDOG,)), SAFE),
    ("a ticket on an ordinary day", platform(alerts=(ORDINARY_WARNING,)), WARNINGS),
    ("a degraded component", platform(status="degraded"), WARNINGS),
    ("three essential components without a target",
     platform(unmonitored=("auth", "realtime", "api")), PARTLY_BLIND),
    ("a warning on a wedding day pages", platform(alerts=(WEDDING_DAY_WARNING,)), NOT_SAFE),
    ("a critical component", platform(status="critical"), NOT_SAFE),
    ("a page outweighs what is not monitored",
     platform(unmonitored=("api",), alerts=(CRITICAL,)), NOT_SAFE),
], ids=lambda value: value if isinstance(value, str) and len(value) < 60 else None)
def test_the_verdict_is_the_worst_signal(served, case, text, level) -> None:
    assert answer(served, text, verdict()) == level, case
