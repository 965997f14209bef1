"""The faults a drill can inject, and what each should set off: written once, as data.

For each fault: what it breaks (a server the drill started, the sandbox, or a command the user
supplies), the alerts that detect it (the first of them to fire is "the" alert; any of them may
page), the alerts it may set off besides (explained, so not false alarms — but a page from them
is a second page for one cause), the SLOs and k6 thresholds it breaks by design (not held against
the platform), the PromQL a dashboard shows it with, and whether it makes a probe hang (which
adds the probe timeout to the time to detect).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from alerts.slo import TIERS
from sandbox.wedsync_api import PATHS

# What a fault acts on.
OWN_REDIS = "own-redis"  # a Redis the drill started itself (never another)
OWN_POSTGRES = "own-postgres"  # a PostgreSQL the drill started itself
OWN_PGBOUNCER = "own-pgbouncer"  # a PgBouncer the drill started itself
SANDBOX = "sandbox"  # the sandbox's fault controls
COMMAND = "command"  # commands the user supplies (the only way to break a real target)
NOTHING = "nothing"


@dataclass(frozen=True)
class AlertMatch:
    """An alert by name, optionally narrowed by some of its labels."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether an alert with ``labels`` is this one."""
        return labels.get("alertname") == self.name and all(
            labels.get(key) == value for key, value in self.labels.items())

    def describe(self) -> str:
        inner = ",".join(f'{key}="{value}"' for key, value in sorted(self.labels.items()))
        return f"{self.name}{{{inner}}}" if inner else self.name

    @classmethod
    def parse(cls, text: str) -> AlertMatch:
        """``Name`` or ``Name{label="value",…}`` (as ``describe`` writes it)."""
        name, brace, rest = text.strip().partition("{")
        labels: dict[str, str] = {}
        if brace:
            if not rest.endswith("}"):
                raise ValueError(f"{text!r}: a label list must end with }}")
            for pair in filter(None, (p.strip() for p in rest[:-1].split(","))):
                key, equals, value = pair.partition("=")
                if not equals or not key.strip():
                    raise ValueError(f"{text!r}: labels are written key=\"value\"")
                labels[key.strip()] = value.strip().strip('"')
        if not name.isidentifier():
            raise ValueError(f"{text!r} is not an alert name")
        return cls(name, labels)


@dataclass(frozen=True)
class Fault:
    """One kind of fault and what it should set off."""

    name: str
    title: str
    acts_on: str
    detecting: tuple[AlertMatch, ...] = ()
    related: tuple[AlertMatch, ...] = ()
    slos: tuple[str, ...] = ()
    k6_metrics: tuple[str, ...] = ()
    symptom: str | None = None
    hangs: bool = False
    # Sandbox faults: the service, and its fault settings with "{param}" placeholders.
    service: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, float] = field(default_factory=dict)
    # The share of the SLI's events the fault makes bad, as a parameter name or a number
    # (for the promised time of burn-rate alerts).
    bad_share: str | float | None = None

    def explains(self, labels: Mapping[str, str]) -> bool:
        """Whether an alert with ``labels`` is one this fault detects or sets off."""
        return any(match.matches(labels) for match in (*self.detecting, *self.related))

    def sandbox_settings(self, params: Mapping[str, float]) -> dict[str, Any]:
        """The sandbox fault settings with the parameters filled in."""
        values = {**self.params, **params}

        def fill(value: Any) -> Any:
            if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
                return values[value[1:-1]]
            return value

        return {key: fill(value) for key, value in self.settings.items()}

    def share(self, params: Mapping[str, float]) -> float | None:
        """The share of the SLI's events made bad (None: not an SLO fault)."""
        if isinstance(self.bad_share, str):
            return float({**self.params, **params}[self.bad_share])
        return self.bad_share


def burn_alerts(slo: str) -> tuple[AlertMatch, ...]:
    """Every burn-rate alert of one SLO, fastest tier first."""
    return tuple(AlertMatch(tier.alert, {"slo": slo}) for tier in TIERS)


# Every WedSync endpoint of the stand-in API, but not /api/health: the exporter's API probe
# must keep answering, as the real platform's health route does while some requests fail.
API_ERROR_PATHS = tuple(sorted(PATHS.values()))

FAULTS: dict[str, Fault] = {f.name: f for f in (
    Fault("none", "No fault: a quiet Saturday under load", NOTHING),
    Fault("redis-stop", "Redis stops", OWN_REDIS,
          detecting=(AlertMatch("WedSyncRedisDown"),),
          related=(AlertMatch("WedSyncCacheHitRatioLow"),),
          symptom='wedsync_up{component="redis"} == 0'),
    Fault("postgres-pause", "PostgreSQL hangs (every process paused)", OWN_POSTGRES,
          detecting=(AlertMatch("WedSyncDatabaseDown"),),
          related=(AlertMatch("WedSyncCustomQueryFailing"), AlertMatch("WedSyncDatabaseSlow"),
                   AlertMatch("WedSyncProbesOverrunning", {"component": "database"}),
                   AlertMatch("WedSyncProbeResultsStale", {"component": "database"})),
          symptom='wedsync_up{component="database"} == 0', hangs=True),
    Fault("pooler-stop", "The connection pooler (PgBouncer) stops", OWN_PGBOUNCER,
          detecting=(AlertMatch("WedSyncPoolerDown"),),
          symptom='wedsync_up{component="pooler"} == 0'),
    Fault("realtime-slow", "Realtime delivers broadcasts late", SANDBOX,
          detecting=burn_alerts("realtime-propagation"),
          related=(AlertMatch("WedSyncRealtimeRoundtripSlow"),),
          slos=("realtime-propagation",), k6_metrics=("realtime_core_fields_roundtrip",),
          symptom='wedsync_component_status{component="realtime",status="healthy"} == 0',
          service="realtime", settings={"echo_delay_ms": "{delay_ms}"},
          params={"delay_ms": 250.0}, bad_share=1.0),
    Fault("api-errors", "The API answers a share of its requests with 500", SANDBOX,
          detecting=burn_alerts("api-availability"),
          slos=("api-availability",), k6_metrics=("http_req_failed", "checks"),
          symptom='slo:sli_error:ratio_rate5m{slo="api-availability"} > 0',
          service="api", settings={"error_rate": "{rate}", "error_status": 500,
                                   "error_paths": list(API_ERROR_PATHS)},
          params={"rate": 0.05}, bad_share="rate"),
    Fault("command", "A command the user supplies (the only fault for a real target)", COMMAND),
)}


def fault_named(name: str) -> Fault:
    """The fault called ``name``; ValueError listing the known ones."""
    try:
        return FAULTS[name]
    except KeyError:
        raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}") from None


def parse_params(fault: Fault, pairs: list[str]) -> dict[str, float]:
    """``KEY=VALUE`` parameters of ``fault`` (ValueError naming a wrong one)."""
    out: dict[str, float] = {}
    for pair in pairs:
        key, equals, text = pair.partition("=")
        if not equals or key not in fault.params:
            known = ", ".join(fault.params) or "none"
            raise ValueError(f"fault {fault.name} has no parameter {key!r} (known: {known})")
        try:
            out[key] = float(text)
        except ValueError:
            raise ValueError(f"fault parameter {key} must be a number, got {text!r}") from None
    if "rate" in out and not 0 < out["rate"] <= 1:
        raise ValueError("fault parameter rate is a share of requests, e.g. 0.05 for 5%")
    if "delay_ms" in out and not 0 < out["delay_ms"] <= 600_000:
        raise ValueError("fault parameter delay_ms must be between 0 and 600000")
    return out
