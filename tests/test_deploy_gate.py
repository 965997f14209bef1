"""The wedding-day deploy gate: GET /api/system/deploy-gate, its override and its command.

The exporter runs in this process with an injected clock; the weddings query reads a fresh
database on a throwaway PostgreSQL; alerts come from a real Alertmanager.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from structlog.testing import capture_logs

from harness.alertmanager import AlertmanagerServer
from harness.ports import free_port
from harness.postgres import PostgresServer
from tests.support import SHARED_REDIS_URL, exporter_config, in_process_exporter, value

REPO = Path(__file__).resolve().parent.parent
GATE = "/api/system/deploy-gate"
OVERRIDE = f"{GATE}/override"
TOKENS = {"deploy": "deploy-token-0123456789", "admin": "admin-token-0123456789",
          "ingest": "ingest-token-0123456789"}
ENV = {f"{kind.upper()}_TOKEN": token for kind, token in TOKENS.items()}

# 00:30 on Saturday 6 June 2026 in London (BST), while UTC still says Friday 23:30.
SATURDAY_WHILE_UTC_SAYS_FRIDAY = datetime(2026, 6, 5, 23, 30, tzinfo=UTC)
# 00:30 on Sunday 7 June 2026 in London, while UTC still says Saturday 23:30.
SUNDAY_WHILE_UTC_SAYS_SATURDAY = datetime(2026, 6, 6, 23, 30, tzinfo=UTC)
# Noon on Wednesday 3 June 2026 in London.
WEDNESDAY_NOON = datetime(2026, 6, 3, 11, 0, tzinfo=UTC)
# 00:30 on Thursday 4 June 2026 in London, while UTC still says Wednesday.
THURSDAY_WHILE_UTC_SAYS_WEDNESDAY = datetime(2026, 6, 3, 23, 30, tzinfo=UTC)
AM_CONFIG = {"route": {"receiver": "null"}, "receivers": [{"name": "null"}]}


# --- fixtures and helpers ---------------------------------------------------------------------
@dataclass
class Database:
    """A fresh database on the throwaway server, with or without the reference schema."""

    server: PostgresServer
    name: str

    @property
    def dsn(self) -> str:
        return self.server.dsn(dbname=self.name)

    def add_weddings(self, day: date, count: int = 1) -> None:
        self.server.execute(
            f"WITH couple AS (INSERT INTO couples DEFAULT VALUES RETURNING id) "
            f"INSERT INTO weddings (couple_id, wedding_date, venue) "
            f"SELECT couple.id, '{day.isoformat()}', 'Venue ' || n "
            f"FROM couple, generate_series(1, {count}) AS n", dbname=self.name)


@pytest.fixture
def make_database(pg_server: PostgresServer, schema_sql: str) -> Iterator[
        Callable[..., Database]]:
    """Fresh databases (dropped at the end) so that no test sees another's weddings."""
    made: list[str] = []

    def make(schema: bool = True) -> Database:
        name = f"gate_{uuid.uuid4().hex[:12]}"
        pg_server.execute(f"CREATE DATABASE {name}")
        made.append(name)
        if schema:
            pg_server.execute(schema_sql, dbname=name)
        return Database(pg_server, name)

    yield make
    for name in made:
        pg_server.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def gate_config(database: Database | None = None, *, redis_url: str | None = None,
                alertmanager_url: str = "", fail_open: bool = False,
                override_max: str = "2h") -> tuple[dict[str, Any], dict[str, str]]:
    """A config with tokens, optionally a database (with the weddings query) and a Redis."""
    env = dict(ENV)
    sections: dict[str, Any] = {
        "tokens": {kind: f"${{{kind.upper()}_TOKEN}}" for kind in TOKENS},
        "alertmanager": {"url": alertmanager_url, "timeout": "1s"},
        "deploy_gate": {"fail_open": fail_open, "override_max_duration": override_max},
    }
    if database is not None:
        env["DB_URL"] = database.dsn
        sections["database"] = [{"name": "primary", "dsn": "${DB_URL}"}]
        sections["queries"] = {"weddings": {"builtin": "weddings", "interval": "60s"}}
    if redis_url is not None:
        env["REDIS_URL"] = redis_url
        sections["redis"] = [{"name": "cache", "url": "${REDIS_URL}"}]
    return exporter_config(**sections), env


