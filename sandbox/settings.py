"""What one sandbox serves with: the anon key, the users who may sign in, the JWT secret."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

# Environment variables the command reads (secrets never go on the command line).
ENV_ANON_KEY = "SANDBOX_ANON_KEY"
ENV_PROBE_EMAIL = "SANDBOX_PROBE_EMAIL"
ENV_PROBE_PASSWORD = "SANDBOX_PROBE_PASSWORD"
ENV_JWT_SECRET = "SANDBOX_JWT_SECRET"
ENV_DATABASE_URL = "SANDBOX_DATABASE_URL"
# Reporting the stand-in API's own request timings to the exporter (off unless the URL is set).
ENV_TIMINGS_URL = "SANDBOX_TIMINGS_URL"
ENV_INGEST_TOKEN = "SANDBOX_INGEST_TOKEN"
ENV_TIMINGS_INTERVAL = "SANDBOX_TIMINGS_INTERVAL"

DEFAULT_ANON_KEY = "sandbox-anon-key"
DEFAULT_PROBE_EMAIL = "probe@wedsync.test"


@dataclass(frozen=True)
class Settings:
    """The sandbox's configuration."""

    anon_key: str = DEFAULT_ANON_KEY
    # Users who may sign in with the password grant: email -> password.
    users: Mapping[str, str] = field(default_factory=dict)
    jwt_secret: str = field(default_factory=lambda: secrets.token_hex(32))
    token_ttl: int = 3600
    # When set, sign-ins and refreshes are written to auth.audit_log_entries there.
    database_url: str = ""
    # Realtime closes a socket that sent nothing (not even a heartbeat) for this long.
    idle_timeout: float = 60.0
    # Where the API's request timings go (the exporter's POST /api/system/metrics); empty: off.
    timings_url: str = ""
    # The exporter's ingest token (a secret: from the environment only).
    ingest_token: str = field(default="", repr=False)
    # Seconds between posts of the timings collected meanwhile.
    timings_interval: float = 5.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from SANDBOX_* environment variables (defaults for a local run)."""
        env = os.environ if env is None else env
        users: dict[str, str] = {}
        password = env.get(ENV_PROBE_PASSWORD, "")
        if password:
            users[env.get(ENV_PROBE_EMAIL) or DEFAULT_PROBE_EMAIL] = password
        return cls(
            anon_key=env.get(ENV_ANON_KEY) or DEFAULT_ANON_KEY,
            users=users,
            jwt_secret=env.get(ENV_JWT_SECRET) or secrets.token_hex(32),
            database_url=env.get(ENV_DATABASE_URL, ""),
            timings_url=env.get(ENV_TIMINGS_URL, ""),
            ingest_token=env.get(ENV_INGEST_TOKEN, ""),
            timings_interval=interval_seconds(env.get(ENV_TIMINGS_INTERVAL) or "5",
                                              ENV_TIMINGS_INTERVAL),
        )


def interval_seconds(text: str, name: str) -> float:
    """A positive number of seconds (``2``, ``0.5``, ``2s``); ValueError naming ``name``."""
    try:
        value = float(text.strip().removesuffix("s"))
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, e.g. 5 or 0.5, got {text!r}"
                         ) from None
    if not 0.05 <= value <= 3600:
        raise ValueError(f"{name} must be between 0.05 and 3600 seconds, got {text!r}")
    return value
