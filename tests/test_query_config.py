"""Configured queries: what the loader refuses at start-up, and the wedding pack's shape.

Every refusal is one line that names the query (and the key) and says what is wrong.
"""

from __future__ import annotations

import textwrap

import pytest
from jsonschema import Draft202012Validator

from exporter.catalogue import BY_NAME, QUERY_FILLED_FAMILIES
from exporter.config import ConfigError, load_config, parse_config
from exporter.config.query_naming import query_families
from exporter.config.query_pack import builtin_queries
from exporter.config.query_statement import check_statement, limited, without_trailing
from exporter.config.schema import CONFIG_SCHEMA
from exporter.metrics.store import MetricStore
from tests.conftest import REPO

DATABASE = "database: [{name: primary, dsn: 'postgresql://u@h/db'}]\n"


def query_config(body: str, name: str = "custom") -> str:
    return DATABASE + f"queries:\n  {name}:\n" + textwrap.indent(textwrap.dedent(body), "    ")


SQL = "SELECT role, count(*) AS profiles FROM user_profiles GROUP BY role"
GOOD = """\
sql: SELECT role, count(*) AS profiles FROM user_profiles GROUP BY role
metrics:
  profiles: {name: wedsync_user_profiles, type: gauge, help: User profiles by role.}
labels:
  role: {cap: 10}
"""


def with_sql(sql: str) -> str:
    return GOOD.replace(SQL, sql)


def test_a_custom_query_loads_with_its_typed_mapping() -> None:
    query = parse_config(query_config(GOOD + "interval: 5m\ntimeout: 2s\nmax_rows: 50\n"),
                         {}).queries[0]
    assert (query.name, query.database, query.interval, query.timeout, query.max_rows) == (
        "custom", "primary", 300.0, 2.0, 50)
    assert [(m.column, m.name, m.kind, m.help) for m in query.metrics] == [
        ("profiles", "wedsync_user_profiles", "gauge", "User profiles by role.")]
    assert [(label.column, label.name, label.cap) for label in query.labels] == [
        ("role", "role", 10)]


def test_the_example_switches_the_whole_wedding_pack_on() -> None:
    config = load_config(REPO / "exporter" / "example.yaml", env={})
    assert {q.builtin for q in config.queries} == set(builtin_queries())
    filled = {m.name for q in config.queries for m in q.metrics}
    assert filled == set(QUERY_FILLED_FAMILIES)
    assert all(q.enabled and q.database == "primary" for q in config.queries)


@pytest.mark.parametrize("name", sorted(builtin_queries()))
def test_each_pack_query_is_an_ordinary_valid_query(name: str) -> None:
    schema = CONFIG_SCHEMA["properties"]["queries"]["additionalProperties"]
    Draft202012Validator(schema).validate(builtin_queries()[name])
    query = parse_config(DATABASE + f"queries: {{{name}: {{builtin: {name}}}}}", {}).queries[0]
    # The pack fills catalogue families only, with their catalogue labels.
    for family in query_families(query.metrics, query.labels):
        assert BY_NAME[family.name] is family
        assert family.produced


@pytest.mark.parametrize("name", sorted(builtin_queries()))
def test_each_pack_statement_is_one_read_only_query_that_ends_plainly(name: str) -> None:
    # What the loader and the query runner take for granted of the pack's statements, so that
    # they need not load PostgreSQL's parser for them (issue 25: RSS).
    sql = builtin_queries()[name]["sql"]
    check_statement(sql)
    assert without_trailing(sql) == sql.rstrip()


def test_a_builtin_query_keeps_its_sql_but_takes_its_own_schedule() -> None:
    query = parse_config(DATABASE + "queries: {today: {builtin: weddings, interval: 15s, "
                                    "timeout: 1s}}", {}).queries[0]
    assert query.sql == builtin_queries()["weddings"]["sql"]
    assert (query.interval, query.timeout) == (15.0, 1.0)