@contextlib.asynccontextmanager
async def gate_exporter(config: dict[str, Any], env: dict[str, str],
                        clock: Callable[[], datetime]) -> AsyncIterator[Any]:
    """An in-process exporter whose first round of probes and queries has run."""
    async with in_process_exporter(config, env, clock) as exporter:
        deadline = asyncio.get_running_loop().time() + 20
        while not exporter.service.ready:
            assert asyncio.get_running_loop().time() < deadline, "exporter never got ready"
            await asyncio.sleep(0.05)
        yield exporter


async def ask(exporter: Any, token: str | None = TOKENS["deploy"], method: str = "GET",
              path: str = GATE, body: Any = None) -> tuple[int, Any, dict[str, str]]:
    """(status, JSON body, headers) of one request."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session, session.request(
            method, f"{exporter.url}{path}", json=body, headers=headers) as answer:
        return answer.status, await answer.json(), dict(answer.headers)


def counted(exporter: Any, name: str, **labels: str) -> float | None:
    return exporter.service.store.get(name, labels)


async def run_command(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """``python -m exporter.deploy_gate ARGS`` without blocking the exporter in this loop."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "exporter.deploy_gate", *args, cwd=REPO,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


# --- wedding days -----------------------------------------------------------------------------
def test_saturday_in_london_blocks_while_utc_still_says_friday() -> None:
    async def scenario() -> None:
        config, env = gate_config()
        async with gate_exporter(config, env, lambda: SATURDAY_WHILE_UTC_SAYS_FRIDAY) as exp:
            status, body, headers = await ask(exp)
        assert status == 423
        assert body["allowed"] is False
        assert body["reasons"] == [
            "It is Saturday in Europe/London (2026-06-06), a wedding day."]
        # Until Sunday 00:00 BST: 23 h 30 min, also said as the local time it ends.
        assert body["retry_after"] == 23 * 3600 + 30 * 60
        assert headers["Retry-After"] == str(body["retry_after"])
        assert (body["retry_at"], body["timezone"]) == ("2026-06-07T00:00:00+01:00",
                                                        "Europe/London")

    asyncio.run(scenario())


def test_sunday_in_london_is_no_wedding_day_while_utc_still_says_saturday(make_database) -> None:
    async def scenario() -> None:
        config, env = gate_config(make_database())
        async with gate_exporter(config, env, lambda: SUNDAY_WHILE_UTC_SAYS_SATURDAY) as exp:
            status, body, _ = await ask(exp)
        # Allowed — and the answer says which essential components nobody monitors.
        assert (status, body) == (200, {"allowed": True, "reasons": [], "not_monitored": [
            "auth", "realtime", "redis", "api"]})

    asyncio.run(scenario())


def test_weekday_without_weddings_and_all_healthy_is_allowed(make_database) -> None:
    async def scenario() -> None:
        database = make_database()
        database.add_weddings(date(2026, 6, 4))  # tomorrow's wedding does not block today
        config, env = gate_config(database, redis_url=SHARED_REDIS_URL)
        async with gate_exporter(config, env, lambda: WEDNESDAY_NOON) as exp:
            states = {key: state.status for key, state in exp.service.runtime.states.items()}
            assert states == {("database", "primary"): "healthy", ("redis", "cache"): "healthy"}
            status, body, _ = await ask(exp)
            assert (status, body) == (200, {"allowed": True, "reasons": [], "not_monitored": [
                "auth", "realtime", "api"]})
            assert counted(exp, "wedsync_deploy_gate_checks_total", result="allowed") == 1
            assert counted(exp, "wedsync_deploy_gate_checks_total", result="blocked") == 0

    asyncio.run(scenario())


