"""Bearer tokens (constant-time comparison) and per-token, per-address rate limits."""

from __future__ import annotations

import hmac
import math
import time

from aiohttp import web
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, RedisStorage
from redis.exceptions import RedisError

from exporter.config.model import Tokens
from exporter.metrics.store import MetricStore
from exporter.shared_state.state import SharedState
from exporter.web.rate_storage import LoopMemoryStorage

TOKEN_KINDS = ("admin", "ingest", "deploy")


def json_error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON error answer: ``{"error": message}``."""
    return web.json_response({"error": message}, status=status, headers=headers)


class TokenAuth:
    """Knows the configured tokens and which kind a presented token is."""

    def __init__(self, tokens: Tokens) -> None:
        self._tokens = {kind: getattr(tokens, kind).encode() for kind in TOKEN_KINDS}

    def identify(self, request: web.Request) -> str | None:
        """The kind of the bearer token presented, or None if none or an unknown one."""
        header = request.headers.get("Authorization", "")
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            return None
        # Header bytes that are not UTF-8 arrive as surrogate escapes: compare them as the
        # bytes they were (they match no token), never fail on them.
        candidate = presented.strip().encode("utf-8", "surrogateescape")
        found = None
        # Compare against every configured token so the time taken says nothing about which.
        for kind, token in self._tokens.items():
            if token and hmac.compare_digest(candidate, token) and found is None:
                found = kind
        return found


class RateLimiter:
    """Moving-window limits per route, token kind and client address (the ``limits`` package).

    One limiter lives as long as the process: a reload changes the limits (``configure``)
    but not what each client has used, so neither a reload nor a changed limit hands out a
    fresh allowance. The window of hits is keyed without the limit's amount for that reason.

    With ``shared`` state the windows live in its Redis, so a client's allowance is the same
    whichever replica it reaches. While that Redis is unreachable (the shared state says so,
    or a command here fails) each replica counts in its own memory: the limit then applies per
    replica, and a request never waits on the dead Redis for more than one short timeout.
    """

    def __init__(self, limits: dict[str, str], shared: SharedState | None = None) -> None:
        self._items: dict[str, RateLimitItem] = {}
        self._storage = LoopMemoryStorage()
        self._shared = shared
        self._redis: RedisStorage | None = None
        if shared is not None:
            timeout = shared.settings.timeout
            self._redis = RedisStorage(
                shared.settings.url, key_prefix=f"{shared.prefix}limits", socket_timeout=timeout,
                socket_connect_timeout=timeout, wrap_exceptions=False)
        self.configure(limits)

    def configure(self, limits: dict[str, str]) -> None:
        """Apply new limits from now on, keeping the hits already counted."""
        self._items = {name: parse(text) for name, text in limits.items()}

    def retry_after(self, route: str, *identity: str) -> int | None:
        """None if the request may go ahead (and counts it), else seconds to wait."""
        item = self._items.get(route)
        if item is None:
            return None
        key = "/".join((route, *identity))
        expiry = item.get_expiry()
        if self._redis is not None and self._shared is not None and self._shared.up:
            try:
                return self._ask(self._redis, key, item.amount, expiry)
            except (RedisError, OSError) as exc:
                self._shared.mark_down(exc)
        return self._ask(self._storage, key, item.amount, expiry)

    @staticmethod
    def _ask(storage: MemoryStorage | RedisStorage, key: str, amount: int,
             expiry: int) -> int | None:
        if storage.acquire_entry(key, amount, expiry):
            return None
        start, _ = storage.get_moving_window(key, amount, expiry)
        return max(1, math.ceil(start + expiry - time.time()))


class Guard:
    """Checks token and rate limit for one route; answers 401, 403 or 429 itself."""

    def __init__(self, auth: TokenAuth, limiter: RateLimiter, store: MetricStore) -> None:
        self.auth = auth
        self.limiter = limiter
        self.store = store

    def check(self, request: web.Request, route: str, allowed: tuple[str, ...],
              limit: str | None = None) -> web.Response | str:
        """The caller's token kind, or the error answer to send instead."""
        kind = self.auth.identify(request)
        if kind is None:
            self.store.inc("wedsync_http_unauthorized_total", {"route": route})
            return json_error(401, "a valid bearer token is required (Authorization: Bearer …)",
                              {"WWW-Authenticate": 'Bearer realm="wedsync"'})
        if kind not in allowed:
            self.store.inc("wedsync_http_unauthorized_total", {"route": route})
            return json_error(403, f"this route needs the {' or '.join(allowed)} token")
        wait = self.limiter.retry_after(limit or route, kind, request.remote or "")
        if wait is not None:
            self.store.inc("wedsync_http_rate_limited_total", {"route": route})
            return json_error(429, f"rate limit exceeded; retry in {wait}s",
                              {"Retry-After": str(wait)})
        return kind
