"""Prometheus, Alertmanager and the exporter over HTTP, as the drill reads them (by URL, so the
same code watches the harness and a compose or staging stack)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

TIMEOUT = 10.0


class APIError(RuntimeError):
    """A component did not answer as expected; the message says which and why."""


def get_json(url: str, timeout: float = TIMEOUT) -> Any:
    """GET ``url`` and parse the JSON answer (APIError on any failure)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return json.load(answer)
    except urllib.error.HTTPError as error:
        raise APIError(f"{_where(url)} answered {error.code}") from None
    except (OSError, ValueError) as error:
        raise APIError(f"{_where(url)} did not answer ({error})") from None


def status_of(url: str, timeout: float = 2.0) -> int | None:
    """The HTTP status of GET ``url`` (None: no answer)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return None


def _where(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


class Prometheus:
    """The HTTP API of one Prometheus."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def _api(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        body = get_json(f"{self.url}/api/v1/{path}?{query}")
        if body.get("status") != "success":
            raise APIError(f"Prometheus {path} failed: {body.get('error', body)}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query (now, or at unix time ``at``): the result vector."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        return list(self._api("query", **params)["result"])

    def scalar(self, expr: str, at: float | None = None) -> float | None:
        """The value of a query that yields at most one series (None: no series)."""
        result = self.query(expr, at)
        return float(result[0]["value"][1]) if result else None

    def query_range(self, expr: str, start: float, end: float, step: float
                    ) -> list[dict[str, Any]]:
        """A range query: series with ``values`` [[t, "v"], …]."""
        return list(self._api("query_range", query=expr, start=f"{start:.3f}",
                              end=f"{end:.3f}", step=f"{max(step, 0.001):.3f}")["result"])

    def alerts(self) -> list[dict[str, Any]]:
        """Pending and firing alerts now."""
        return list(self._api("alerts")["alerts"])

    def rules(self) -> list[dict[str, Any]]:
        """Every loaded rule (alerting and recording), flattened across groups."""
        return [rule for group in self._api("rules")["groups"] for rule in group["rules"]]

    def ready(self) -> bool:
        return status_of(f"{self.url}/-/ready") == 200


class Alertmanager:
    """The v2 API of one Alertmanager."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert it holds, active, suppressed (inhibited or silenced) or unprocessed."""
        return list(get_json(f"{self.url}/api/v2/alerts"))

    def ready(self) -> bool:
        return status_of(f"{self.url}/-/ready") == 200