@pytest.mark.parametrize(("now", "local_day", "retry_after"), [
    (WEDNESDAY_NOON, date(2026, 6, 3), 12 * 3600),
    (THURSDAY_WHILE_UTC_SAYS_WEDNESDAY, date(2026, 6, 4), 23 * 3600 + 30 * 60),
], ids=["wednesday-noon", "thursday-while-utc-says-wednesday"])
def test_weekday_with_weddings_today_blocks_and_counts_them(make_database, now, local_day,
                                                             retry_after) -> None:
    async def scenario() -> None:
        database = make_database()
        database.add_weddings(local_day, count=3)
        database.add_weddings(local_day - timedelta(days=1))  # yesterday's does not count
        config, env = gate_config(database)
        async with gate_exporter(config, env, lambda: now) as exp:
            status, body, _ = await ask(exp)
            assert counted(exp, "wedsync_deploy_gate_checks_total", result="blocked") == 1
        assert status == 423
        assert body["reasons"] == [
            f"It is a wedding day in Europe/London ({local_day.isoformat()}): 3 weddings today."]
        assert body["retry_after"] == retry_after

    asyncio.run(scenario())


def test_weekday_whose_weddings_cannot_be_counted_fails_closed(make_database) -> None:
    async def scenario() -> None:
        config, env = gate_config(make_database(schema=False))  # no weddings table
        async with gate_exporter(config, env, lambda: WEDNESDAY_NOON) as exp:
            status, body, _ = await ask(exp)
        assert status == 423
        assert body["reasons"] == [
            "Whether today (2026-06-03) is a wedding day in Europe/London cannot be known "
            "because the weddings query is turned off (missing table), so the gate fails "
            "closed."]
        assert body["retry_after"] == 60

    asyncio.run(scenario())


def test_weekday_without_a_weddings_query_fails_closed() -> None:
    async def scenario() -> None:
        config, env = gate_config()
        async with gate_exporter(config, env, lambda: WEDNESDAY_NOON) as exp:
            status, body, _ = await ask(exp)
        assert status == 423
        assert "no built-in weddings query is configured" in body["reasons"][0]

    asyncio.run(scenario())


# --- overall status -------------------------------------------------------------------------
def test_critical_overall_status_blocks_and_names_the_component(make_database) -> None:
    async def scenario() -> None:
        dead_redis = f"redis://127.0.0.1:{free_port()}/0"
        config, env = gate_config(make_database(), redis_url=dead_redis)
        async with gate_exporter(config, env, lambda: WEDNESDAY_NOON) as exp:
            status, body, _ = await ask(exp)
        assert status == 423
        assert body["reasons"] == ["Overall status is critical: redis (cache) is critical."]
        assert body["retry_after"] == 60

    asyncio.run(scenario())


# --- Alertmanager -----------------------------------------------------------------------------
def _alert(name: str, severity: str) -> dict[str, Any]:
    return {"labels": {"alertname": name, "severity": severity, "service": "wedsync"}}


def _silence(am: AlertmanagerServer, alertname: str) -> None:
    import json
    import urllib.request

    now = datetime.now(UTC)
    silence = {"matchers": [{"name": "alertname", "value": alertname, "isRegex": False}],
               "startsAt": now.isoformat(), "endsAt": (now + timedelta(hours=1)).isoformat(),
               "createdBy": "tests", "comment": "known and handled"}
    request = urllib.request.Request(f"{am.url}/api/v2/silences", method="POST",
                                     data=json.dumps(silence).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10):
        pass


def test_critical_alert_in_alertmanager_blocks_and_is_named(make_database) -> None:
    async def scenario(am: AlertmanagerServer) -> None:
        config, env = gate_config(make_database(), alertmanager_url=am.url)
        async with gate_exporter(config, env, lambda: WEDNESDAY_NOON) as exp:
            status, body, _ = await ask(exp)
            assert (status, body["allowed"], body["reasons"]) == (200, True, [])
            _silence(am, "WedSyncSilencedOutage")
            await asyncio.to_thread(am.post_alerts, [
                _alert("WedSyncDatabaseDown", "critical"),
                _alert("WedSyncCacheHitRatioLow", "warning"),
                _alert("WedSyncSilencedOutage", "critical"),
            ])
            status, body, _ = await ask(exp)
        assert status == 423
        assert body["reasons"] == [
            "A critical alert is firing in Alertmanager: WedSyncDatabaseDown."]
        assert body["retry_after"] == 60

    with AlertmanagerServer(AM_CONFIG) as am:
        asyncio.run(scenario(am))


