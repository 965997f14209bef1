"""A PostgreSQL set up for the Core Fields probe the way docs/core-fields-probe.md tells an
operator to: the migration, a password for its writer role, and a row per synthetic user.

Used by the sandbox platform, the tests and bench/core_fields.py, always on a PostgreSQL they
started themselves (``LOGICAL_SETTINGS``: Realtime reads a logical replication slot).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from psycopg import sql

from harness.postgres import PostgresServer

REPO = Path(__file__).resolve().parent.parent
MIGRATION = REPO / "migrations" / "core_fields_probe.sql"
WRITER_ROLE = "wedsync_core_fields_writer"
SCHEMA, TABLE = "wedsync_probe", "core_fields"
# wal_level logical for the slot; synchronous_commit on as on Supabase (the SQL interface of
# logical decoding reads only flushed WAL, so an asynchronous commit would wait for the WAL
# writer and add up to its delay to every change).
LOGICAL_SETTINGS = {"wal_level": "logical", "max_replication_slots": "8",
                    "max_wal_senders": "8", "synchronous_commit": "on"}


def prepare_core_fields(server: PostgresServer, dbname: str, writer_password: str,
                        user_ids: Iterable[str]) -> str:
    """Apply the migration in ``dbname``, let the writer log in, add the users' rows; the
    writer's libpq URL."""
    server.execute(MIGRATION.read_text(), dbname=dbname)
    with server.admin(dbname) as conn:
        # Supabase grants its API roles the auth schema (auth.uid() in policies).
        conn.execute("GRANT USAGE ON SCHEMA auth TO authenticated")
        # The password goes in as a bound literal, never into a logged statement text.
        conn.execute(sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(WRITER_ROLE), sql.Literal(writer_password)))
        for user_id in user_ids:
            conn.execute(sql.SQL("INSERT INTO {}.{} (user_id) VALUES (%s) ON CONFLICT DO NOTHING"
                                 ).format(sql.Identifier(SCHEMA), sql.Identifier(TABLE)),
                         (user_id,))
    return server.dsn(WRITER_ROLE, writer_password, dbname)
