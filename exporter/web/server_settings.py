"""The HTTP server's limits, read from the validated ``server`` section of the configuration.

The defaults hold against a hostile client without a token: a connection that sends no
complete request line and headers within ``header_timeout`` is closed, an idle keep-alive
connection after ``idle_timeout`` (longer than Prometheus' 60 s default scrape interval, so
its connection is reused), a request body must arrive within ``body_timeout``, and at most
``max_connections`` connections are open at once (never more than half the process's
descriptor limit, so that probes always have descriptors left).
"""

from __future__ import annotations

import resource
from dataclasses import dataclass
from typing import Any

from exporter.durations import parse_duration

# Descriptors kept for probes, pools, log files and the listening socket.
_RESERVED_DESCRIPTORS = 64


def descriptor_limit() -> int:
    """The process's soft limit on open files."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


@dataclass(frozen=True)
class ServerSettings:
    """Timeouts and the connection cap of the exporter's HTTP server."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    idle_timeout: float = 75.0
    max_connections: int = 256

    @classmethod
    def from_section(cls, raw: dict[str, Any]) -> ServerSettings:
        """Settings from the raw validated section (defaults where a key is absent)."""
        return cls(
            header_timeout=parse_duration(raw.get("header_timeout", cls.header_timeout)),
            body_timeout=parse_duration(raw.get("body_timeout", cls.body_timeout)),
            idle_timeout=parse_duration(raw.get("idle_timeout", cls.idle_timeout)),
            max_connections=raw.get("max_connections", cls.max_connections),
        )

    def connection_cap(self, limit: int | None = None) -> int:
        """``max_connections``, lowered to what the descriptor limit leaves room for."""
        limit = descriptor_limit() if limit is None else limit
        room = max(8, min(limit // 2, limit - _RESERVED_DESCRIPTORS))
        return max(1, min(self.max_connections, room))
