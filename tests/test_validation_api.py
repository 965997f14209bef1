"""POST /api/architecture/validate and the background validation run, against running servers."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.config.model import Thresholds
from exporter.status import TargetState
from exporter.validation import database
from exporter.validation.findings import SEVERITIES, VALIDATION_TYPES, Finding, answer
from exporter.validation.reachability import validate_probed
from exporter.validation.redis import validate_redis
from exporter.validation.settings import validation_settings
from harness.redis import RedisServer
from tests.probes_support import http_target, redis_target
from tests.support import exporter_config, samples, value, wait_metrics

ADMIN = "admin-token-for-tests"
INGEST = "ingest-token-for-tests"
ENV = {"ADMIN_TOKEN": ADMIN, "INGEST_TOKEN": INGEST}
TOKENS = {"admin": "${ADMIN_TOKEN}", "ingest": "${INGEST_TOKEN}"}


def ask(url: str, body: Any, token: str = ADMIN, raw: bytes | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{url}/api/architecture/validate", method="POST",
        data=raw if raw is not None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def defective_exporter(make_exporter, pg_server, wedsync_database):
    """An exporter on a copy of the reference schema with one table that has RLS off."""
    pg_server.execute("CREATE TABLE public.supplier_notes (id int PRIMARY KEY, body text)",
                      dbname=wedsync_database)
    return make_exporter(exporter_config(
        database=[{"name": "primary", "dsn": "${PG_DSN}"}], tokens=TOKENS,
        rate_limits={"validation": "1000/minute"},
        validation={"interval": "1s"}),
        env={**ENV, "PG_DSN": pg_server.dsn(dbname=wedsync_database)})


def test_rls_switched_off_makes_the_permissions_answer_invalid(defective_exporter) -> None:
    status, reply = ask(defective_exporter.url, {"component": "database",
                                                 "validation_type": "permissions"})
    assert status == 200
    assert reply["valid"] is False and reply["severity"] == "critical"
    assert [(i["check"], i["severity"]) for i in reply["issues"]] == [
        ("rls_disabled_in_public", "critical")]
    assert "public.supplier_notes" in reply["issues"][0]["message"]
    assert reply["recommendations"] == [reply["issues"][0]["recommendation"]]
    status, reply = ask(defective_exporter.url, {"component": "database",
                                                 "validation_type": "schema"})
    assert (status, reply["valid"], reply["issues"], reply["severity"]) == (200, True, [], "info")


def test_background_run_exports_counts_without_table_names(defective_exporter) -> None:
    text = wait_metrics(defective_exporter, lambda t: value(
        t, "wedsync_validation_last_run_success") == 1, timeout=20)
    assert value(text, "wedsync_validation_findings", check="rls_disabled_in_public",
                 severity="critical") == 1
    assert value(text, "wedsync_validation_findings", check="no_primary_key",
                 severity="warning") == 0
    assert value(text, "wedsync_validation_last_run_timestamp_seconds") > 0
    assert "supplier_notes" not in text
    checks = {labels["check"] for name, labels, _ in samples(text)
              if name == "wedsync_validation_findings"}
    # Only the components that have targets were checked (auth_users_exposed is a database
    # check), and deployment, which needs none.
    others = {name for kind in VALIDATION_TYPES for name, _ in database.checks_of(kind)}
    assert not any(c.startswith(("redis_", "auth_", "realtime_", "api_"))
                   for c in checks - others)
    # The security audit and deployment are in the metrics: this server has no TLS and no
    # archiving; nobody asks Alertmanager here.
    assert value(text, "wedsync_validation_findings", check="ssl_off", severity="error") == 1
    assert value(text, "wedsync_validation_findings", check="wal_archiving_off",
                 severity="error") == 1
    assert value(text, "wedsync_validation_findings", check="anon_table_without_rls",
                 severity="critical") == 0
    assert value(text, "wedsync_validation_findings", check="deploy_probes_stale",
                 severity="error") == 0


@pytest.mark.parametrize(("body", "fragment"), [
    ({"component": "mainframe", "validation_type": "schema"}, "unknown component 'mainframe'"),
    ({"component": "database", "validation_type": "vibes"}, "unknown validation_type 'vibes'"),
    ([], 'expected {"component"'),
])
def test_unknown_questions_are_400s_that_list_the_known_ones(make_exporter, body: Any,
                                                             fragment: str) -> None:
    exporter = make_exporter(exporter_config(tokens=TOKENS), env=ENV)
    status, reply = ask(exporter.url, body)
    assert status == 400 and fragment in reply["error"]
    assert "database, auth, realtime, redis, api" in reply["error"]
    assert "schema, permissions, performance, security" in reply["error"]


def test_pairs_with_nothing_to_check_are_valid_with_a_note(make_exporter) -> None:
    exporter = make_exporter(exporter_config(tokens=TOKENS), env=ENV)
    for component, kind in (("auth", "schema"), ("redis", "security"), ("api", "performance"),
                            ("database", "permissions")):
        status, reply = ask(exporter.url, {"component": component, "validation_type": kind})
        assert status == 200
        assert reply["valid"] is True and reply["severity"] == "info"
        assert [i["severity"] for i in reply["issues"]] == ["info"]
        assert "nothing to check" in reply["issues"][0]["message"]
    assert ask(exporter.url, None, raw=b"{oops")[0] == 400


def test_validation_needs_the_admin_token_and_is_rate_limited(make_exporter) -> None:
    exporter = make_exporter(exporter_config(tokens=TOKENS, rate_limits={"validation": "2/minute"}),
                             env=ENV)
    question = {"component": "api", "validation_type": "schema"}
    assert ask(exporter.url, question, token=INGEST)[0] == 403
    assert ask(exporter.url, question, token="nope")[0] == 401
    assert [ask(exporter.url, question)[0] for _ in range(3)] == [200, 200, 429]


def redis_findings(server: RedisServer) -> list[tuple[str | None, str]]:
    target = redis_target(server.url(), interval=15, timeout=2)
    findings = asyncio.run(validate_redis(target, validation_settings({})))
    return [(f.check, f.severity) for f in findings]


def test_each_redis_check_finds_exactly_its_defect() -> None:
    with RedisServer(extra=["maxmemory 64mb", "maxmemory-policy allkeys-lru"]) as server:
        client = server.client()
        assert redis_findings(server) == []
        client.config_set("maxmemory", 0)
        assert redis_findings(server) == [("redis_maxmemory_unset", "warning")]
        client.config_set("maxmemory", "64mb")
        client.config_set("maxmemory-policy", "noeviction")
        assert redis_findings(server) == [("redis_eviction_policy_unsuitable", "warning")]
        client.config_set("maxmemory-policy", "allkeys-lfu")
        client.set("known", 1)
        pipe = client.pipeline(transaction=False)
        for n in range(1200):
            pipe.get("known" if n % 2 else f"missing-{n}")
        pipe.execute()
        assert redis_findings(server) == [("redis_hit_ratio_low", "warning")]
        port = server.port
    gone = RedisServer(port=port)
    assert redis_findings(gone) == [("redis_unreachable", "critical")]


def test_probed_components_are_judged_from_their_last_probe() -> None:
    limits = Thresholds(degraded=0.2, critical=1.0)
    targets = tuple(http_target("http://x", name=n, interval=15, timeout=5, thresholds=limits)
                    for n in ("fast", "slow", "very-slow", "down", "new"))
    now = datetime.now(UTC)
    states = {("api", "fast"): TargetState("api", "fast", up=True, latency=0.05, checked_at=now),
              ("api", "slow"): TargetState("api", "slow", up=True, latency=0.3, checked_at=now),
              ("api", "very-slow"): TargetState("api", "very-slow", up=True, latency=2.0),
              ("api", "down"): TargetState("api", "down", up=False,
                                           last_error="connect: connection refused")}
    findings = validate_probed("api", targets, states)
    assert [(f.check, f.severity) for f in findings] == [
        ("api_latency_high", "warning"), ("api_latency_high", "error"),
        ("api_unreachable", "critical"), (None, "info")]
    assert "connection refused" in findings[2].message
    reply = answer(findings)
    assert reply["valid"] is False and reply["severity"] == "critical"
    assert validate_probed("auth", (), {})[0].message == (
        "no auth target is configured; nothing to check")


findings_strategy = st.lists(st.builds(
    Finding, check=st.one_of(st.none(), st.sampled_from(["a", "b"])),
    severity=st.sampled_from(SEVERITIES), message=st.text(max_size=10),
    recommendation=st.sampled_from(["", "do x", "do y"])), max_size=8)


@settings(max_examples=200, deadline=None)
@given(findings_strategy)
def test_an_answer_is_invalid_exactly_when_an_issue_is_error_or_critical(findings) -> None:
    reply = answer(findings)
    assert reply["valid"] == all(f.severity in ("info", "warning") for f in findings)
    assert reply["severity"] == max((f.severity for f in findings), key=SEVERITIES.index,
                                    default="info")
    assert len(reply["issues"]) == len(findings)
    assert sorted(reply["recommendations"]) == sorted(
        {f.recommendation for f in findings if f.recommendation})


def test_an_unreachable_database_is_critical_and_tried_once_per_run(make_exporter) -> None:
    exporter = make_exporter(exporter_config(
        database=[{"name": "primary", "dsn": "postgresql://postgres@127.0.0.1:1/x"}],
        tokens=TOKENS, validation={"interval": "1s"}), env=ENV)
    status, reply = ask(exporter.url, {"component": "database", "validation_type": "schema"})
    assert status == 200 and reply["valid"] is False and reply["severity"] == "critical"
    assert reply["issues"][0]["check"] == "database_unreachable"
    assert "127.0.0.1" not in json.dumps(reply)
    text = wait_metrics(exporter, lambda t: value(
        t, "wedsync_validation_last_run_success") == 1)
    assert value(text, "wedsync_validation_findings", check="database_unreachable",
                 severity="critical") == 1
    exporter.wait_ready()
