"""What a healthy stack must not do: page, ticket, or fire any alert but the Watchdog.

Pending alerts (a condition held for less than its ``for:``) are reported but are not noise:
nothing has been sent, and with a scaled ``for:`` a condition that persists fires soon after.

Used by the quiet-stack test (short settings) and ``bench/quiet_stack.py`` (production
settings), so both judge quietness the same way.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from alerts.monitoring import WATCHDOG

WATCHDOG_RECEIVER = "watchdog"


@dataclass
class Noise:
    """Everything a healthy stack said besides the Watchdog."""

    notifications: list[str] = field(default_factory=list)  # "receiver: Alert, Alert (status)"
    alerts: list[str] = field(default_factory=list)  # "Alert (firing)"
    pending: list[str] = field(default_factory=list)  # "Alert (pending)": not noise yet

    @property
    def quiet(self) -> bool:
        return not self.notifications and not self.alerts

    def pages(self) -> list[str]:
        return [n for n in self.notifications if n.startswith("pager:")]

    def tickets(self) -> list[str]:
        return [n for n in self.notifications if n.startswith("ticket:")]

    def __str__(self) -> str:
        said = "quiet: only the Watchdog" if self.quiet else "; ".join(
            self.notifications + self.alerts)
        return said + (f" (pending: {', '.join(self.pending)})" if self.pending else "")


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.load(answer)


def noise(prometheus_url: str, webhook_url: str) -> Noise:
    """Notifications the stack's webhook received from any receiver but the Watchdog's, and
    alerts its Prometheus fires (and holds pending) other than the Watchdog, now."""
    found = Noise()
    for note in _get(f"{webhook_url}/notifications"):
        if note["receiver"] != WATCHDOG_RECEIVER:
            names = ", ".join(sorted({a["labels"].get("alertname", "?")
                                      for a in note.get("alerts", [])}))
            found.notifications.append(f"{note['receiver']}: {names} ({note['status']})")
    for alert in _get(f"{prometheus_url}/api/v1/alerts")["data"]["alerts"]:
        name = alert["labels"].get("alertname")
        if name != WATCHDOG:
            held = found.alerts if alert["state"] == "firing" else found.pending
            held.append(f"{name} ({alert['state']})")
    return found
