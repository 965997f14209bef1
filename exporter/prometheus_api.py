"""Asking Prometheus' HTTP API (``prometheus.url``): one GET, its ``data`` or a short reason.

Shared by the features that ask Prometheus (the status page's uptime history, the
``deployment`` validation), so every one reads answers the same way.
"""

from __future__ import annotations

from typing import Any

import aiohttp


class PrometheusUnavailable(Exception):
    """Prometheus could not be asked, or did not answer a successful result (a short reason,
    safe to show: no URL, no body)."""


async def prometheus_get(session: aiohttp.ClientSession, base: str, path: str,
                         params: dict[str, str] | None = None) -> Any:
    """``data`` of a successful answer to ``GET {base}{path}``; PrometheusUnavailable else."""
    try:
        async with session.get(f"{base}{path}", params=params) as answer:
            if answer.status != 200:
                raise PrometheusUnavailable(f"{path} answered HTTP {answer.status}")
            document = await answer.json(content_type=None)
    except TimeoutError:
        raise PrometheusUnavailable(f"{path}: no answer in time") from None
    except aiohttp.InvalidURL:
        raise PrometheusUnavailable("prometheus.url is not a valid URL") from None
    except aiohttp.ClientConnectionError:
        raise PrometheusUnavailable(f"{path}: it could not be reached") from None
    except (aiohttp.ClientError, ValueError):
        raise PrometheusUnavailable(f"{path} did not answer JSON") from None
    if not isinstance(document, dict) or document.get("status") != "success":
        raise PrometheusUnavailable(f"{path} did not answer a successful result")
    return document.get("data")
