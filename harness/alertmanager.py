"""Alertmanager (Debian's ``prometheus-alertmanager``) on a free port; clustering off unless a
``cluster_port`` is given (then it gossips on 127.0.0.1 with ``peers``)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from harness.binaries import ManagedProcess

BINARY = "prometheus-alertmanager"


class AlertmanagerServer(ManagedProcess):
    """``config`` is a dict (written as YAML) or the path of an existing file."""

    prefix = "wedsync-am-"

    def __init__(self, config: dict[str, Any] | str | Path, port: int | None = None, *,
                 cluster_port: int | None = None, peers: list[str] | None = None,
                 peer_timeout: str | None = None, probe_interval: str | None = None) -> None:
        super().__init__(port)
        self.cluster_port = cluster_port
        self.peers = list(peers or [])
        self.peer_timeout = peer_timeout
        self.probe_interval = probe_interval
        if isinstance(config, dict):
            self.config_path = self.dir / "alertmanager.yml"
            self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        else:
            self.config_path = Path(config)

    def command(self) -> list[str]:
        return [BINARY, f"--config.file={self.config_path}",
                f"--storage.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                *self.cluster_args(), "--log.level=info"]

    def cluster_args(self) -> list[str]:
        """Gossip on loopback with the peers (each member waits ``peer_timeout`` per place in
        the cluster before notifying, so that only one of them does); none: clustering off."""
        if self.cluster_port is None:
            return ["--cluster.listen-address="]
        address = f"127.0.0.1:{self.cluster_port}"
        args = [f"--cluster.listen-address={address}", f"--cluster.advertise-address={address}",
                *(f"--cluster.peer={peer}" for peer in self.peers)]
        if self.peer_timeout:
            args.append(f"--cluster.peer-timeout={self.peer_timeout}")
        if self.probe_interval:
            # How often members probe each other: a dead one is dropped after a few of these.
            args.append(f"--cluster.probe-interval={self.probe_interval}")
        return args

    def ready_url(self) -> str:
        return f"{self.url}/-/ready"

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """POST /api/v2/alerts (as Prometheus would)."""
        request = urllib.request.Request(
            f"{self.url}/api/v2/alerts", data=json.dumps(alerts).encode(), method="POST",
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10):
            pass

    def alerts(self, **filters: str) -> list[dict[str, Any]]:
        """GET /api/v2/alerts."""
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts", timeout=10) as answer:
            found: list[dict[str, Any]] = json.load(answer)
        return [a for a in found if all(a["labels"].get(k) == v for k, v in filters.items())]
