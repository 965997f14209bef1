"""A mirror of a few shared JSON documents, kept fresh from Redis in the background.

Readers never wait for Redis: they read the mirror, which a background task re-reads every
``refresh`` seconds. A write goes to the mirror at once and then to Redis; when Redis cannot be
reached the write is kept and sent again once it answers (last writer wins), the replica runs
on what it knows, and ``wedsync_shared_state_up`` says 0. Every Redis command has a short
timeout, so neither a scrape nor a request ever waits long on a dead or hung Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from exporter.config.model import SharedStateSettings
from exporter.metrics.store import MetricStore

log = structlog.get_logger("exporter.shared_state")

UP = "wedsync_shared_state_up"


@dataclass
class _Pending:
    value: Any
    # Monotonic deadline of the value's time to live (None: no expiry).
    expires: float | None


class SharedState:
    """One replica's view of the shared documents; ``start()`` begins refreshing."""

    def __init__(self, settings: SharedStateSettings, store: MetricStore) -> None:
        self.settings = settings
        self.store = store
        self.prefix = settings.key_prefix
        self.client: aioredis.Redis = aioredis.Redis.from_url(
            settings.url, socket_timeout=settings.timeout,
            socket_connect_timeout=settings.timeout, client_name="wedsync-exporter-shared",
            retry_on_timeout=False)
        self.up = False
        self._watched: list[str] = []
        self._lists: list[str] = []
        self._appends: list[tuple[str, Any, int]] = []
        self._mirror: dict[str, Any] = {}
        self._pending: dict[str, _Pending] = {}
        self._task: asyncio.Task[None] | None = None
        # Leases by name (exporter.shared_state.lease.shared_lease), released on close.
        self.leases: dict[str, Any] = {}
        store.set(UP, (), 0)

    def key(self, name: str) -> str:
        """The Redis key of a shared document or lock."""
        return f"{self.prefix}{name}"

    # --- the mirror ------------------------------------------------------------------------
    def watch(self, name: str) -> None:
        """Keep document ``name`` mirrored."""
        if name not in self._watched:
            self._watched.append(name)

    def watch_list(self, name: str) -> None:
        """Keep list ``name`` (appended to by every replica) mirrored."""
        if name not in self._lists:
            self._lists.append(name)

    async def append(self, name: str, value: Any, keep: int) -> bool:
        """Append ``value`` to list ``name`` (its last ``keep`` items are kept) here at once and
        in Redis; False if Redis could not take it (it is sent again when Redis answers)."""
        self._mirror[name] = [*(self._mirror.get(name) or []), value][-keep:]
        self._appends.append((name, value, keep))
        return await self._flush()

    def get(self, name: str) -> Any:
        """The last known value of document ``name`` (None: there is none)."""
        return self._mirror.get(name)

    async def put(self, name: str, value: Any, ttl: float | None = None) -> bool:
        """Set (or, with None, delete) document ``name`` here at once and in Redis; False if
        Redis could not take it (it is sent again when Redis answers)."""
        self._mirror[name] = value
        self._pending[name] = _Pending(value, None if ttl is None else time.monotonic() + ttl)
        return await self._flush()

    async def _flush(self) -> bool:
        while self._appends:
            name, value, keep = self._appends[0]
            try:
                async with self.client.pipeline(transaction=True) as pipe:
                    pipe.rpush(self.key(name), json.dumps(value))
                    pipe.ltrim(self.key(name), -keep, -1)
                    await pipe.execute()
            except (RedisError, OSError) as exc:
                self.mark_down(exc)
                return False
            self._appends.pop(0)
        for name, pending in list(self._pending.items()):
            try:
                if pending.value is None:
                    await self.client.delete(self.key(name))
                elif pending.expires is None:
                    await self.client.set(self.key(name), json.dumps(pending.value))
                else:
                    left = pending.expires - time.monotonic()
                    if left > 0:
                        await self.client.set(self.key(name), json.dumps(pending.value),
                                              px=max(1, int(left * 1000)))
            except (RedisError, OSError) as exc:
                self.mark_down(exc)
                return False
            if self._pending.get(name) is pending:
                del self._pending[name]
        return True

    async def refresh(self) -> None:
        """Send what is pending, then re-read every watched document and list (one round
        trip)."""
        if not await self._flush():
            return
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.ping()
                if self._watched:
                    pipe.mget([self.key(n) for n in self._watched])
                for name in self._lists:
                    pipe.lrange(self.key(name), 0, -1)
                answers = await pipe.execute()
        except (RedisError, OSError) as exc:
            self.mark_down(exc)
            return
        answers = answers[1:]
        if self._watched:
            values, answers = answers[0], answers[1:]
            for name, raw in zip(self._watched, values, strict=True):
                if name in self._pending:
                    continue  # written here meanwhile: ours is newer
                self._mirror[name] = _decode(raw)
        for name, items in zip(self._lists, answers, strict=True):
            if not any(pending[0] == name for pending in self._appends):
                self._mirror[name] = [_decode(item) for item in items]
        self._mark_up()

    # --- health ----------------------------------------------------------------------------
    def mark_down(self, cause: BaseException | str) -> None:
        """Redis failed a command: run on what this replica knows until it answers again."""
        if self.up:
            log.warning("shared state unreachable; this replica runs on what it knows",
                        cause=type(cause).__name__ if isinstance(cause, BaseException)
                        else cause)
        if self.up or self.store.get(UP) != 0:
            # Only a change is written: a write makes the renderer build /metrics again.
            self.store.set(UP, (), 0)
        self.up = False

    def _mark_up(self) -> None:
        if not self.up:
            log.info("shared state reachable")
            self.store.set(UP, (), 1)
        self.up = True

    # --- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Read once (bounded by the timeout), then keep refreshing in the background."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.refresh(), timeout=self.settings.timeout * 4)
        self._task = asyncio.create_task(self._loop(), name="shared-state")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.refresh)
            try:
                await asyncio.wait_for(self.refresh(), timeout=self.settings.timeout * 4)
            except TimeoutError:
                self.mark_down("timeout")
            except Exception as exc:  # never let the loop die
                self.mark_down(exc)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for lease in self.leases.values():
            await lease.release()
        with contextlib.suppress(Exception):
            await self.client.aclose()


def _decode(raw: bytes | str | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None
