"""Building probe targets and running one probe directly (no scheduler) in the tests."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from exporter.config.model import (
    AuthTarget,
    DatabaseTarget,
    HttpTarget,
    RealtimeTarget,
    RedisTarget,
    SignIn,
    Target,
    Thresholds,
)
from exporter.config.targets import TARGET_KINDS, ParseContext
from exporter.probes.base import ProbeError, ProbeOutcome

TIMING = {"interval": 1.0, "timeout": 2.0, "thresholds": Thresholds()}


def target_of(kind: str, raw: dict[str, Any], **typed: Any) -> Any:
    """A target of settings ``kind`` parsed from ``raw`` as the loader does (the schema's
    defaults filled in), with ``typed`` settings (timings, checks) put over it."""
    timing = {"name": raw["name"], **TIMING}
    parsed: Target | None = TARGET_KINDS[kind].parse(raw, timing, ParseContext({}, set()),
                                                     "test")
    assert parsed is not None, f"{raw} turns the target off"
    return dataclasses.replace(parsed, **typed)


def auth_target(url: str, anon_key: str, **kw: Any) -> AuthTarget:
    return target_of("supabase_auth", {"name": "supabase", "url": url, "anon_key": anon_key},
                     **kw)


def realtime_target(url: str, anon_key: str, **kw: Any) -> RealtimeTarget:
    return target_of("supabase_realtime", {"name": "supabase", "url": url,
                                           "anon_key": anon_key}, **kw)


def http_target(url: str, name: str = "health", **kw: Any) -> HttpTarget:
    return target_of("http", {"name": name, "url": url}, **kw)


def redis_target(url: str, name: str = "cache", **kw: Any) -> RedisTarget:
    return target_of("redis", {"name": name, "url": url}, **kw)


def database_target(dsn: str, name: str = "primary", **kw: Any) -> DatabaseTarget:
    return target_of("postgres", {"name": name, "dsn": dsn}, **kw)


def sign_in(email: str, password: str) -> SignIn:
    return SignIn(enabled=True, email=email, password=password)


def probe_once(probe: Any) -> ProbeOutcome | ProbeError:
    """Run the probe once (with its target's timeout as the hard limit) and close it."""

    async def go() -> ProbeOutcome | ProbeError:
        try:
            return await asyncio.wait_for(probe.run(), probe.target.timeout + 1)
        except ProbeError as exc:
            return exc
        finally:
            await probe.close()

    return asyncio.run(go())


def probe_many(probe: Any, times: int) -> list[ProbeOutcome | ProbeError]:
    """Run the same probe ``times`` times in one event loop, then close it."""

    async def go() -> list[ProbeOutcome | ProbeError]:
        results: list[ProbeOutcome | ProbeError] = []
        try:
            for _ in range(times):
                try:
                    results.append(await asyncio.wait_for(probe.run(), probe.target.timeout + 1))
                except ProbeError as exc:
                    results.append(exc)
        finally:
            await probe.close()
        return results

    return asyncio.run(go())


def sample_values(outcome: ProbeOutcome | ProbeError) -> dict[str, float]:
    """Sample name -> value (every probe target here has one series per family)."""
    return {s.name: s.value for s in outcome.samples}