@pytest.mark.parametrize("fail_open", [False, True], ids=["fail-closed", "fail-open"])
def test_alertmanager_down_blocks_unless_fail_open(make_database, fail_open) -> None:
    async def scenario() -> None:
        config, env = gate_config(make_database(), fail_open=fail_open,
                                  alertmanager_url=f"http://127.0.0.1:{free_port()}")
        with capture_logs() as logs:
            async with gate_exporter(config, env, lambda: WEDNESDAY_NOON) as exp:
                status, body, _ = await ask(exp)
        sentence = "Alertmanager could not be asked about critical alerts (it could not be "\
                   "reached)"
        if fail_open:
            assert status == 200
            assert body["allowed"] is True and body["reasons"] == []
            assert body["warnings"][0].startswith(sentence)
            assert any(entry["event"].startswith("alertmanager could not be asked")
                       for entry in logs)
        else:
            assert status == 423
            assert body["reasons"] == [f"{sentence}, so the gate fails closed."]

    asyncio.run(scenario())


# --- tokens and overrides ---------------------------------------------------------------------
def test_gate_answers_only_the_deploy_and_admin_tokens() -> None:
    async def scenario() -> None:
        config, env = gate_config()
        async with gate_exporter(config, env, lambda: SATURDAY_WHILE_UTC_SAYS_FRIDAY) as exp:
            assert (await ask(exp, token=None))[0] == 401
            assert (await ask(exp, token="not-a-token"))[0] == 401
            assert (await ask(exp, token=TOKENS["ingest"]))[0] == 403
            assert (await ask(exp, token=TOKENS["admin"]))[0] == 423
            assert (await ask(exp, token=TOKENS["deploy"]))[0] == 423
            assert counted(exp, "wedsync_deploy_gate_checks_total", result="blocked") == 2

    asyncio.run(scenario())


@pytest.mark.parametrize(("token", "body", "status", "message"), [
    (None, {"reason": "Hotfix for the payment outage"}, 401, "bearer token"),
    ("wrong-token-0123456789", {"reason": "Hotfix for the payment outage"}, 401, "bearer token"),
    (TOKENS["deploy"], {"reason": "Hotfix for the payment outage"}, 403, "admin token"),
    (TOKENS["admin"], {}, 400, "written reason"),
    (TOKENS["admin"], {"reason": "   "}, 400, "written reason"),
    (TOKENS["admin"], {"reason": "hotfix"}, 400, "at least 10 characters"),
    (TOKENS["admin"], {"reason": "Hotfix for the payment outage", "duration": "5h"}, 400,
     "longest override"),
    (TOKENS["admin"], {"reason": "Hotfix for the payment outage", "duration": "soon"}, 400,
     "duration"),
    (TOKENS["admin"], {"reason": "Hotfix for the payment outage", "until": "tonight"}, 400,
     "unknown field(s) until"),
], ids=["no-token", "wrong-token", "deploy-token", "no-reason", "blank-reason", "short-reason",
        "too-long", "not-a-duration", "unknown-field"])
def test_override_without_admin_token_or_written_reason_is_refused(token, body, status,
                                                                     message) -> None:
    async def scenario() -> None:
        config, env = gate_config()
        async with gate_exporter(config, env, lambda: SATURDAY_WHILE_UTC_SAYS_FRIDAY) as exp:
            answer = await ask(exp, token=token, method="POST", path=OVERRIDE, body=body)
            assert answer[0] == status
            assert message in answer[1]["error"]
            # Nothing changed: still blocked, no override counted.
            assert (await ask(exp))[0] == 423
            assert counted(exp, "wedsync_deploy_gate_overrides_total") == 0

    asyncio.run(scenario())


