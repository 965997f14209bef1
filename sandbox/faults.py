"""Fault injection, scoped per service (auth, realtime, api, ...).

One fault model for every service the sandbox stands in for, so that routes added later (the
WedSync API endpoints) get the same controls for free. Faults are set through the Python API
(``FaultBoard.set``) or the HTTP control endpoint (``sandbox.control``), which share
``FaultBoard.parse`` so both refuse the same bad input with the same message.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

# Faults every service understands, and those only Realtime does.
COMMON_FIELDS = ("latency_ms", "unavailable", "hang", "drop_socket")
REALTIME_FIELDS = ("echo_delay_ms", "refuse_join")


@dataclass(frozen=True)
class Faults:
    """The faults in force for one service; the defaults mean "behave normally"."""

    # Added before every answer (for Realtime: before the WebSocket upgrade is answered).
    latency_ms: float = 0.0
    # Answer 503 (as a gateway does when the service behind it is down).
    unavailable: bool = False
    # Never answer (until the fault is cleared or the client gives up).
    hang: bool = False
    # Abort the TCP connection instead of answering (Realtime: at the next frame received).
    drop_socket: bool = False
    # Realtime only: delay before a broadcast is delivered to subscribers (slow pub/sub).
    echo_delay_ms: float = 0.0
    # Realtime only: refuse every phx_join with this reason ("Code: message").
    refuse_join: str | None = None

    def active(self) -> dict[str, Any]:
        """The fields that differ from normal behaviour."""
        normal = Faults()
        return {k: v for k, v in asdict(self).items() if v != getattr(normal, k)}


_TYPES: dict[str, tuple[type, ...]] = {
    "latency_ms": (int, float), "echo_delay_ms": (int, float),
    "unavailable": (bool,), "hang": (bool,), "drop_socket": (bool,),
    "refuse_join": (str, type(None)),
}
MAX_DELAY_MS = 600_000.0


class FaultError(ValueError):
    """A fault request that cannot be applied; the message names the problem."""


class FaultBoard:
    """The faults of every service; read by the request handlers on every request."""

    def __init__(self, services: tuple[str, ...]) -> None:
        self.services = services
        self._faults: dict[str, Faults] = {s: Faults() for s in services}

    def allowed_fields(self, service: str) -> tuple[str, ...]:
        """Fault names that apply to ``service``."""
        return COMMON_FIELDS + (REALTIME_FIELDS if service == "realtime" else ())

    def parse(self, service: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Validated changes for ``service`` (FaultError names the first problem)."""
        if service not in self._faults:
            raise FaultError(f"unknown service {service!r}; known: {', '.join(self.services)}")
        allowed = self.allowed_fields(service)
        out: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in allowed:
                raise FaultError(f"unknown fault {name!r} for {service}; known: "
                                 f"{', '.join(allowed)}")
            kinds = _TYPES[name]
            # bool is an int in Python: a delay given as true is a mistake, not 1 ms.
            if not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool)):
                wanted = " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
                raise FaultError(f"fault {name!r} must be {wanted}, got {value!r}")
            if name.endswith("_ms"):
                delay = float(value)
                if not 0 <= delay <= MAX_DELAY_MS:
                    raise FaultError(f"fault {name!r} must be between 0 and {MAX_DELAY_MS:g} ms")
                value = delay
            out[name] = value
        return out

    def set(self, service: str, **changes: Any) -> Faults:
        """Apply ``changes`` on top of the service's current faults; the new faults."""
        parsed = self.parse(service, changes)
        self._faults[service] = replace(self._faults[service], **parsed)
        return self._faults[service]

    def clear(self, service: str | None = None) -> None:
        """Back to normal behaviour for ``service`` (every service when None)."""
        if service is not None:
            self.parse(service, {})
        for name in self.services if service is None else (service,):
            self._faults[name] = Faults()

    def get(self, service: str) -> Faults:
        """The faults in force for ``service``."""
        return self._faults[service]

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every service's faults, as JSON-ready mappings."""
        return {s: {f.name: getattr(self._faults[s], f.name) for f in fields(Faults)
                    if f.name in self.allowed_fields(s)} for s in self.services}
