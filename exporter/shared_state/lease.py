"""A lease in Redis (a lock with expiry) that one replica holds at a time, with a small
document saved only by the holder: the performance_logs tailer's position.

``hold()`` takes the lease if it is free or renews it if this replica holds it; a holder that
dies stops renewing and the lease expires after ``duration`` seconds, when another replica's
next ``hold()`` takes it. ``save()`` writes the holder's position in the same atomic step that
checks the lease is still its own, so a replica that lost the lease (paused, cut off) can
never overwrite the position of the one that took over.

When Redis cannot be asked, a holder keeps what it knows: it holds the lease until the moment
it would have expired, and then stops; a replica that did not hold it does not take it.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from typing import Any

from redis.exceptions import RedisError

from exporter.shared_state.state import SharedState

# KEYS[1] lease; ARGV[1] token, ARGV[2] milliseconds. Take a free lease or renew our own.
HOLD = """
local owner = redis.call('GET', KEYS[1])
if owner == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 2
elseif owner == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
# KEYS[1] lease, KEYS[2] document; ARGV[1] token, ARGV[2] document. Save only while ours.
SAVE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2])
  return 1
end
return 0
"""
# KEYS[1] lease; ARGV[1] token. Give the lease up only if it is ours.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

TAKEN, RENEWED = 2, 1


class Lease:
    """The lease ``name`` (and its document) in ``shared``; ``duration`` in seconds."""

    def __init__(self, shared: SharedState, name: str, duration: float) -> None:
        self.shared = shared
        self.key = shared.key(f"lease:{name}")
        self.document_key = shared.key(f"lease:{name}:document")
        self.duration = duration
        self.token = secrets.token_hex(16)
        # Monotonic time until which this replica knows it holds the lease (0: it does not).
        self._until = 0.0

    @property
    def held(self) -> bool:
        return time.monotonic() < self._until

    async def hold(self) -> str | None:
        """``"taken"`` (just acquired: load the document), ``"renewed"``, or None (another
        replica holds it, or Redis cannot be asked and this replica did not hold it)."""
        asked = time.monotonic()
        try:
            outcome = await self.shared.client.eval(  # type: ignore[misc]
                HOLD, 1, self.key, self.token, int(self.duration * 1000))
        except (RedisError, OSError) as exc:
            self.shared.mark_down(exc)
            return "renewed" if self.held else None
        if outcome == TAKEN:
            self._until = asked + self.duration
            return "taken"
        if outcome == RENEWED:
            self._until = asked + self.duration
            return "renewed"
        self._until = 0.0
        return None

    async def load(self) -> Any:
        """The document the last holder saved (None if none or unreadable)."""
        try:
            raw = await self.shared.client.get(self.document_key)
        except (RedisError, OSError) as exc:
            self.shared.mark_down(exc)
            return None
        try:
            return json.loads(raw) if raw is not None else None
        except ValueError:
            return None

    async def save(self, document: Any) -> bool:
        """Save the document if the lease is still ours; False otherwise (or Redis down)."""
        try:
            saved = await self.shared.client.eval(  # type: ignore[misc]
                SAVE, 2, self.key, self.document_key, self.token, json.dumps(document))
        except (RedisError, OSError) as exc:
            self.shared.mark_down(exc)
            return False
        if not saved:
            self._until = 0.0
        return bool(saved)

    async def release(self) -> None:
        """Give the lease up (on a clean stop), so another replica need not wait it out."""
        self._until = 0.0
        with contextlib.suppress(RedisError, OSError):
            await self.shared.client.eval(RELEASE, 1, self.key, self.token)  # type: ignore[misc]


def shared_lease(shared: SharedState, name: str, duration: float) -> Lease:
    """The lease ``name`` of ``shared``: the same object across reloads (a reload keeps
    holding it); released when the shared state closes."""
    lease = shared.leases.get(name)
    if not isinstance(lease, Lease):
        lease = shared.leases[name] = Lease(shared, name, duration)
    lease.duration = duration
    return lease
