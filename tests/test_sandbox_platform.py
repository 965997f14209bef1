"""`wedsync-stack up --sandbox`'s own platform is set up as production is where the exporter's
checks look, and lives only on servers it started."""

from __future__ import annotations

import stat
from pathlib import Path

import psycopg
import pytest
import redis

from harness.sandbox_platform import DATABASE, EXPORTER_ROLE, SandboxPlatform

pytestmark = pytest.mark.slow


def test_the_platform_is_its_own_production_like_postgres_and_redis_with_the_schema() -> None:
    platform = SandboxPlatform()
    platform.prepare("http://127.0.0.1:9", "ingest-token-for-platform-test")
    platform.start()
    try:
        assert platform.postgres and platform.redis and platform.sandbox
        assert platform.postgres.port != 5432 and platform.redis.port != 6379
        pg = platform.postgres
        settings = dict(pg.execute(
            "SELECT name, setting FROM pg_settings WHERE name IN "
            "('wal_level', 'password_encryption', 'shared_preload_libraries')"))
        assert settings == {"wal_level": "logical", "password_encryption": "scram-sha-256",
                            "shared_preload_libraries": "pg_stat_statements"}
        # The reference schema and the seed rows: weddings around today.
        assert pg.execute("SELECT count(*) > 0 FROM weddings WHERE wedding_date = current_date",
                          dbname=DATABASE) == [(True,)]
        # The exporter's role: least privilege, read-only, scram password.
        [(superuser, monitor, readonly)] = pg.execute(
            f"SELECT rolsuper, pg_has_role('{EXPORTER_ROLE}', 'pg_monitor', 'member'), "
            f"(SELECT setting FROM unnest(rolconfig) AS setting "
            f"  WHERE setting LIKE 'default_transaction_read_only%') "
            f"FROM pg_roles WHERE rolname = '{EXPORTER_ROLE}'")
        assert (superuser, monitor, readonly) == (False, True,
                                                  "default_transaction_read_only=on")
        assert pg.execute(f"SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid "
                          f"WHERE rolname = '{EXPORTER_ROLE}'") == [(True,)]

        sections = platform.exporter_sections()
        dsn_file = Path(sections["database"][0]["dsn_file"])
        url_file = Path(sections["redis"][0]["url_file"])
        for secret in (dsn_file, url_file):
            assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        assert "dsn" not in sections["database"][0] and "url" not in sections["redis"][0]
        # TCP logins need the password (scram), and the exporter's role cannot write.
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(f"postgresql://{EXPORTER_ROLE}@127.0.0.1:{pg.port}/{DATABASE}",
                            connect_timeout=5).close()
        with psycopg.connect(dsn_file.read_text(), autocommit=True) as conn:
            with pytest.raises(psycopg.Error):
                conn.execute("INSERT INTO couples DEFAULT VALUES")
            assert conn.execute("SELECT count(*) FROM weddings").fetchone()[0] == 40

        # Redis: a password, a memory limit and an eviction policy fit for a cache.
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=platform.redis.port, socket_timeout=5).ping()
        config = redis.Redis.from_url(url_file.read_text(), socket_timeout=5).config_get(
            "maxmemory*")
        assert int(config["maxmemory"]) > 0 and config["maxmemory-policy"] == "allkeys-lru"
        assert {"auth", "realtime", "api"} <= set(sections)
    finally:
        platform.stop()
    assert platform.postgres is None and not pg.dir.exists()
