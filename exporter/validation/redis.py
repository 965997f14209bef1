"""Redis checks: a cache needs a memory limit, an eviction policy that makes room, and hits
(performance); and a password, and protected mode on (security).

Performance reads INFO only; security asks CONFIG GET protected-mode and says nothing where
managed Redis forbids CONFIG.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

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
SECURITY_CHECKS: tuple[tuple[str, str], ...] = (
    ("redis_no_password", "error"),
    ("redis_protected_mode_off", "warning"),
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


def _client(url: str, target: RedisTarget) -> aioredis.Redis:
    return aioredis.Redis.from_url(
        url, socket_timeout=target.timeout, socket_connect_timeout=target.timeout,
        retry=Retry(NoBackoff(), 0), client_name="wedsync-exporter-validation")


def without_credentials(url: str) -> str:
    """The same server, database and TLS options with no user name or password."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


async def validate_redis_security(target: RedisTarget) -> list[Finding]:
    """The default user answers without a password; protected mode off (where CONFIG GET is
    allowed: managed Redis often forbids it, and then nothing is said)."""
    findings = []
    anonymous = _client(without_credentials(target.url), target)
    try:
        answered = await anonymous.ping()
    except Exception:  # NOAUTH, WRONGPASS, refused: nobody gets in without a password
        answered = False
    finally:
        await anonymous.aclose()
    if answered:
        findings.append(Finding(
            "redis_no_password", "error",
            f"{target.name}: Redis answers without a password (its default user has none): "
            f"anyone who reaches the port reads and deletes every cached key and queued job",
            "Set requirepass (or an ACL default user with a password, or 'user default off') "
            "and give the clients the password."))
    client = _client(target.url, target)
    try:
        mode = (await client.config_get("protected-mode")).get("protected-mode")
    except Exception:
        mode = None
    finally:
        await client.aclose()
    if mode == "no":
        findings.append(Finding(
            "redis_protected_mode_off", "warning",
            f"{target.name}: protected mode is off: without a password Redis would accept "
            f"commands from any address it listens on",
            "Set protected-mode yes (the default) and bind Redis to the addresses that need "
            "it."))
    return findings
