"""Helpers the tests share: reading /metrics text, polling, configs for the exporter."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from prometheus_client.parser import text_string_to_metric_families

T = TypeVar("T")

SHARED_PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
SHARED_REDIS_URL = "redis://127.0.0.1:6379/0"
# Canaries: the sandbox's anon key and probe password, which must never show up anywhere.
CANARY_ANON_KEY = "canary-anon-key-7f3a9c41d2"
CANARY_PASSWORD = "canary-password-51d2e8b0c7"
PROBE_EMAIL = "probe@wedsync.test"


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Every sample in an exposition text: (name, labels, value)."""
    out = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.append((sample.name, dict(sample.labels), float(sample.value)))
    return out


def value(text: str, name: str, **labels: str) -> float | None:
    """The value of the one sample of ``name`` whose labels include ``labels``, or None."""
    found = [v for n, lab, v in samples(text) if n == name and all(
        lab.get(k) == want for k, want in labels.items())]
    if len(found) > 1:
        raise AssertionError(f"{len(found)} samples of {name} match {labels}")
    return found[0] if found else None


def eventually(check: Callable[[], T], timeout: float = 10.0, interval: float = 0.1,
               message: str = "condition not met") -> T:
    """Call ``check`` until it returns something truthy (returned) or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{message} within {timeout}s (last: {last!r})")


def exporter_config(*, database: list[dict[str, Any]] | None = None,
                    redis: list[dict[str, Any]] | None = None, interval: str = "1s",
                    timeout: str = "1s", **sections: Any) -> dict[str, Any]:
    """A config dict for a test exporter: short intervals, nothing else probed."""
    config: dict[str, Any] = {
        "timezone": "Europe/London",
        "log": {"level": "info", "format": "logfmt"},
        "probe_defaults": {"interval": interval, "timeout": timeout},
        "database": database or [],
        "redis": redis or [],
        "queries": {},
    }
    config.update(sections)
    return config


def wait_metrics(exporter: Any, predicate: Callable[[str], bool], timeout: float = 10.0,
                 message: str = "metrics condition not met") -> str:
    """Poll ``exporter.metrics()`` until ``predicate(text)``; the text that satisfied it."""
    holder: dict[str, str] = {}

    def check() -> bool:
        holder["text"] = exporter.metrics()
        return predicate(holder["text"])

    eventually(check, timeout=timeout, message=message)
    return holder["text"]


class InProcessExporter:
    """An exporter Service running in this process's event loop (for an injected clock)."""

    def __init__(self, service: Any) -> None:
        self.service = service

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.service.port}"


def in_process_exporter(config: dict[str, Any], env: dict[str, str] | None = None,
                        clock: Callable[[], Any] | None = None) -> Any:
    """``async with in_process_exporter(cfg, clock=...) as exp:`` runs a Service on a free
    port inside the running event loop; ``exp.service`` gives its store, runtime and clock."""
    import contextlib

    import yaml

    from exporter.clock import utc_now
    from exporter.config import parse_config
    from exporter.service import Service

    @contextlib.asynccontextmanager
    async def running() -> Any:
        cfg = parse_config(yaml.safe_dump(config), env or {})
        service = Service(cfg, clock=clock or utc_now, listen="127.0.0.1:0")
        await service.start()
        try:
            yield InProcessExporter(service)
        finally:
            await service.stop()

    return running()


def headless_chromium(profile: str, phone_width: int | None = None) -> Any:
    """A Selenium driver for Debian's headless Chromium with a fresh profile directory (the
    caller quits it and removes the directory), optionally emulating a phone ``phone_width``
    CSS pixels wide; None where Chromium or its driver is missing."""
    import shutil

    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        return None
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 "--disable-quic", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    if phone_width:
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": {
            "width": phone_width, "height": phone_width * 2, "pixelRatio": 3.0}})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_page_load_timeout(20)
    return driver


def read_status_page(page: str) -> dict[str, Any]:
    """What the status page's HTML shows, read without a browser: the overall status and, per
    health-document key, the row's status and label."""
    from html.parser import HTMLParser

    class Reader(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.overall: str | None = None
            self.rows: dict[str, dict[str, str]] = {}
            self.title = ""
            self._row: str | None = None
            self._in: str | None = None

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found = dict(attrs)
            if tag == "div" and found.get("id") == "overall":
                self.overall = found.get("data-status")
            elif tag == "li" and found.get("data-component"):
                self._row = str(found["data-component"])
                self.rows[self._row] = {"status": str(found.get("data-status")), "label": ""}
            elif tag == "span" and self._row and found.get("class") == "name":
                self._in = "label"
            elif tag == "title":
                self._in = "title"

        def handle_endtag(self, tag: str) -> None:
            if tag in ("span", "title"):
                self._in = None
            elif tag == "li":
                self._row = None

        def handle_data(self, data: str) -> None:
            if self._in == "label" and self._row:
                self.rows[self._row]["label"] += data
            elif self._in == "title":
                self.title += data

    reader = Reader()
    reader.feed(page)
    return {"overall": reader.overall, "rows": reader.rows, "title": reader.title}
