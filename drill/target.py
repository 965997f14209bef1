"""What a drill runs against: where each part of the stack answers, where notifications are
read, the load test's credentials, the stack's intervals, and the servers the drill may break."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from drill.injection import OwnServers
from drill.notifications import NotificationSource
from drill.timing import Timing

OWN_STACK = "own-stack"  # the drill started everything itself (servers it may break included)
ATTACHED = "attached"  # a running stack given by URLs (harness, compose, staging)


@dataclass
class Target:
    """One stack under drill."""

    mode: str
    prometheus_url: str
    alertmanager_url: str | None
    exporter_url: str | None
    base_url: str
    realtime_url: str
    notifications: NotificationSource
    timing: Timing
    sandbox_url: str | None = None
    own: OwnServers = field(default_factory=OwnServers)
    # ANON_KEY and API_TOKEN for k6 (secrets: never written to the report).
    k6_environment: dict[str, str] = field(default_factory=dict, repr=False)
    pager_receiver: str = "pager"
    # The HA stack (``wedsync-drill run --ha``): kills one Prometheus, one Alertmanager and one
    # exporter during the fault and says which; the URLs above are of the survivors.
    kill_one_of_each: Callable[[], str] | None = None
    # Label matchers that pick the exporter(s) whose scrapes must not fail ("" : every one).
    exporter_matchers: str = ""
    # How often the Watchdog must reach its receiver (None: not judged).
    watchdog_every: float | None = None
