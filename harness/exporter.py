"""Runs the exporter as a child process on a free port, with a config written for it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from harness.ports import free_port, wait_for_url

REPO = Path(__file__).resolve().parent.parent


class ExporterProcess:
    """``python -m exporter`` with ``config`` (a dict, written as YAML) and extra ``env``."""

    def __init__(self, config: dict[str, Any], env: dict[str, str] | None = None,
                 port: int | None = None) -> None:
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="wedsync-exporter-"))
        self.config_path = self.dir / "config.yaml"
        self.log_path = self.dir / "exporter.log"
        self.write_config(config)
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_config(self, config: dict[str, Any]) -> None:
        """(Re)write the config file (send SIGHUP or POST /-/reload to apply it)."""
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    def start(self, wait: bool = True) -> ExporterProcess:
        """Start it and wait until /-/healthy answers."""
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "exporter", "--config", str(self.config_path),
             "--listen", f"127.0.0.1:{self.port}"],
            cwd=REPO, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        if wait:
            try:
                wait_for_url(f"{self.url}/-/healthy", timeout=20)
            except TimeoutError:
                raise RuntimeError(f"exporter did not start; log:\n{self.logs()}") from None
        return self

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Wait until /-/ready answers 200 (every configured probe has run once)."""
        wait_for_url(f"{self.url}/-/ready", timeout=timeout)

    def get(self, path: str, headers: dict[str, str] | None = None) -> bytes:
        """GET ``path``; the body (raises on non-2xx)."""
        request = urllib.request.Request(f"{self.url}{path}", headers=headers or {})
        with urllib.request.urlopen(request, timeout=10) as answer:
            return bytes(answer.read())

    def metrics(self) -> str:
        """The /metrics text."""
        return self.get("/metrics").decode()

    def logs(self) -> str:
        """Everything the exporter logged so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signal(self, sig: signal.Signals) -> None:
        if self.process is not None:
            self.process.send_signal(sig)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM and wait; the exit code."""
        if self.process is None:
            return None
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(5)
        self.process = None
        self._log.close()
        return code

    def __enter__(self) -> ExporterProcess:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
