"""One prober per protocol, in one explicit table (as blackbox_exporter's ``Probers`` map).

A component names its prober by key (``exporter.components.Component.prober``); the runtime
builds one probe per configured target with ``PROBERS[key](component, target, resources)``.
Components of one protocol share a prober (the API and external services both use ``http``).
A new protocol is one module here and one line in ``PROBERS``; nothing registers itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol, TypeVar

from exporter.components import Component
from exporter.config.model import (
    AuthTarget,
    DatabaseTarget,
    HttpTarget,
    PoolerTarget,
    QueuesTarget,
    RealtimeTarget,
    RedisTarget,
    Target,
)
from exporter.db.pool import PgPool
from exporter.probe_types import Probe
from exporter.probes.auth import AuthProbe
from exporter.probes.bullmq import QueueProbe
from exporter.probes.http import HttpProbe
from exporter.probes.pgbouncer import PgBouncerProbe
from exporter.probes.postgres import PostgresProbe
from exporter.probes.realtime import RealtimeProbe
from exporter.probes.redis import RedisProbe


class Resources(Protocol):
    """What probers may share with the rest of one runtime."""

    # One PostgreSQL pool per database target, shared by the probe, queries and validation.
    @property
    def pools(self) -> Mapping[str, PgPool]: ...


Prober = Callable[[Component, Target, Resources], Probe]
T = TypeVar("T", bound=Target)


def _settings(target: Target, kind: type[T], component: Component) -> T:
    """``target`` as the settings type the prober needs (a wrong declaration says so)."""
    if not isinstance(target, kind):
        raise TypeError(f"component {component.name!r}: its prober needs {kind.__name__} "
                        f"settings, got {type(target).__name__}; fix its declaration")
    return target


def postgres(component: Component, target: Target, resources: Resources) -> Probe:
    settings = _settings(target, DatabaseTarget, component)
    return PostgresProbe(settings, resources.pools[settings.name])


def redis(component: Component, target: Target, _resources: Resources) -> Probe:
    return RedisProbe(_settings(target, RedisTarget, component))


def supabase_auth(component: Component, target: Target, _resources: Resources) -> Probe:
    return AuthProbe(_settings(target, AuthTarget, component))


def supabase_realtime(component: Component, target: Target, _resources: Resources) -> Probe:
    return RealtimeProbe(_settings(target, RealtimeTarget, component))


def http(component: Component, target: Target, _resources: Resources) -> Probe:
    return HttpProbe(component.name, _settings(target, HttpTarget, component), component.spoken)


def pgbouncer(component: Component, target: Target, _resources: Resources) -> Probe:
    return PgBouncerProbe(_settings(target, PoolerTarget, component))


def bullmq(component: Component, target: Target, _resources: Resources) -> Probe:
    return QueueProbe(_settings(target, QueuesTarget, component))


PROBERS: dict[str, Prober] = {
    "postgres": postgres,
    "redis": redis,
    "supabase_auth": supabase_auth,
    "supabase_realtime": supabase_realtime,
    "http": http,
    "pgbouncer": pgbouncer,
    "bullmq": bullmq,
}
