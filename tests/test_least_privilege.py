"""The database probe and the weddings query work with exactly the documented grants:
pg_monitor, plus SELECT on the tables the queries read (docs/database-grants.md)."""

from __future__ import annotations

import re

from tests.conftest import REPO
from tests.support import exporter_config, value, wait_metrics


def documented_grants() -> list[str]:
    """The SQL statements of the first block of docs/database-grants.md."""
    text = (REPO / "docs" / "database-grants.md").read_text()
    block = re.search(r"```sql\n(.*?)```", text, re.S).group(1)
    code = "\n".join(line.split("--")[0] for line in block.splitlines())
    return [statement.strip() for statement in code.split(";") if statement.strip()]


def test_probe_works_with_exactly_the_documented_grants(pg_server, make_exporter) -> None:
    pg_server.execute("CREATE DATABASE grants_check TEMPLATE wedsync")
    pg_server.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", dbname="grants_check")
    for statement in documented_grants():
        pg_server.execute(statement.replace("PASSWORD '…'", "PASSWORD 'exporter-pw'"),
                          dbname="grants_check")
    pg_server.execute("ALTER ROLE wedsync_exporter BYPASSRLS")
    pg_server.execute("INSERT INTO couples (id) VALUES ('00000000-0000-0000-0000-000000000001');"
                      "INSERT INTO weddings (couple_id, wedding_date) VALUES "
                      "('00000000-0000-0000-0000-000000000001', current_date + 1)",
                      dbname="grants_check")
    # Another session of another role, so that pg_monitor is needed to see its state.
    with pg_server.admin("grants_check") as other:
        other.execute("BEGIN")
        other.execute("SELECT 1")
        exporter = make_exporter(exporter_config(
            database=[{"name": "primary", "dsn": "${PG_DSN}"}],
            queries={"weddings": {"builtin": "weddings", "interval": "1s"}}),
            env={"PG_DSN": pg_server.dsn("wedsync_exporter", "exporter-pw", "grants_check")})
        text = wait_metrics(exporter, lambda t: value(
            t, "wedsync_custom_query_success", query="weddings") is not None and value(
            t, "wedsync_up", component="database", target="primary") is not None)
    assert "GRANT pg_monitor TO wedsync_exporter" in documented_grants()
    assert value(text, "wedsync_up", component="database", target="primary") == 1
    assert value(text, "wedsync_db_stat_statements_available", target="primary") == 1
    assert value(text, "wedsync_db_slow_statements", target="primary") is not None
    assert value(text, "wedsync_db_connections", target="primary",
                 state="idle_in_transaction") >= 1
    assert value(text, "wedsync_db_connections", target="primary", state="unknown") is None
    assert value(text, "wedsync_db_longest_transaction_seconds", target="primary") > 0
    assert value(text, "wedsync_custom_query_success", query="weddings") == 1
    assert value(text, "wedsync_weddings", window="next_7d") == 1
    # The role cannot write: the grants are read-only.
    import psycopg
    with psycopg.connect(pg_server.dsn("wedsync_exporter", "exporter-pw", "grants_check"),
                         autocommit=True) as conn:
        try:
            conn.execute("INSERT INTO couples DEFAULT VALUES")
        except psycopg.Error as exc:
            assert exc.sqlstate in {"42501", "25006"}
        else:
            raise AssertionError("the exporter role could write")
