"""Prometheus (Debian package) on a free port with temporary storage and the remote-write
receiver on."""

from __future__ import annotations

import json
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from harness.binaries import ManagedProcess


class PrometheusServer(ManagedProcess):
    """``config`` is a dict (written as YAML); ``rule_files`` are copied beside it."""

    prefix = "wedsync-prom-"

    def __init__(self, config: dict[str, Any], rule_files: list[Path] | None = None,
                 port: int | None = None, retention: str = "2h",
                 extra_args: list[str] | None = None) -> None:
        super().__init__(port)
        self.retention = retention
        self.extra_args = list(extra_args or [])
        config = dict(config)
        if rule_files:
            copied = []
            for path in rule_files:
                target = self.dir / Path(path).name
                target.write_text(Path(path).read_text())
                copied.append(str(target))
            config["rule_files"] = copied
        self.config_path = self.dir / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    def backfill(self, openmetrics: str) -> None:
        """Write past samples (OpenMetrics text ending in ``# EOF``) into the storage as blocks
        (``promtool tsdb create-blocks-from openmetrics``); call before ``start()``."""
        source = self.dir / "backfill.om"
        source.write_text(openmetrics)
        (self.dir / "data").mkdir(exist_ok=True)
        done = subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics",
                               str(source), str(self.dir / "data")],
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"promtool could not backfill: {done.stdout}{done.stderr}")

    def command(self) -> list[str]:
        return ["prometheus", f"--config.file={self.config_path}",
                f"--storage.tsdb.path={self.dir / 'data'}",
                f"--storage.tsdb.retention.time={self.retention}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-remote-write-receiver", "--web.enable-lifecycle",
                "--log.level=warn", *self.extra_args]

    def ready_url(self) -> str:
        return f"{self.url}/-/ready"

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path>; the ``data`` of the answer."""
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=30) as answer:
            body = json.load(answer)
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus API {path} failed: {body}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query; the result vector."""
        return list(self.api("query", query=expr)["result"])
