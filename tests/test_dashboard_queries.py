"""Every panel query returns data: one stack (the harness: exporter probing the sandbox, a
throwaway PostgreSQL with the reference schema and seed rows, a throwaway Redis, a real
node_exporter watching this machine, Prometheus scraping every second with the generated rules
and last Saturday's usage backfilled), some ingested request timings and a short k6 smoke run
remote-writing into it; then every template variable lists values and every panel
query, with the variables filled in as Grafana fills them, parses and returns at least one
series with a real number through Prometheus' HTTP API.

A query that can only return data in a fault (or a topology the test stack does not have) is
listed in ``ONLY_IN_A_FAULT`` with the reason; the test checks that it still runs, and that it
really is empty here (else the exemption is stale).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alerts.capacity import USAGE
from dashboards import build
from dashboards.queries import (
    RANGE,
    RATE_INTERVAL,
    PanelQuery,
    custom_default,
    label_values_query,
    panel_queries,
    rate_interval,
    substitute,
    variables,
)
from dashboards.settings import DATABASE, LOAD_TESTS, Board
from harness.core_fields import LOGICAL_SETTINGS, prepare_core_fields
from harness.pooler_and_queues import PoolerAndQueues
from harness.postgres import PostgresServer
from harness.prometheus import PrometheusServer
from harness.redis import RedisServer
from harness.sandbox import SandboxServer, StackSandbox
from harness.stack import Stack, StackOptions, example_exporter_config
from loadtests.runner import RunSettings, realtime_url_for, run
from sandbox.auth import user_id_for
from sandbox.settings import OUTSIDER_EMAIL, WATCHER_EMAIL
from tests.support import CANARY_ANON_KEY, CANARY_PASSWORD, PROBE_EMAIL, exporter_config

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
SCRAPE_SECONDS = 1.0
# Grafana's $__interval for these short ranges is its minimum, the scrape interval.
STEP_SECONDS = SCRAPE_SECONDS
INGEST_TOKEN = "ingest-token-for-dashboard-tests"
CORE_FIELDS_PASSWORD = "core-fields-password-for-dashboard-tests"
MODELS = build.documents()

ONLY_IN_A_FAULT: dict[tuple[str, str, str], str] = {
    (DATABASE.uid, "Replication lag", "A"):
        "wedsync_db_replication_lag_seconds exists only where replication runs (a replica, or "
        "a primary with replicas); the test's PostgreSQL has none",
    (LOAD_TESTS.uid, "Dropped iterations", "A"):
        "k6 writes k6_dropped_iterations_total only when it runs out of VUs",
}

# Rows the wedding pack counts: weddings today, tomorrow and later this week, Core Fields
# changed just now, forms, supplier invitations (one accepted).
SEED = """
INSERT INTO couples (id) SELECT gen_random_uuid() FROM generate_series(1, 4);
INSERT INTO suppliers (id) SELECT gen_random_uuid() FROM generate_series(1, 2);
INSERT INTO weddings (couple_id, wedding_date, venue)
SELECT id, (now() AT TIME ZONE 'Europe/London')::date + (row_number() OVER ())::int - 1,
       'The Old Barn'
  FROM couples;
INSERT INTO core_fields (couple_id, field, value, updated_at)
SELECT id, 'venue', '"The Old Barn"', now() FROM couples;
INSERT INTO form_submissions (couple_id) SELECT id FROM couples;
INSERT INTO supplier_invitations (supplier_id, couple_id, sent_at, accepted_at)
SELECT s.id, c.id, now() - interval '1 day',
       CASE WHEN row_number() OVER () = 1 THEN now() END
  FROM suppliers s CROSS JOIN (SELECT id FROM couples LIMIT 1) c;
-- Two weddings last Saturday and three next Saturday: the capacity forecast scales by 1.5.
WITH today AS (SELECT (now() AT TIME ZONE 'Europe/London')::date AS d),
     more AS (INSERT INTO couples (id) SELECT gen_random_uuid() FROM generate_series(1, 5)
              RETURNING id),
     numbered AS (SELECT id, row_number() OVER () AS n FROM more)
