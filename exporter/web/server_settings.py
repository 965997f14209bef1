"""The HTTP server's limits: ``config.server`` (typed when the configuration loads, with the
schema's defaults), and how many connections the descriptor limit leaves room for.

The defaults hold against a hostile client without a token: a connection that sends no
complete request line and headers within ``header_timeout`` is closed, an idle keep-alive
connection after ``idle_timeout`` (longer than Prometheus' 60 s default scrape interval, so
its connection is reused), a request body must arrive within ``body_timeout``, and at most
``max_connections`` connections are open at once (never more than half the process's
descriptor limit, so that probes always have descriptors left).
"""

from __future__ import annotations

import resource

from exporter.config.model import ServerSettings
from exporter.config.sections import server_settings

__all__ = ["ServerSettings", "connection_cap", "descriptor_limit", "server_settings"]

# Descriptors kept for probes, pools, log files and the listening socket.
_RESERVED_DESCRIPTORS = 64


def descriptor_limit() -> int:
    """The process's soft limit on open files."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def connection_cap(settings: ServerSettings, limit: int | None = None) -> int:
    """``settings.max_connections``, lowered to what the descriptor limit leaves room for."""
    limit = descriptor_limit() if limit is None else limit
    room = max(8, min(limit // 2, limit - _RESERVED_DESCRIPTORS))
    return max(1, min(settings.max_connections, room))