def test_override_that_is_not_json_is_refused() -> None:
    async def scenario() -> None:
        config, env = gate_config()
        async with gate_exporter(config, env, lambda: SATURDAY_WHILE_UTC_SAYS_FRIDAY) as exp:
            headers = {"Authorization": f"Bearer {TOKENS['admin']}"}
            async with aiohttp.ClientSession() as session, session.post(
                    f"{exp.url}{OVERRIDE}", data=b"reason=hotfix", headers=headers) as answer:
                assert answer.status == 400
                assert "not JSON" in (await answer.json())["error"]

    asyncio.run(scenario())


def test_override_allows_deploys_for_its_duration_logged_and_counted() -> None:
    now = [SATURDAY_WHILE_UTC_SAYS_FRIDAY]

    async def scenario() -> None:
        config, env = gate_config()
        async with gate_exporter(config, env, lambda: now[0]) as exp:
            with capture_logs() as logs:
                status, body, _ = await ask(exp, token=TOKENS["admin"], method="POST",
                                            path=OVERRIDE, body={
                                                "reason": "Hotfix: RSVP form drops guests",
                                                "duration": "45m", "by": "alice (on-call)"})
                assert status == 201
                assert body["override"]["expires_at"] == "2026-06-06T00:15:00Z"
                status, body, _ = await ask(exp)
            assert status == 200
            assert body["allowed"] is True and body["reasons"] == []
            assert body["override"]["reason"] == "Hotfix: RSVP form drops guests"
            assert body["override"]["overridden_reasons"] == [
                "It is Saturday in Europe/London (2026-06-06), a wedding day."]
            assert counted(exp, "wedsync_deploy_gate_overrides_total") == 1
            opened = [e for e in logs if e["event"] == "deploy gate override opened"]
            assert opened and opened[0]["reason"] == "Hotfix: RSVP form drops guests"
            assert opened[0]["by"] == "alice (on-call)"
            assert any(e["event"] == "deploy allowed by override" for e in logs)
            for entry in logs:  # the admin token never reaches a log line
                assert TOKENS["admin"] not in repr(entry)

            now[0] += timedelta(minutes=46)  # the override has expired
            assert (await ask(exp))[0] == 423

            await ask(exp, token=TOKENS["admin"], method="POST", path=OVERRIDE,
                      body={"reason": "Second hotfix for the RSVP form"})
            assert (await ask(exp))[0] == 200
            status, body, _ = await ask(exp, token=TOKENS["admin"], method="DELETE",
                                        path=OVERRIDE)
            assert (status, body["ended"]) == (200, True)
            assert (await ask(exp))[0] == 423
            assert counted(exp, "wedsync_deploy_gate_overrides_total") == 2
            text = exp.service.renderer.refresh().plain.decode()
            assert value(text, "wedsync_deploy_gate_overrides_total") == 2
            assert TOKENS["admin"] not in text

    asyncio.run(scenario())


def test_overrides_can_be_turned_off() -> None:
    async def scenario() -> None:
        config, env = gate_config(override_max="0s")
        async with gate_exporter(config, env, lambda: SATURDAY_WHILE_UTC_SAYS_FRIDAY) as exp:
            status, body, _ = await ask(exp, token=TOKENS["admin"], method="POST",
                                        path=OVERRIDE,
                                        body={"reason": "Hotfix for the payment outage"})
        assert status == 409
        assert "turned off" in body["error"]

    asyncio.run(scenario())


def test_gate_counters_start_at_zero() -> None:
    async def scenario() -> None:
        config, env = gate_config()
        async with gate_exporter(config, env, lambda: WEDNESDAY_NOON) as exp:
            text = exp.service.renderer.refresh().plain.decode()
        for result in ("allowed", "blocked"):
            assert value(text, "wedsync_deploy_gate_checks_total", result=result) == 0
        assert value(text, "wedsync_deploy_gate_overrides_total") == 0

    asyncio.run(scenario())