INSERT INTO weddings (couple_id, wedding_date, venue)
SELECT numbered.id,
       CASE WHEN n <= 2 THEN d - (extract(isodow FROM d)::int % 7 + 1)
            ELSE d + ((5 - extract(isodow FROM d)::int + 7) % 7 + 1) END,
       'The Old Barn'
  FROM numbered, today;
"""

# Last Saturday's usage as the capacity rules recorded it (Prometheus records rules only
# forward, so history comes from the storage): an afternoon ramp of every resource.
LAST_SATURDAY_PEAKS = {"api_requests": 40.0, "db_connections": 0.6,
                       "realtime_roundtrip": 0.08, "redis_memory": 0.5}


def last_saturday_usage(now: datetime) -> str:
    """OpenMetrics text of ``wedsync:capacity_usage:current`` from 14:00 to 16:00 UTC on the
    last Saturday before today, every 30 s, rising to each resource's peak."""
    today = now.astimezone(UTC).date()
    saturday = today - timedelta(days=(today.weekday() - 5) % 7 or 7)
    start = datetime(saturday.year, saturday.month, saturday.day, 14, tzinfo=UTC)
    lines = [f"# TYPE {USAGE} gauge"]
    for resource, peak in LAST_SATURDAY_PEAKS.items():
        for step in range(241):
            at = start + timedelta(seconds=30 * step)
            lines.append(f'{USAGE}{{resource="{resource}"}} {peak * (0.5 + step / 480):.6g} '
                         f"{at.timestamp():.0f}")
    return "\n".join([*lines, "# EOF", ""])


@dataclass
class Observed:
    """The running stack and the time range the dashboards are looked at over."""

    prometheus: PrometheusServer
    start: float

    def window(self) -> tuple[float, float]:
        return self.start, time.time()


def exporter_settings(dsn_variable: str, redis_url: str) -> dict[str, Any]:
    """Every probe every second, the wedding pack, ingestion and validation switched on."""
    return exporter_config(
        database=[{"name": "primary", "dsn": f"${{{dsn_variable}}}", "pool_size": 3,
                   "exposed_schemas": ["public"], "slow_statement_threshold": "1ms"}],
        redis=[{"name": "cache", "url": redis_url}], interval="1s", timeout="2s",
        queries=example_exporter_config()["queries"],
        tokens={"ingest": "${INGEST}"}, rate_limits={"ingestion": "100000/minute"},
        ingestion={"enabled": True}, validation={"enabled": True, "interval": "5s"})


