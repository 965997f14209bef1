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
        )
