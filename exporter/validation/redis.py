"""Redis checks: a cache needs a memory limit, an eviction policy that makes room, and hits.

Reads INFO only (never CONFIG), so it works where managed Redis forbids CONFIG.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from exporter.config.model import RedisTarget
from exporter.probes.redis import classify
from exporter.validation.findings import Finding
from exporter.validation.settings import ValidationSettings

CHECKS: tuple[tuple[str, str], ...] = (
    ("redis_unreachable", "critical"),
    ("redis_maxmemory_unset", "warning"),
    ("redis_eviction_policy_unsuitable", "warning"),
    ("redis_hit_ratio_low", "warning"),
)
# Policies that never evict anything a cache can spare.
UNSUITABLE_POLICIES = frozenset({"noeviction"})


async def validate_redis(target: RedisTarget, settings: ValidationSettings) -> list[Finding]:
    """Findings of the performance checks on one Redis target."""
    client = aioredis.Redis.from_url(
        target.url, socket_timeout=target.timeout, socket_connect_timeout=target.timeout,
        retry=Retry(NoBackoff(), 0), client_name="wedsync-exporter-validation")
    try:
        info = await client.info()
    except Exception as exc:
        error = classify(exc)
        return [Finding("redis_unreachable", "critical",
                        f"{target.name}: Redis cannot be asked ({error.reason}: {error.message})",
                        "Check that Redis runs and that the exporter may run INFO.")]
    finally:
        await client.aclose()
    findings = []
    if not int(info.get("maxmemory", 0)):
        findings.append(Finding(
            "redis_maxmemory_unset", "warning",
            f"{target.name}: Redis has no maxmemory, so the cache grows until the host runs "
            "out of memory", "Set maxmemory to what the host can spare."))
    policy = str(info.get("maxmemory_policy", ""))
    if policy in UNSUITABLE_POLICIES:
        findings.append(Finding(
            "redis_eviction_policy_unsuitable", "warning",
            f"{target.name}: eviction policy {policy} makes writes fail when memory is full",
            "Use allkeys-lru or allkeys-lfu for a cache (volatile-* if only keys with a TTL "
            "may go)."))
    hits, misses = int(info.get("keyspace_hits", 0)), int(info.get("keyspace_misses", 0))
    lookups = hits + misses
    if lookups >= settings.redis_min_lookups and hits / lookups < settings.redis_hit_ratio:
        findings.append(Finding(
            "redis_hit_ratio_low", "warning",
            f"{target.name}: cache hit ratio is {hits / lookups:.1%} over {lookups} lookups "
            f"(below {settings.redis_hit_ratio:.0%})",
            "Check key expiry and what the application caches; a low ratio puts the load "
            "back on the database."))
    return findings
