"""Where the drill reads what Alertmanager sent: a webhook receiver of its own (in this process),
or the recording receiver of a running ``wedsync-stack`` (``GET /notifications``).

Against a compose or staging Alertmanager, the drill listens itself (``--webhook-listen``) and
Alertmanager sends it a copy of every notification (``wedsync-drill alertmanager-config``
writes that configuration: each receiver keeps its integrations and gains a webhook to the
drill at ``<url>/<receiver name>``).
"""

from __future__ import annotations

from typing import Any, Protocol

from drill.apis import get_json
from harness.webhook import Notification, WebhookReceiver


class NotificationSource(Protocol):
    """Every notification received so far, oldest first."""

    def notifications(self) -> list[Notification]:
        """Every notification received so far, oldest first."""
        ...

    def describe(self) -> str:
        """Where they come from, for the report."""
        ...


class ReceiverSource:
    """A WebhookReceiver in this process (the stack's, or one the drill started)."""

    def __init__(self, receiver: WebhookReceiver) -> None:
        self.receiver = receiver

    def notifications(self) -> list[Notification]:
        return self.receiver.notifications()

    def describe(self) -> str:
        return f"webhook receiver at {self.receiver.url}"


class RemoteSource:
    """A recording receiver elsewhere that lists what it got at ``GET /notifications``."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        if not self.url.endswith("/notifications"):
            self.url += "/notifications"

    def notifications(self) -> list[Notification]:
        found: list[dict[str, Any]] = get_json(self.url)
        out = []
        for item in found:
            body = {k: v for k, v in item.items() if k not in ("received_at", "path")}
            out.append(Notification(float(item["received_at"]), str(item.get("path", "")),
                                    body))
        return sorted(out, key=lambda n: n.received_at)

    def describe(self) -> str:
        return f"recording receiver at {self.url}"


def listening_receiver(address: str) -> WebhookReceiver:
    """A receiver of the drill's own on ``HOST:PORT`` (started)."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--webhook-listen {address!r} is not HOST:PORT")
    receiver = WebhookReceiver(int(port))
    receiver.host = host.strip("[]")
    return receiver.start()
