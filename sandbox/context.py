"""What the sandbox's route modules share: their context, the record request observers get.

Below ``sandbox.app`` (which imports every route module), so a route module never imports the
application that registers it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from sandbox.faults import FaultBoard
from sandbox.settings import Settings


@dataclass(frozen=True)
class RequestRecord:
    """One answered request of a stand-in service, as request observers see it."""

    service: str
    method: str
    # The matched route's template (``/api/clients``, ``/realtime/v1/websocket``), else the path.
    route: str
    status: int
    seconds: float


# Called on the event loop after each service request: must be quick and must not block (queue
# the record and send it from a task of your own).
RequestObserver = Callable[[RequestRecord], None]


@dataclass
class Context:
    """What the route modules share: settings, faults, request observers, and their own state
    by name."""

    settings: Settings
    faults: FaultBoard
    state: dict[str, Any] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    request_observers: list[RequestObserver] = field(default_factory=list)


CONTEXT_KEY = web.AppKey("context", Context)
