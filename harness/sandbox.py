"""The sandbox (stand-in Supabase Auth, Realtime and WedSync API) as a child process on a free
port, with its HTTP fault controls."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from harness.ports import free_port, wait_for_url

REPO = Path(__file__).resolve().parent.parent


class SandboxServer:
    """``python -m sandbox`` with its secrets passed in the environment (never on argv)."""

    def __init__(self, *, anon_key: str = "sandbox-anon-key", probe_email: str = "",
                 probe_password: str = "", jwt_secret: str = "", database_url: str = "",
                 port: int | None = None) -> None:
        self.port = port or free_port()
        self.anon_key = anon_key
        self.probe_email = probe_email or "probe@wedsync.test"
        self.probe_password = probe_password
        self.dir = Path(tempfile.mkdtemp(prefix="wedsync-sandbox-"))
        self.log_path = self.dir / "sandbox.log"
        self.env = {**os.environ, "SANDBOX_ANON_KEY": anon_key,
                    "SANDBOX_PROBE_EMAIL": self.probe_email,
                    "SANDBOX_PROBE_PASSWORD": probe_password,
                    "SANDBOX_JWT_SECRET": jwt_secret, "SANDBOX_DATABASE_URL": database_url}
        self.process: subprocess.Popen[bytes] | None = None

    # --- addresses ------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

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

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> SandboxServer:
        """Start it and wait until it answers."""
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sandbox", "--listen", f"127.0.0.1:{self.port}"],
            cwd=REPO, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            wait_for_url(f"{self.url}/_sandbox/faults", timeout=20)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"sandbox did not start; log:\n{self.logs()}") from None
        return self

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        """SIGTERM (by PID) and wait."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGCONT)
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None
        self._log.close()

    def pause(self) -> None:
        """SIGSTOP: every service hangs with its sockets open."""
        if self.process is not None:
            self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)

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

    def realtime_connections(self) -> int:
        """WebSockets open on the Realtime stand-in right now."""
        with urllib.request.urlopen(f"{self.url}/_sandbox/realtime", timeout=10) as answer:
            return int(json.load(answer)["connections"])

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.cleanup()
