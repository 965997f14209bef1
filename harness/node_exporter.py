"""A node_exporter (Debian's ``prometheus-node-exporter``) on a free loopback port: the host
metrics of this machine, for the host rules and the Capacity dashboard."""

from __future__ import annotations

import os
import shutil

from harness.binaries import ManagedProcess

NODE_EXPORTER = (os.environ.get("WEDSYNC_NODE_EXPORTER") or shutil.which("prometheus-node-exporter")
                 or "/usr/bin/prometheus-node-exporter")


class NodeExporterServer(ManagedProcess):
    """One node_exporter process with its default collectors, listening on loopback only."""

    prefix = "wedsync-node-exporter-"
    name = "prometheus-node-exporter"

    def command(self) -> list[str]:
        return [NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{self.port}"]

    def ready_url(self) -> str:
        return f"{self.url}/metrics"

    @property
    def address(self) -> str:
        """HOST:PORT, as a scrape target."""
        return f"127.0.0.1:{self.port}"
