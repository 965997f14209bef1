"""Building probe targets and running one probe directly (no scheduler) in the tests."""

from __future__ import annotations

import asyncio
from typing import Any

from exporter.config.model import AuthTarget, HttpTarget, RealtimeTarget, SignIn, Thresholds
from exporter.probes.base import ProbeError, ProbeOutcome

TIMING = {"interval": 1.0, "timeout": 2.0, "thresholds": Thresholds()}


def auth_target(url: str, anon_key: str, **kw: Any) -> AuthTarget:
    return AuthTarget(name="supabase", url=url, anon_key=anon_key, **{**TIMING, **kw})


def realtime_target(url: str, anon_key: str, **kw: Any) -> RealtimeTarget:
    return RealtimeTarget(name="supabase", url=url, anon_key=anon_key, **{**TIMING, **kw})


def http_target(url: str, **kw: Any) -> HttpTarget:
    return HttpTarget(name="health", url=url, **{**TIMING, **kw})


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
