"""Reads the critical alerts firing in Alertmanager through its v2 API."""

from __future__ import annotations

from collections import Counter
from typing import Any

import aiohttp

# Active alerts only: a silenced or inhibited alert is one a human already decided about.
# Unprocessed alerts (just received, not yet grouped) are firing too, so they are included.
QUERY: tuple[tuple[str, str], ...] = (
    ("active", "true"), ("silenced", "false"), ("inhibited", "false"),
    ("filter", 'severity="critical"'),
)
LONGEST_NAME = 100


class AlertmanagerUnavailable(Exception):
    """Alertmanager could not be asked; ``cause`` is a short clause safe to show anyone."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


def _names(body: Any) -> Counter[str]:
    if not isinstance(body, list) or not all(
            isinstance(alert, dict) and isinstance(alert.get("labels"), dict) for alert in body):
        raise AlertmanagerUnavailable("its answer was not a v2 alert list")
    firing: Counter[str] = Counter()
    for alert in body:
        labels = alert["labels"]
        state = (alert.get("status") or {}).get("state", "active")
        # The filter already asks for these; checking again costs nothing and keeps a proxy
        # that drops query parameters from blocking every deploy on a warning.
        if labels.get("severity") != "critical" or state == "suppressed":
            continue
        name = str(labels.get("alertname") or "(an alert without a name)")
        firing[name[:LONGEST_NAME]] += 1
    return firing


async def firing_critical_alerts(session: aiohttp.ClientSession, base_url: str,
                                 timeout: float) -> Counter[str]:
    """Names (and counts) of the active, unsilenced, uninhibited critical alerts."""
    try:
        async with session.get(f"{base_url}/api/v2/alerts", params=QUERY,
                               timeout=aiohttp.ClientTimeout(total=timeout)) as answer:
            if answer.status != 200:
                raise AlertmanagerUnavailable(f"it answered HTTP {answer.status}")
            body = await answer.json(content_type=None)
    except TimeoutError:
        raise AlertmanagerUnavailable(f"no answer within {timeout:g}s") from None
    except aiohttp.InvalidURL:
        raise AlertmanagerUnavailable("its configured URL is not valid") from None
    except aiohttp.ClientConnectionError:
        raise AlertmanagerUnavailable("it could not be reached") from None
    except (aiohttp.ClientError, ValueError):
        raise AlertmanagerUnavailable("its answer was not a v2 alert list") from None
    return _names(body)
