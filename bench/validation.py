"""Architecture validation: the checks per component and type, and how long validating takes.

    python bench/validation.py [--runs 5]

First a table of the checks each component runs for each validation type (from the code, with
every component configured). Then, on the stack's own PostgreSQL (harness/sandbox_platform.py:
the reference schema and seed rows, TLS, archiving, the exporter's least-privilege role):

- the database alone: every check of all four types, as the exporter's role;
- one full background run (``Validator.run_all``) of an exporter with that database, a Redis
  with a password and the deployment component (no Alertmanager or Prometheus configured, so
  deployment adds no network round trips here).

Each ``--runs`` times; prints the median, the fastest and the slowest.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml

from exporter.config import Config, parse_config
from exporter.db.pool import PgPool
from exporter.service import Service
from exporter.validation import database, deployment, reachability, redis, services
from exporter.validation.findings import VALIDATION_TYPES, validated_components
from exporter.validation.runner import Validator
from exporter.validation.settings import validation_settings
from harness.redis import RedisServer
from harness.sandbox_platform import DATABASE, EXPORTER_ROLE, start_database

SETTINGS = validation_settings({})


def checks_of(component: str, kind: str) -> list[str]:
    """The checks ``component`` runs for ``kind`` when it has a target."""
    if component == "deployment":
        return [name for name, _ in deployment.deployment_checks(kind)]
    if component == "database":
        return [name for name, _ in database.checks_of(kind, SETTINGS)] + [
            "database_unreachable"]
    security = {"redis": redis.SECURITY_CHECKS, "auth": services.AUTH_CHECKS,
                "api": services.API_CHECKS}
    if kind == "security":
        return [name for name, _ in security.get(component, ())]
    if kind != "performance":
        return []
    if component == "redis":
        return [name for name, _ in redis.CHECKS]
    return reachability.checks_of(component)


def table() -> str:
    rows = ["| component | " + " | ".join(VALIDATION_TYPES) + " | total |",
            "|---|" + "---|" * (len(VALIDATION_TYPES) + 1)]
    distinct: set[str] = set()
    for component in validated_components():
        counts = []
        names: set[str] = set()
        for kind in VALIDATION_TYPES:
            found = checks_of(component, kind)
            counts.append(str(len(found)))
            names.update(found)
        distinct |= names
        rows.append(f"| {component} | " + " | ".join(counts) + f" | {len(names)} distinct |")
    rows.append(f"\n{len(distinct)} distinct checks in all (a check two types share, such as "
                f"the RLS checks in permissions and security, counts once).")
    return "\n".join(rows)


def spread(label: str, seconds: list[float]) -> str:
    return (f"{label}: median {statistics.median(seconds) * 1000:.0f} ms, fastest "
            f"{min(seconds) * 1000:.0f} ms, slowest {max(seconds) * 1000:.0f} ms "
            f"({len(seconds)} runs)")


def exporter_config(dsn: str, redis_url: str) -> Config:
    config = {"timezone": "Europe/London", "log": {"level": "warning", "format": "logfmt"},
              "probe_defaults": {"interval": "15s", "timeout": "5s"},
              "database": [{"name": "primary", "dsn": "${DSN}"}],
              "redis": [{"name": "cache", "url": "${REDIS}"}], "queries": {},
              "validation": {"enabled": False}}
    return parse_config(yaml.safe_dump(config), {"DSN": dsn, "REDIS": redis_url})


async def database_only(dsn: str, runs: int) -> list[float]:
    target = exporter_config(dsn, "redis://127.0.0.1:1/0").database[0]
    pool = PgPool(dsn, size=1, statement_timeout=10)
    times = []
    try:
        for _ in range(runs):
            started = time.perf_counter()
            found = []
            for kind in VALIDATION_TYPES:
                found += await pool.run(
                    lambda conn, k=kind: database.validate_database(conn, target, k, SETTINGS))
            times.append(time.perf_counter() - started)
        problems = [f.message for f in found if f.check]
        if problems:
            print("findings on the reference platform (expected none):", *problems, sep="\n  ")
    finally:
        await pool.close()
    return times


async def full_run(dsn: str, redis_url: str, runs: int) -> list[float]:
    service = Service(exporter_config(dsn, redis_url), listen="127.0.0.1:0")
    await service.start()
    try:
        while not service.ready:
            await asyncio.sleep(0.05)
        assert service.runtime is not None
        validator = Validator(service.runtime, service.config.validation)
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            await validator.run_all()
            times.append(time.perf_counter() - started)
        return times
    finally:
        await service.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    print("Checks per component and validation type:\n")
    print(table())
    print()
    password = secrets.token_urlsafe(16)
    server = start_database(password)
    try:
        dsn = server.dsn(EXPORTER_ROLE, password, DATABASE)
        print(spread("database, all four types, reference schema and seed rows",
                     asyncio.run(database_only(dsn, runs))))
        with RedisServer(password=secrets.token_urlsafe(16),
                         extra=["maxmemory 64mb", "maxmemory-policy allkeys-lru"]) as cache:
            print(spread("one full background run (database, redis, deployment; every type)",
                         asyncio.run(full_run(dsn, cache.url(), runs))))
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
