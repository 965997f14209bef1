"""Who may read the health document, and what never leaves the exporter: tokens, the anon key
and the probe user's password — also while Auth and Realtime fail. The exporter keeps serving
with every dependency down at once."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from harness.ports import free_port
from harness.sandbox import SandboxServer
from tests.support import (
    CANARY_ANON_KEY,
    CANARY_PASSWORD,
    PROBE_EMAIL,
    eventually,
    exporter_config,
    samples,
    value,
    wait_metrics,
)

ADMIN = "canary-admin-token-93be"
INGEST = "canary-ingest-token-47aa"


def get(url: str, token: str | None = None) -> tuple[int, dict[str, str], bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def probing_config(auth_url: str, realtime_url: str, api_url: str, *, limit: str = "1000/minute",
                   database: str = "${PG}", redis: str = "${REDIS}"):
    return exporter_config(
        database=[{"name": "primary", "dsn": database}],
        redis=[{"name": "cache", "url": redis}],
        auth=[{"name": "supabase", "url": auth_url, "anon_key": "${KEY}",
               "sign_in": {"enabled": True, "email": PROBE_EMAIL, "password": "${PW}"}}],
        realtime=[{"name": "supabase", "url": realtime_url, "anon_key": "${KEY}"},
                  {"name": "dead", "url": f"ws://127.0.0.1:{free_port()}/realtime/v1",
                   "anon_key": "${KEY}"}],
        api=[{"name": "health", "url": api_url}],
        external=[{"name": "payments", "url": api_url}],
        tokens={"admin": "${ADMIN}", "ingest": "${INGEST}"},
        rate_limits={"health": limit},
        log={"level": "debug", "format": "logfmt"},
    )


ENV = {"PG": "postgresql://postgres@127.0.0.1:5432/test", "REDIS": "redis://127.0.0.1:6379/0",
       "KEY": CANARY_ANON_KEY, "PW": CANARY_PASSWORD, "ADMIN": ADMIN, "INGEST": INGEST}


def test_tokens_are_checked_and_the_rate_limit_answers_429(make_exporter, sandbox) -> None:
    exporter = make_exporter(probing_config(sandbox.auth_url, sandbox.realtime_url,
                                            sandbox.api_url, limit="3/minute"), env=ENV)
    url = f"{exporter.url}/api/system/health"
    status, headers, _ = get(url)
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
    assert get(url, "wrong-token")[0] == 401
    assert get(url, ADMIN[:-1])[0] == 401
    assert get(url, INGEST)[0] == 403
    assert [get(url, ADMIN)[0] for _ in range(3)] == [200, 200, 200]
    status, headers, body = get(url, ADMIN)
    assert status == 429 and 1 <= int(headers["Retry-After"]) <= 60
    assert "rate limit" in json.loads(body)["error"]
    text = wait_metrics(exporter, lambda t: value(
        t, "wedsync_http_rate_limited_total", route="health") == 1)
    assert value(text, "wedsync_http_unauthorized_total", route="health") == 4


def test_guard_counters_start_at_zero(make_exporter) -> None:
    exporter = make_exporter(exporter_config(tokens={"admin": "${ADMIN}"}), env=ENV)
    text = wait_metrics(exporter, lambda t: "wedsync_http_unauthorized_total" in t)
    assert value(text, "wedsync_http_unauthorized_total", route="health") == 0
    assert value(text, "wedsync_http_rate_limited_total", route="health") == 0


def test_tokens_are_compared_in_constant_time(monkeypatch) -> None:
    from aiohttp.test_utils import make_mocked_request

    from exporter.config.model import Tokens
    from exporter.web import security

    compared = []
    real = security.hmac.compare_digest

    def recording(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(security.hmac, "compare_digest", recording)
    auth = security.TokenAuth(Tokens(admin=ADMIN, ingest=INGEST))
    request = make_mocked_request("GET", "/", headers={"Authorization": f"Bearer {ADMIN}"})
    assert auth.identify(request) == "admin"
    # Every configured token is compared, even after the match: the time says nothing.
    assert sorted(b for _, b in compared) == sorted([ADMIN.encode(), INGEST.encode()])


def test_secrets_never_leave_even_while_auth_and_realtime_fail(make_exporter, sandbox) -> None:
    exporter = make_exporter(probing_config(sandbox.auth_url, sandbox.realtime_url,
                                            sandbox.api_url), env=ENV)
    exporter.wait_ready()
    seen = []

    def collect() -> None:
        seen.append(exporter.metrics())
        seen.append(get(f"{exporter.url}/api/system/health", ADMIN)[2].decode())
        seen.append(get(f"{exporter.url}/")[2].decode())

    collect()
    faults = [("realtime", {"unavailable": True}), ("realtime", {"drop_socket": True}),
              ("realtime", {"refuse_join": f"InvalidJWTToken: {CANARY_ANON_KEY}"}),
              ("auth", {"unavailable": True})]

    def failures(component: str) -> float:
        text = exporter.metrics()
        return sum(value(text, "wedsync_probe_failures_total", component=component,
                         target="supabase", reason=reason) or 0
                   for reason in ("error", "connect", "auth", "protocol", "timeout"))

    for service, fault in faults:
        sandbox.clear_faults()
        sandbox.set_faults(service, **fault)
        before = failures(service)
        eventually(lambda s=service, b=before: failures(s) > b, timeout=10)
        collect()
    health = json.loads(seen[-2])
    assert health["components"]["realtime"]["status"] == "critical"
    assert health["components"]["auth"]["status"] == "critical"
    logs = exporter.logs()
    assert "failure detail" in logs  # debug details were logged, and masked
    for text in [*seen, logs]:
        for secret in (CANARY_ANON_KEY, CANARY_PASSWORD, ADMIN, INGEST):
            assert secret not in text


def test_the_exporter_keeps_serving_with_every_dependency_down(make_exporter) -> None:
    with SandboxServer(anon_key=CANARY_ANON_KEY) as hung:
        hung.pause()  # Auth, Realtime and the API hang with their sockets open
        try:
            dead = f"127.0.0.1:{free_port()}"
            exporter = make_exporter(probing_config(
                hung.auth_url, hung.realtime_url, hung.api_url,
                database=f"postgresql://postgres@{dead}/x", redis=f"redis://{dead}/0"), env=ENV)
            exporter.wait_ready(timeout=20)
            for _ in range(20):
                started = time.monotonic()
                assert b"wedsync_up" in exporter.get("/metrics")
                status, _, body = get(f"{exporter.url}/api/system/health", ADMIN)
                assert get(f"{exporter.url}/")[0] == 200
                assert time.monotonic() - started < 1.0
                time.sleep(0.1)
            document = json.loads(body)
            assert status == 200 and document["overall_status"] == "critical"
            # Every component this config probes (components added later are not configured).
            assert {k: c["status"] for k, c in document["components"].items()
                    if "targets" in c} == dict.fromkeys(
                ("database", "auth", "realtime", "redis", "api", "external_services"),
                "critical")
            text = exporter.metrics()
            for component in ("database", "redis", "auth", "realtime", "api", "external"):
                found = [v for n, labels, v in samples(text) if n == "wedsync_up"
                         and labels["component"] == component]
                assert found and set(found) == {0.0}, component
        finally:
            hung.resume()

