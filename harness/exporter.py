"""Runs the exporter as a child process on a free port, with a config written for it."""

from __future__ import annotations

import sys
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from harness.binaries import REPO, ManagedProcess
from harness.ports import wait_for_url


class ExporterProcess(ManagedProcess):
    """``python -m exporter`` with ``config`` (a dict, written as YAML) and extra ``env``."""

    prefix = "wedsync-exporter-"
    name = "exporter"
    start_timeout = 20.0

    def __init__(self, config: dict[str, Any], env: dict[str, str] | None = None,
                 port: int | None = None) -> None:
        super().__init__(port, env)
        self.config_path = self.dir / "config.yaml"
        self.log_path = self.dir / "exporter.log"
        self.write_config(config)

    def command(self) -> list[str]:
        return [sys.executable, "-m", "exporter", "--config", str(self.config_path),
                "--listen", f"127.0.0.1:{self.port}"]

    def cwd(self) -> Path:
        return REPO

    def ready_url(self) -> str:
        return f"{self.url}/-/healthy"

    def write_config(self, config: dict[str, Any]) -> None:
        """(Re)write the config file (send SIGHUP or POST /-/reload to apply it)."""
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))

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