def post_timings(exporter_url: str, batch: int) -> None:
    """Request timings as the API would send them: routes, methods, some errors."""
    events = [{"endpoint": f"/api/clients/{n}", "method": "GET",
               "response_time_ms": 20 + (n * 37) % 400, "status_code": 200}
              for n in range(40)]
    events += [{"endpoint": "/api/payments/process", "method": "POST",
                "response_time_ms": 150 + n * 90, "status_code": 500 if n % 4 == 0 else 201}
               for n in range(12)]
    events += [{"endpoint": "/api/weddings/upcoming", "method": "GET", "response_time_ms": 1300,
                "status_code": 404 if batch else 200}]
    # The application's cache counters per layer, beside the timings.
    cache = [{"layer": layer, "hits": 95 + batch, "misses": 5}
             for layer in ("application", "redis", "cdn")]
    request = urllib.request.Request(
        f"{exporter_url}/api/system/metrics",
        data=json.dumps({"events": events, "cache": cache}).encode(),
        method="POST", headers={"Content-Type": "application/json",
                                "Authorization": f"Bearer {INGEST_TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert json.load(answer)["accepted"] == len(events)


def use_the_cache(redis: RedisServer) -> None:
    """Hits and misses, so the hit ratio is a number."""
    client = redis.client()
    for n in range(20):
        client.set(f"wedding:{n}", "venue")
    for n in range(30):
        client.get(f"wedding:{n}")


@pytest.fixture(scope="module")
def observed(tmp_path_factory) -> Iterator[Observed]:
    # wal_level logical: the sandbox's Realtime serves the Core Fields probe's postgres_changes.
    with PostgresServer(settings=LOGICAL_SETTINGS) as pg, \
            RedisServer(extra=["maxmemory 64mb"]) as redis, contextlib.ExitStack() as cleanup:
        pg.execute("CREATE DATABASE wedsync")
        pg.execute((REPO / "sandbox" / "schema.sql").read_text(), dbname="wedsync")
        pg.execute("CREATE EXTENSION pg_stat_statements", dbname="wedsync")
        pg.execute(SEED, dbname="wedsync")
        dsn = pg.dsn(dbname="wedsync")
        writer_dsn = prepare_core_fields(pg, "wedsync", CORE_FIELDS_PASSWORD, [
            user_id_for(WATCHER_EMAIL), user_id_for(OUTSIDER_EMAIL)])
        # A PgBouncer with traffic in front of the same PostgreSQL, and real BullMQ queues.
        extras = cleanup.enter_context(PoolerAndQueues(pg, redis.url()))
        secrets_dir = tmp_path_factory.mktemp("secrets")

        def secret_file(name: str, text: str) -> str:
            path = secrets_dir / name
            path.write_text(text)
            path.chmod(0o600)
            return str(path)

        # The sandbox writes Auth's audit log into the database the exporter counts it from.
        core_fields = {"write_dsn_file": secret_file("core-fields-dsn", writer_dsn),
                       "postgres_changes": {"enabled": True, **{
                           role: {"email": email, "password_file": secret_file(
                               f"{role}-password", CORE_FIELDS_PASSWORD)}
                           for role, email in (("watcher", WATCHER_EMAIL),
                                               ("outsider", OUTSIDER_EMAIL))}}}
        plugin = StackSandbox(SandboxServer(
            anon_key=CANARY_ANON_KEY, probe_email=PROBE_EMAIL, probe_password=CANARY_PASSWORD,
            database_url=dsn, env={"SANDBOX_WATCHER_PASSWORD": CORE_FIELDS_PASSWORD,
                                   "SANDBOX_OUTSIDER_PASSWORD": CORE_FIELDS_PASSWORD,
                                   "SANDBOX_REALTIME_POLL_INTERVAL": "0.05"}),
            audit_log_interval="1s", external=True, realtime_settings=core_fields)
        options = StackOptions(
            exporter_config={**exporter_settings("DSN", redis.url()),
                             **extras.exporter_sections(secret_file)},
            exporter_env={"DSN": dsn, "INGEST": INGEST_TOKEN},
            scrape_interval=f"{SCRAPE_SECONDS:g}s", evaluation_interval=f"{SCRAPE_SECONDS:g}s",
            for_scale=0.02, webhook=False, sandbox=plugin, node_exporter=True,
            backfill=last_saturday_usage(datetime.now(UTC)))
        start = time.time()
        with Stack(options) as stack:
            assert stack.exporter is not None and stack.prometheus is not None
            use_the_cache(redis)
            post_timings(stack.exporter.url, 0)
            sandbox = plugin.server
            environment = {**os.environ, "ANON_KEY": sandbox.anon_key,
                           "API_TOKEN": sandbox.access_token(),
                           # k6 pushes every second, as often as the exporter is scraped.
                           "K6_PROMETHEUS_RW_PUSH_INTERVAL": "1s"}
            outcome = run(RunSettings(
                profile="smoke", base_url=sandbox.url, realtime_url=realtime_url_for(sandbox.url),
                results=tmp_path_factory.mktemp("k6"), testid=f"dashboards-{uuid.uuid4().hex[:8]}",
                prometheus_url=stack.prometheus.url, overrides={"DURATION": "4s"}, timeout=90),
                environment)
            # Thresholds crossed on a loaded machine (99) still leave every series behind.
            assert outcome.exit_code in (0, 99), (outcome.exit_code, outcome.run_dir)
            use_the_cache(redis)
            post_timings(stack.exporter.url, 1)
            yield Observed(stack.prometheus, start)


# --- Grafana's part: variables and query parameters ----------------------------------------

def label_values(prometheus: PrometheusServer, selector: str, label: str,
                 window: tuple[float, float]) -> list[str]:
    return list(prometheus.api(f"label/{label}/values", **{
        "match[]": selector, "start": f"{window[0]:.3f}", "end": f"{window[1]:.3f}"}))


def variable_values(board: Board, observed: Observed) -> dict[str, str]:
    """What Grafana puts in for each variable of ``board`` on opening it: the first value in
    the variable's sort order, or ``All`` (its allValue) for multi-value variables."""
    start, end = window = observed.window()
    interval = rate_interval(SCRAPE_SECONDS, STEP_SECONDS)
    values = {RATE_INTERVAL: f"{interval:g}s", RANGE: f"{round(end - start)}s"}
    for name, variable in variables(MODELS[board]).items():
        if variable["type"] == "custom":
            values[name] = custom_default(variable)
        elif variable["type"] == "query":
            selector, label = label_values_query(variable) or ("", "")
            found = label_values(observed.prometheus, substitute(selector, values), label,
                                 window)
            assert found, f"{board.uid}: variable ${name} lists no values"
            found.sort(reverse=variable.get("sort") == 2)
            values[name] = variable["allValue"] if variable.get("includeAll") else found[0]
    return values


def returns_a_number(prometheus: PrometheusServer, query: PanelQuery, expr: str,
                     window: tuple[float, float]) -> str | None:
    """None if the query returns a series with a finite value; else what happened."""
    try:
        if query.instant:
            result = prometheus.api("query", query=expr, time=f"{window[1]:.3f}")["result"]
            samples = [r["value"][1] for r in result]
        else:
            result = prometheus.api("query_range", query=expr, start=f"{window[0]:.3f}",
                                    end=f"{window[1]:.3f}", step=f"{STEP_SECONDS:g}")["result"]
            samples = [v for r in result for _, v in r["values"]]
    except urllib.error.HTTPError as error:
        return f"Prometheus refused it: {error.read().decode(errors='replace')}"
    if not result:
        return "no series"
    if not any(math.isfinite(float(v)) for v in samples):
        return "only NaN or infinite values"
    return None


def unanswered(observed: Observed, queries: list[PanelQuery]) -> dict[str, str]:
    values = {board: variable_values(board, observed) for board in MODELS}
    window = observed.window()
    out = {}
    for query in queries:
        problem = returns_a_number(observed.prometheus, query,
                                   substitute(query.expr, values[query.board]), window)
        if problem:
            out[query.name] = problem
    return out


def all_queries() -> list[PanelQuery]:
    return list(panel_queries(MODELS))


def key(query: PanelQuery) -> tuple[str, str, str]:
    return (query.board.uid, query.panel, query.ref)


# --- the tests -----------------------------------------------------------------------------------

def test_every_template_variable_lists_values(observed) -> None:
    for board in MODELS:
        variable_values(board, observed)


def test_every_panel_query_returns_data(observed) -> None:
    queries = [q for q in all_queries() if key(q) not in ONLY_IN_A_FAULT]
    # Some results take a few evaluations to appear (recording rules over recording rules,
    # the first validation run); ask again for those only, for a bounded time.
    deadline = time.monotonic() + 45
    missing = unanswered(observed, queries)
    while missing and time.monotonic() < deadline:
        time.sleep(2)
        missing = unanswered(observed, [q for q in queries if q.name in missing])
    assert not missing, "\n".join(f"{name}: {why}" for name, why in missing.items())


def test_queries_that_only_answer_in_a_fault_still_run_and_are_empty_here(observed) -> None:
    queries = {key(q): q for q in all_queries()}
    assert set(ONLY_IN_A_FAULT) <= set(queries), set(ONLY_IN_A_FAULT) - set(queries)
    found = unanswered(observed, [queries[k] for k in ONLY_IN_A_FAULT])
    for name, why in found.items():
        assert why == "no series", f"{name}: {why}"
    stale = [queries[k].name for k in ONLY_IN_A_FAULT if queries[k].name not in found]
    assert not stale, f"these return data after all; drop their exemption: {stale}"
