"""An Alertmanager configuration for drilling a compose or staging stack: every receiver keeps
its own integrations (PagerDuty, Slack, …) and also sends a copy of each notification to the
drill's webhook receiver at ``<url>/<receiver name>``. Routing, grouping, timing and inhibitions
are untouched, so the drill sees exactly what each receiver was sent, when it was sent."""

from __future__ import annotations

import copy
from typing import Any


def teed_config(config: dict[str, Any], webhook_url: str) -> dict[str, Any]:
    """``config`` with the drill's webhook added to every receiver."""
    out = copy.deepcopy(config)
    for receiver in out.get("receivers", []):
        integrations = [c for key, value in receiver.items() if key.endswith("_configs")
                        for c in value]
        # Resolved notifications reach the drill when they reach the receiver's own targets.
        send_resolved = all(c.get("send_resolved", True) for c in integrations)
        receiver.setdefault("webhook_configs", []).append(
            {"url": f"{webhook_url.rstrip('/')}/{receiver['name']}",
             "send_resolved": send_resolved})
    return out
