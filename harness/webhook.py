"""A webhook receiver that records what Alertmanager sends, for tests, drills and `wedsync-stack`.

Alertmanager POSTs one JSON document per group notification (``receiver``, ``status``,
``groupKey``, ``alerts`` ...). The receiver keeps each with the time it arrived; ``GET
/notifications`` lists them as JSON so another process (a drill, a person with curl) can read
them too.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from harness.ports import free_port


@dataclass(frozen=True)
class Notification:
    """One notification as Alertmanager sent it, with the (wall clock) time it arrived."""

    received_at: float
    path: str
    body: dict[str, Any] = field(repr=False)

    @property
    def receiver(self) -> str:
        return str(self.body.get("receiver", ""))

    @property
    def status(self) -> str:
        """"firing" or "resolved" (the status of the whole group)."""
        return str(self.body.get("status", ""))

    @property
    def group_key(self) -> str:
        return str(self.body.get("groupKey", ""))

    @property
    def alerts(self) -> list[dict[str, Any]]:
        return list(self.body.get("alerts", []))

    def alertnames(self) -> set[str]:
        """The alert names in this notification."""
        return {a.get("labels", {}).get("alertname", "") for a in self.alerts}

    def to_json(self) -> dict[str, Any]:
        return {"received_at": self.received_at, "path": self.path, **self.body}


class WebhookReceiver:
    """An HTTP server on a free loopback port that records every POSTed notification."""

    # The address it listens on; a drill against a compose or staging Alertmanager sets another
    # (e.g. "0.0.0.0") before start() so that Alertmanager can reach it.
    host = "127.0.0.1"

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        # Re-entrant: a wait_for predicate may itself call notifications().
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._notifications: list[Notification] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> WebhookReceiver:
        """Start serving in a background thread."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except json.JSONDecodeError:
                    self.send_error(400, "the body is not JSON")
                    return
                receiver._record(Notification(time.time(), self.path, body))
                self.send_response(200)
                self.end_headers()

            def do_GET(self) -> None:
                if self.path.rstrip("/") != "/notifications":
                    self.send_error(404, "only GET /notifications is served")
                    return
                data = json.dumps([n.to_json() for n in receiver.notifications()]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: object) -> None:
                return None

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="webhook-receiver")
        self._thread.start()
        return self

    def _record(self, notification: Notification) -> None:
        with self._changed:
            self._notifications.append(notification)
            self._changed.notify_all()

    def notifications(self, *, receiver: str | None = None, alertname: str | None = None,
                      status: str | None = None) -> list[Notification]:
        """Recorded notifications, oldest first, optionally only those that match."""
        with self._lock:
            found = list(self._notifications)
        return [n for n in found
                if (receiver is None or n.receiver == receiver)
                and (alertname is None or alertname in n.alertnames())
                and (status is None or n.status == status)]

    def wait_for(self, timeout: float = 30.0, *, receiver: str | None = None,
                 alertname: str | None = None, status: str | None = None,
                 where: Callable[[Notification], bool] | None = None) -> Notification:
        """The first notification that matches, waiting up to ``timeout`` seconds for it."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for notification in self._notifications:
                    if ((receiver is None or notification.receiver == receiver)
                            and (alertname is None or alertname in notification.alertnames())
                            and (status is None or notification.status == status)
                            and (where is None or where(notification))):
                        return notification
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [(n.receiver, sorted(n.alertnames()), n.status)
                            for n in self._notifications]
                    raise TimeoutError(
                        f"no notification (receiver={receiver}, alertname={alertname}, "
                        f"status={status}) within {timeout}s; got {seen}")
                self._changed.wait(remaining)

    def clear(self) -> None:
        """Forget what was recorded so far."""
        with self._lock:
            self._notifications.clear()

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
