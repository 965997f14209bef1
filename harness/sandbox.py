"""The sandbox (stand-in Supabase Auth, Realtime and WedSync API) as a child process on a free
port, with its HTTP fault controls."""

from __future__ import annotations

import json
import os
import secrets
import sys
import urllib.request
from pathlib import Path
from typing import Any

from harness.binaries import REPO, ManagedProcess


class SandboxServer(ManagedProcess):
    """``python -m sandbox`` with its secrets passed in the environment (never on argv)."""

    prefix = "wedsync-sandbox-"
    name = "sandbox"
    start_timeout = 20.0

    def __init__(self, *, anon_key: str = "sandbox-anon-key", probe_email: str = "",
                 probe_password: str = "", jwt_secret: str = "", database_url: str = "",
                 port: int | None = None, env: dict[str, str] | None = None) -> None:
        self.anon_key = anon_key
        self.probe_email = probe_email or "probe@wedsync.test"
        self.probe_password = probe_password
        # ``env`` adds other SANDBOX_* settings, e.g. SANDBOX_TIMINGS_URL and
        # SANDBOX_INGEST_TOKEN to report the API's request timings to an exporter.
        super().__init__(port, {
            "SANDBOX_ANON_KEY": anon_key, "SANDBOX_PROBE_EMAIL": self.probe_email,
            "SANDBOX_PROBE_PASSWORD": probe_password, "SANDBOX_JWT_SECRET": jwt_secret,
            "SANDBOX_DATABASE_URL": database_url, **(env or {})})
        self.log_path = self.dir / "sandbox.log"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "sandbox", "--listen", f"127.0.0.1:{self.port}"]

    def cwd(self) -> Path:
        return REPO

    def ready_url(self) -> str:
        return f"{self.url}/_sandbox/faults"

    # --- addresses ------------------------------------------------------------------------
    @property
    def auth_url(self) -> str:
        """An auth target's ``url`` (the probe calls ``{url}/health``)."""
        return f"{self.url}/auth/v1"

    @property
    def realtime_url(self) -> str:
        """A realtime target's ``url`` (the probe opens ``{url}/websocket``)."""
        return f"ws://127.0.0.1:{self.port}/realtime/v1"

    @property
    def api_url(self) -> str:
        """The API health URL."""
        return f"{self.url}/api/health"

    # --- faults ---------------------------------------------------------------------------
    def _control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}/_sandbox/faults{path}", data=data,
                                         method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.load(answer)["faults"]

    def set_faults(self, service: str, **faults: Any) -> dict[str, Any]:
        """Set some faults of one service (``latency_ms``, ``echo_delay_ms``, ``refuse_join``,
        ``drop_socket``, ``unavailable``, ``hang``, ``error_rate`` with ``error_status`` and
        ``error_paths``); the service's faults afterwards."""
        return dict(self._control("PATCH", f"/{service}", faults)[service])

    def clear_faults(self, service: str | None = None) -> None:
        """Back to normal for one service, or all."""
        self._control("DELETE", f"/{service}" if service else "")

    def faults(self) -> dict[str, Any]:
        return dict(self._control("GET", ""))

    def access_token(self) -> str:
        """A fresh access token of the probe user (signed in through the Auth stand-in), as
        the WedSync API endpoints and Realtime joins accept."""
        body = json.dumps({"email": self.probe_email, "password": self.probe_password}).encode()
        request = urllib.request.Request(f"{self.auth_url}/token?grant_type=password",
                                         data=body, method="POST",
                                         headers={"Content-Type": "application/json",
                                                  "apikey": self.anon_key})
        with urllib.request.urlopen(request, timeout=10) as answer:
            return str(json.load(answer)["access_token"])

    def timings(self) -> dict[str, Any]:
        """The request-timing reporter's counts (``GET /_sandbox/timings``)."""
        with urllib.request.urlopen(f"{self.url}/_sandbox/timings", timeout=10) as answer:
            return dict(json.load(answer))

    def realtime_connections(self) -> int:
        """WebSockets open on the Realtime stand-in right now."""
        with urllib.request.urlopen(f"{self.url}/_sandbox/realtime", timeout=10) as answer:
            return int(json.load(answer)["connections"])


class StackSandbox:
    """The sandbox in the stack harness's sandbox slot (``StackOptions(sandbox=…)``).

    Started before the exporter; ``exporter_sections()`` points the exporter's auth, realtime
    and api targets at it, with the anon key and the probe user's password handed over in
    files (secrets never go into the exporter's config). ``sections=False`` leaves the
    targets to the exporter's own config (e.g. read from its environment).
    """

    def __init__(self, server: SandboxServer | None = None, *, sign_in: bool = True,
                 audit_log_interval: str | None = None, external: bool = False,
                 sections: bool = True, realtime_settings: dict[str, Any] | None = None
                 ) -> None:
        self.server = server or SandboxServer(anon_key=secrets.token_hex(16),
                                              probe_password=secrets.token_urlsafe(16))
        self.sign_in = sign_in
        self.audit_log_interval = audit_log_interval
        self.external = external
        self.sections = sections
        # More settings of the realtime target (e.g. the Core Fields probe's).
        self.realtime_settings = realtime_settings or {}

    def secret_file(self, name: str, value: str) -> str:
        """Write ``value`` to a file of the sandbox's dir readable only by the user; its path."""
        path = self.server.dir / name
        # Created 0600, so the secret is never readable by others, not even for a moment.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(value)
        return str(path)

    def start(self) -> StackSandbox:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.cleanup()

    def exporter_sections(self) -> dict[str, Any]:
        """The exporter's auth, realtime and api targets (and an external one on request)."""
        if not self.sections:
            return {}
        server = self.server
        key_file = self.secret_file("anon-key", server.anon_key)
        auth: dict[str, Any] = {"name": "supabase", "url": server.auth_url,
                                "anon_key_file": key_file}
        if self.sign_in and server.probe_password:
            auth["sign_in"] = {"enabled": True, "email": server.probe_email, "password_file":
                               self.secret_file("probe-password", server.probe_password)}
        if self.audit_log_interval:
            auth["audit_log"] = {"enabled": True, "interval": self.audit_log_interval}
        sections: dict[str, Any] = {
            "auth": [auth],
            "realtime": [{"name": "supabase", "url": server.realtime_url,
                          "anon_key_file": key_file, **self.realtime_settings}],
            "api": [{"name": "health", "url": server.api_url}],
        }
        if self.external:
            sections["external"] = [{"name": "status-page", "url": server.api_url}]
        return sections

    def urls(self) -> dict[str, str]:
        return {"api": self.server.url, "faults": f"{self.server.url}/_sandbox/faults"}