@pytest.mark.parametrize(("body", "message"), [
    # A label without a cap.
    (GOOD.replace("role: {cap: 10}", "role: {}"),
     "queries.custom.labels.role: 'cap' is a required property"),
    # Statements that are not one read-only query.
    (with_sql("DELETE FROM user_profiles RETURNING role, 1 AS profiles"),
     "queries.custom.sql: not a query: a DELETE statement"),
    (GOOD.replace("GROUP BY role", "GROUP BY role; DELETE FROM user_profiles"),
     "queries.custom.sql: expected one statement, found 2"),
    (GOOD.replace("SELECT role,", "WITH gone AS (DELETE FROM couples RETURNING id) SELECT "
                                  "role,"),
     "queries.custom.sql: not read-only: it uses DELETE"),
    (GOOD.replace("FROM user_profiles", "INTO copied FROM user_profiles"),
     "queries.custom.sql: not read-only: it uses SELECT ... INTO"),
    (GOOD.replace("GROUP BY role", "GROUP BY role FOR UPDATE"),
     "queries.custom.sql: not read-only: it uses FOR UPDATE/SHARE"),
    (GOOD.replace("SELECT role", "SELEC role"),
     "queries.custom.sql: not valid SQL: syntax error at or near"),
    (GOOD.replace("FROM user_profiles", "FROM user_profiles WHERE role LIKE 'sup%'"),
     "queries.custom.sql: a lone % is not allowed: write a literal % as %%"),
    (GOOD.replace("FROM user_profiles", "FROM user_profiles WHERE %(yesterday)s IS NULL"),
     "queries.custom.sql: unknown parameter %(yesterday)s"),
    # The naming rule.
    (GOOD.replace("wedsync_user_profiles", "user_profiles"),
     "queries.custom.metrics.profiles.name: 'user_profiles' does not match"),
    (GOOD.replace("type: gauge", "type: counter"),
     "queries.custom.metrics: wedsync_user_profiles: a counter's name ends in _total"),
    (GOOD.replace("wedsync_user_profiles", "wedsync_user_profiles_total"),
     "queries.custom.metrics: wedsync_user_profiles_total: only counters end in _total"),
    (GOOD.replace("type: gauge,", "type: gauge, unit: seconds,"),
     "queries.custom.metrics: wedsync_user_profiles: a metric in seconds ends in _seconds"),
    (GOOD.replace(", help: User profiles by role.", ""),
     "wedsync_user_profiles: a metric that is not in the catalogue needs help text"),
    (GOOD.replace("wedsync_user_profiles", "wedsync_up"),
     "wedsync_up is a catalogue family that the exporter fills itself; choose another name"),
    (GOOD.replace("name: wedsync_user_profiles, type: gauge, help: User profiles by role.",
                  "name: wedsync_active_couples, type: gauge"),
     "wedsync_active_couples takes no labels in the catalogue, not role"),
    (GOOD.replace("name: wedsync_user_profiles, type: gauge, help: User profiles by role.",
                  "name: wedsync_form_submissions_total, type: gauge"),
     "wedsync_form_submissions_total is a counter in the catalogue, not a gauge"),
    # Shapes.
    ("builtin: weddings\nsql: SELECT 1 AS one\n",
     "queries.custom: a builtin query takes no sql, metrics or labels"),
    ("sql: SELECT 1 AS one\n", "queries.custom: a query needs sql and metrics, or builtin"),
    (GOOD.replace("role: {cap: 10}", "profiles: {cap: 10}"),
     "queries.custom: column 'profiles' cannot be both a metric and a label"),
    (GOOD + "database: replica\n", "queries.custom.database: no database target named"),
    (GOOD.replace("role: {cap: 10}", "role: {cap: 0}"),
     "queries.custom.labels.role.cap: 0 is less than the minimum of 1"),
])
def test_configuration_errors_are_caught_at_start_up_naming_the_query(body: str,
                                                                      message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(query_config(body), {})
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_two_queries_may_not_fill_the_same_family() -> None:
    text = DATABASE + "queries: {weddings: {builtin: weddings}, again: {builtin: weddings}}"
    with pytest.raises(ConfigError, match=r"queries\.again\.metrics: wedsync_weddings is filled "
                                          "by query weddings too"):
        parse_config(text, {})
    # A switched-off duplicate is fine.
    parse_config(text.replace("again: {builtin: weddings}",
                              "again: {builtin: weddings, enabled: false}"), {})


def test_the_row_limit_is_applied_by_the_server_whatever_the_statement_ends_with() -> None:
    body = without_trailing("SELECT 'é;' AS x, %(today)s AS d -- note;\n; /* c */ ; -- tail\n")
    wrapped = limited(body, 11)
    assert wrapped == ("SELECT * FROM (\nSELECT 'é;' AS x, %(today)s AS d\n) AS "
                       "wedsync_query LIMIT 11")


def test_config_defined_families_are_replaced_as_a_whole_on_reload() -> None:
    config = parse_config(query_config(GOOD), {})
    store = MetricStore()
    families = query_families(config.queries[0].metrics, config.queries[0].labels)
    store.configure_families(families)
    store.set("wedsync_user_profiles", {"role": "couple"}, 3)
    store.configure_families(families)  # the same definition keeps its series
    assert store.get("wedsync_user_profiles", {"role": "couple"}) == 3
    renamed = parse_config(query_config(GOOD.replace("wedsync_user_profiles",
                                                     "wedsync_profiles")), {})
    store.configure_families(query_families(renamed.queries[0].metrics,
                                            renamed.queries[0].labels))
    assert "wedsync_user_profiles" not in store.families
    assert store.series("wedsync_profiles") == {}
    with pytest.raises(ValueError, match="catalogue family"):
        store.configure_families([BY_NAME["wedsync_up"]])
