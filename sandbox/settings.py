"""What one sandbox serves with: the API keys, the users who may sign in, the JWT secret, and
which Realtime it behaves like."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from sandbox.tokens import issue

# Environment variables the command reads (secrets never go on the command line).
ENV_ANON_KEY = "SANDBOX_ANON_KEY"
ENV_PUBLISHABLE_KEY = "SANDBOX_PUBLISHABLE_KEY"
ENV_REALTIME_TENANT = "SANDBOX_REALTIME_TENANT"
ENV_REALTIME_VERSION = "SANDBOX_REALTIME_VERSION"
ENV_REALTIME_POLL_INTERVAL = "SANDBOX_REALTIME_POLL_INTERVAL"
ENV_PROBE_EMAIL = "SANDBOX_PROBE_EMAIL"
ENV_PROBE_PASSWORD = "SANDBOX_PROBE_PASSWORD"
ENV_JWT_SECRET = "SANDBOX_JWT_SECRET"
# The Core Fields probe's two synthetic users (each added when its password is set).
ENV_WATCHER_PASSWORD = "SANDBOX_WATCHER_PASSWORD"
ENV_OUTSIDER_PASSWORD = "SANDBOX_OUTSIDER_PASSWORD"
ENV_DATABASE_URL = "SANDBOX_DATABASE_URL"
# Reporting the stand-in API's own request timings to the exporter (off unless the URL is set).
ENV_TIMINGS_URL = "SANDBOX_TIMINGS_URL"
ENV_INGEST_TOKEN = "SANDBOX_INGEST_TOKEN"
ENV_TIMINGS_INTERVAL = "SANDBOX_TIMINGS_INTERVAL"

DEFAULT_PROBE_EMAIL = "probe@wedsync.test"
WATCHER_EMAIL = "core-fields-watcher@wedsync.test"
OUTSIDER_EMAIL = "core-fields-outsider@wedsync.test"
# The Realtime release the stand-in behaves like unless told otherwise (see realtime_version).
DEFAULT_REALTIME_VERSION = "2.129.0"
_VERSION = re.compile(r"^v?(\d{1,3})\.(\d{1,3})\.(\d{1,4})$")
# Supabase's own anon keys are valid for ten years; so is the sandbox's default one.
ANON_KEY_LIFETIME = 10 * 365 * 24 * 3600


def anon_key_for(jwt_secret: str, ref: str = "sandbox", now: float | None = None) -> str:
    """An anon key as Supabase makes them: a JWT with ``role: anon`` and the project's ``ref``,
    signed with the secret."""
    issued = int(time.time() if now is None else now)
    return issue({"iss": "supabase", "ref": ref, "role": "anon", "iat": issued,
                  "exp": issued + ANON_KEY_LIFETIME}, jwt_secret)


def publishable_key_for(jwt_secret: str) -> str:
    """A new-style ``sb_publishable_…`` key (not a JWT), stable for one secret."""
    digest = hmac.new(jwt_secret.encode(), b"publishable", hashlib.sha256).digest()
    return "sb_publishable_" + base64.urlsafe_b64encode(digest[:18]).decode()


def parse_version(text: str, name: str = "version") -> tuple[int, int, int]:
    """``2.116.0`` as a tuple; ValueError naming ``name`` otherwise."""
    match = _VERSION.match(text.strip())
    if match is None:
        raise ValueError(f"{name} must be a Realtime release such as 2.129.0, got {text!r}")
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


@dataclass(frozen=True)
class Settings:
    """The sandbox's configuration."""

    # The gateway's anon key; empty: a JWT with role anon signed with ``jwt_secret``, as
    # Supabase makes them (``anon_key_for``).
    anon_key: str = ""
    # Users who may sign in with the password grant: email -> password.
    users: Mapping[str, str] = field(default_factory=dict)
    jwt_secret: str = field(default_factory=lambda: secrets.token_hex(32))
    # The new-style public key, accepted wherever the anon key is; empty: derived from the secret.
    publishable_key: str = ""
    # Realtime's tenant: empty, the gateway maps every host to the one tenant (self-hosted
    # Kong); set, the first label of the Host name must be it (hosted Supabase, or a direct
    # call to the Realtime container), else the connect is refused as an unknown tenant.
    realtime_tenant: str = ""
    # The Realtime release whose connect errors the stand-in gives (404/401 from 2.116 on, 403
    # before); the ``version`` fault of the realtime service overrides it at run time.
    realtime_version: str = DEFAULT_REALTIME_VERSION
    token_ttl: int = 3600
    # How long Realtime waits before polling its replication slot again after an empty poll
    # (the tenant's poll_interval_ms; Realtime's default is 100 ms).
    realtime_poll_interval: float = 0.1
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

    def __post_init__(self) -> None:
        parse_version(self.realtime_version, "realtime_version")
        # Frozen: the derived keys are filled in once, here.
        if not self.anon_key:
            object.__setattr__(self, "anon_key", anon_key_for(
                self.jwt_secret, self.realtime_tenant or "sandbox"))
        if not self.publishable_key:
            object.__setattr__(self, "publishable_key", publishable_key_for(self.jwt_secret))

    def api_keys(self) -> tuple[str, ...]:
        """The keys the gateway accepts as ``apikey``."""
        return (self.anon_key, self.publishable_key)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from SANDBOX_* environment variables (defaults for a local run)."""
        env = os.environ if env is None else env
        users: dict[str, str] = {}
        password = env.get(ENV_PROBE_PASSWORD, "")
        if password:
            users[env.get(ENV_PROBE_EMAIL) or DEFAULT_PROBE_EMAIL] = password
        for email, variable in ((WATCHER_EMAIL, ENV_WATCHER_PASSWORD),
                                (OUTSIDER_EMAIL, ENV_OUTSIDER_PASSWORD)):
            if env.get(variable):
                users[email] = env[variable]
        return cls(
            anon_key=env.get(ENV_ANON_KEY, ""),
            publishable_key=env.get(ENV_PUBLISHABLE_KEY, ""),
            realtime_tenant=env.get(ENV_REALTIME_TENANT, ""),
            realtime_version=env.get(ENV_REALTIME_VERSION) or DEFAULT_REALTIME_VERSION,
            users=users,
            jwt_secret=env.get(ENV_JWT_SECRET) or secrets.token_hex(32),
            database_url=env.get(ENV_DATABASE_URL, ""),
            realtime_poll_interval=interval_seconds(
                env.get(ENV_REALTIME_POLL_INTERVAL) or "0.1", ENV_REALTIME_POLL_INTERVAL,
                minimum=0.01),
            timings_url=env.get(ENV_TIMINGS_URL, ""),
            ingest_token=env.get(ENV_INGEST_TOKEN, ""),
            timings_interval=interval_seconds(env.get(ENV_TIMINGS_INTERVAL) or "5",
                                              ENV_TIMINGS_INTERVAL),
        )


def interval_seconds(text: str, name: str, minimum: float = 0.05) -> float:
    """A positive number of seconds (``2``, ``0.5``, ``2s``); ValueError naming ``name``."""
    try:
        value = float(text.strip().removesuffix("s"))
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, e.g. 5 or 0.5, got {text!r}"
                         ) from None
    if not minimum <= value <= 3600:
        raise ValueError(f"{name} must be between {minimum:g} and 3600 seconds, got {text!r}")
    return value