# --- the command ------------------------------------------------------------------------------
def test_command_against_an_unreachable_exporter_exits_3() -> None:
    code, out, err = asyncio.run(run_command(
        "--url", f"http://127.0.0.1:{free_port()}", "--token", TOKENS["deploy"]))
    assert code == 3
    assert "could not be reached" in err and "do not deploy" in err
    assert TOKENS["deploy"] not in out + err


def test_command_without_a_token_exits_2() -> None:
    code, _, err = asyncio.run(run_command("--url", "http://127.0.0.1:9"))
    assert code == 2
    assert "WEDSYNC_DEPLOY_TOKEN" in err


def test_command_exits_1_when_blocked_and_0_under_an_override(tmp_path) -> None:
    token_file = tmp_path / "admin-token"
    token_file.write_text(TOKENS["admin"] + "\n")

    async def scenario() -> None:
        config, env = gate_config()
        async with gate_exporter(config, env, lambda: SATURDAY_WHILE_UTC_SAYS_FRIDAY) as exp:
            deploy_env = {"WEDSYNC_DEPLOY_TOKEN": TOKENS["deploy"], "WEDSYNC_EXPORTER_URL":
                          exp.url}
            code, out, _ = await run_command(env=deploy_env)
            assert code == 1
            assert "Deploy BLOCKED" in out
            assert "It is Saturday in Europe/London (2026-06-06), a wedding day." in out
            # A time a person reads, not a count of seconds.
            assert ("Blocked until 00:00 Europe/London, in 23 h 30 min at the earliest; ask "
                    "again then.") in out
            assert " s at the earliest" not in out
            assert ("Not monitored: database, auth, realtime, redis, api (essential, but no "
                    "target is configured, so this gate cannot see them).") in out

            code, out, err = await run_command(
                "override", "--url", exp.url, "--token-file", str(token_file),
                "--reason", "Hotfix: RSVP form drops guests", "--duration", "20m")
            assert code == 0, err
            code, out, _ = await run_command(env=deploy_env)
            assert code == 0
            assert "Deploy allowed" in out
            assert "overridden: It is Saturday" in out

            code, _, err = await run_command("--url", exp.url, "--token", "wrong-token-000000")
            assert code == 3
            assert "HTTP 401" in err

    asyncio.run(scenario())


def test_command_exits_0_when_allowed(make_database) -> None:
    async def scenario() -> None:
        config, env = gate_config(make_database())
        async with gate_exporter(config, env, lambda: WEDNESDAY_NOON) as exp:
            code, out, _ = await run_command(
                "check", "--url", exp.url, env={"WEDSYNC_DEPLOY_TOKEN": TOKENS["deploy"]})
        assert code == 0
        assert out.startswith("Deploy allowed")

    asyncio.run(scenario())


@contextlib.asynccontextmanager
async def serving(handler: Callable[[web.Request], Any]) -> AsyncIterator[str]:
    """A small HTTP server answering the gate's path with ``handler``; yields its base URL."""
    app = web.Application()
    app.router.add_get(GATE, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def test_command_treats_an_answer_that_is_not_the_gate_as_no_answer() -> None:
    async def not_the_gate(_: web.Request) -> web.Response:
        # What a misrouted URL might answer: 200, JSON, but no gate decision in it.
        return web.json_response({"status": "ok"})

    async def scenario() -> None:
        async with serving(not_the_gate) as url:
            code, _, err = await run_command("--url", url, "--token", TOKENS["deploy"])
        assert code == 3
        assert "not a deploy-gate answer" in err

    asyncio.run(scenario())


def test_command_does_not_follow_a_redirect_with_the_token() -> None:
    seen: list[str | None] = []

    async def elsewhere(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        return web.json_response({"allowed": True, "reasons": []})

    async def scenario() -> None:
        async with serving(elsewhere) as other:
            async def redirect(_: web.Request) -> web.Response:
                raise web.HTTPFound(f"{other}{GATE}")

            async with serving(redirect) as url:
                code, _, err = await run_command("--url", url, "--token", TOKENS["deploy"])
        assert code == 3
        assert "redirect (HTTP 302)" in err
        assert seen == []

    asyncio.run(scenario())
