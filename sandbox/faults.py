"""Fault injection, scoped per service (auth, realtime, api, ...).

One fault model for every service the sandbox stands in for, so that routes added later (the
WedSync API endpoints) get the same controls for free. Faults are set through the Python API
(``FaultBoard.set``) or the HTTP control endpoint (``sandbox.control``), which share
``FaultBoard.parse`` so both refuse the same bad input with the same message.

The error-rate fault (``error_rate``, ``error_status``, ``error_paths``) fails a share of the
requests under some path prefixes of a service ("fail 5% of payments"). The failures are spread
evenly, not drawn at random: the first matching request after the fault is set fails, then every
``1/error_rate``-th, so a ten-second test sees the share it asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from sandbox.settings import parse_version

# Faults every service understands, and those only one service does.
COMMON_FIELDS = ("latency_ms", "unavailable", "hang", "drop_socket", "error_rate",
                 "error_status", "error_paths")
SERVICE_FIELDS: dict[str, tuple[str, ...]] = {
    "realtime": ("echo_delay_ms", "refuse_join", "version", "max_connections", "suspended",
                 "decode_delay_ms", "rls_off"),
    "auth": ("captcha",),
}
# How Auth's CAPTCHA protection behaves: "on" (a real provider secret: no token a program can
# send passes), "test" (the provider's test secret: its documented test token passes),
# "unreachable" (the verifier cannot be reached: 500).
CAPTCHA_MODES = ("on", "test", "unreachable")
# Bounds of the error-rate fault's settings.
ERROR_STATUSES = range(400, 600)
MAX_ERROR_PATHS = 32


def under(path: str, prefix: str) -> bool:
    """Whether ``path`` is ``prefix`` or below it (whole path segments: /api/pay is not under
    /api/payments)."""
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


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
    # Realtime only: behave like this Realtime release (connect errors); None: the setting.
    version: str | None = None
    # Realtime only: refuse connects while this many sockets are open (a tenant's user limit).
    max_connections: int | None = None
    # Realtime only: the tenant is suspended (Realtime disabled for the project).
    suspended: bool = False
    # Realtime only: hold each batch of decoded WAL changes this long before delivery.
    decode_delay_ms: float = 0.0
    # Realtime only: deliver postgres_changes without the subscriber's RLS check (a leak).
    rls_off: bool = False
    # Auth only: CAPTCHA protection on the password grant (one of CAPTCHA_MODES), None: off.
    captcha: str | None = None
    # Share (0-1) of the matching requests answered with ``error_status`` instead of served.
    error_rate: float = 0.0
    error_status: int = 500
    # Path prefixes the error rate applies to (whole path segments); empty: the whole service.
    error_paths: tuple[str, ...] = ()

    def error_applies_to(self, path: str) -> bool:
        """Whether ``path`` is one the error-rate fault covers."""
        if not self.error_rate:
            return False
        return not self.error_paths or any(under(path, prefix) for prefix in self.error_paths)

    def active(self) -> dict[str, Any]:
        """The fields that differ from normal behaviour."""
        normal = Faults()
        return {k: v for k, v in asdict(self).items() if v != getattr(normal, k)}


_TYPES: dict[str, tuple[type, ...]] = {
    "latency_ms": (int, float), "echo_delay_ms": (int, float), "decode_delay_ms": (int, float),
    "rls_off": (bool,),
    "unavailable": (bool,), "hang": (bool,), "drop_socket": (bool,), "suspended": (bool,),
    "refuse_join": (str, type(None)), "version": (str, type(None)),
    "captcha": (str, type(None)), "max_connections": (int, type(None)),
    "error_rate": (int, float), "error_status": (int,), "error_paths": (list, tuple),
}
MAX_DELAY_MS = 600_000.0


class FaultError(ValueError):
    """A fault request that cannot be applied; the message names the problem."""


class FaultBoard:
    """The faults of every service; read by the request handlers on every request.

    ``services`` is a tuple of names, or a mapping of name -> path prefix; with prefixes, an
    ``error_paths`` entry outside its service is refused instead of silently never matching.
    """

    def __init__(self, services: tuple[str, ...] | Mapping[str, str]) -> None:
        self.services = tuple(services)
        self.prefixes: dict[str, str] = dict(services) if isinstance(services, Mapping) else {}
        self._faults: dict[str, Faults] = {s: Faults() for s in self.services}
        # Per service: the failures the error rate owes so far (None: no matching request yet).
        self._owed: dict[str, float | None] = dict.fromkeys(self.services)

    def allowed_fields(self, service: str) -> tuple[str, ...]:
        """Fault names that apply to ``service``."""
        return COMMON_FIELDS + SERVICE_FIELDS.get(service, ())

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
            elif name == "error_rate":
                if not 0 <= value <= 1:
                    raise FaultError("fault 'error_rate' must be between 0 and 1 (a share of "
                                     "requests, e.g. 0.05 for 5%)")
                value = float(value)
            elif name == "error_status" and value not in ERROR_STATUSES:
                raise FaultError("fault 'error_status' must be an HTTP error status (400-599)")
            elif name == "error_paths":
                value = self._parse_paths(service, value)
            elif name == "max_connections" and value is not None and not 0 <= value <= 100_000:
                raise FaultError("fault 'max_connections' must be between 0 and 100000")
            elif name == "captcha" and value is not None and value not in CAPTCHA_MODES:
                raise FaultError(f"fault 'captcha' must be null (off) or one of "
                                 f"{', '.join(CAPTCHA_MODES)}, got {value!r}")
            elif name == "version" and value is not None:
                try:
                    parse_version(value, "fault 'version'")
                except ValueError as exc:
                    raise FaultError(str(exc)) from None
            out[name] = value
        return out

    def _parse_paths(self, service: str, paths: list[Any] | tuple[Any, ...]) -> tuple[str, ...]:
        if len(paths) > MAX_ERROR_PATHS:
            raise FaultError(f"fault 'error_paths' takes at most {MAX_ERROR_PATHS} prefixes")
        prefix = self.prefixes.get(service)
        for path in paths:
            if not isinstance(path, str) or not path.startswith("/"):
                raise FaultError(f"fault 'error_paths' takes path prefixes starting with '/', "
                                 f"got {path!r}")
            if prefix and not under(path, prefix):
                raise FaultError(f"error path {path!r} is not under the {service} service's "
                                 f"{prefix}")
        return tuple(paths)

    def set(self, service: str, **changes: Any) -> Faults:
        """Apply ``changes`` on top of the service's current faults; the new faults."""
        parsed = self.parse(service, changes)
        self._faults[service] = replace(self._faults[service], **parsed)
        if {"error_rate", "error_paths"} & parsed.keys():
            self._owed[service] = None
        return self._faults[service]

    def clear(self, service: str | None = None) -> None:
        """Back to normal behaviour for ``service`` (every service when None)."""
        if service is not None:
            self.parse(service, {})
        for name in self.services if service is None else (service,):
            self._faults[name] = Faults()
            self._owed[name] = None

    def error_status_for(self, service: str, path: str) -> int | None:
        """The status to fail this request with under the error-rate fault, or None to serve it.

        Call once per request: each matching call counts toward the share.
        """
        faults = self._faults[service]
        if not faults.error_applies_to(path):
            return None
        owed = self._owed[service]
        if owed is None:
            owed = 1.0 - faults.error_rate  # so that the first matching request fails
        owed += faults.error_rate
        failed = owed >= 1.0 - 1e-9  # 20 x 0.05 may add up to 0.999...
        self._owed[service] = owed - 1.0 if failed else owed
        return faults.error_status if failed else None

    def get(self, service: str) -> Faults:
        """The faults in force for ``service``."""
        return self._faults[service]

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every service's faults, as JSON-ready mappings."""
        return {s: {f.name: _json_ready(getattr(self._faults[s], f.name)) for f in fields(Faults)
                    if f.name in self.allowed_fields(s)} for s in self.services}


def _json_ready(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
