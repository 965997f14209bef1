"""The sandbox speaks GoTrue's and Realtime's protocols and applies every fault it offers."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import aiohttp
import pytest

from harness.sandbox import SandboxServer
from sandbox.faults import FaultBoard, FaultError
from sandbox.server import Sandbox
from sandbox.settings import Settings
from sandbox.tokens import issue
from tests.support import CANARY_ANON_KEY, CANARY_PASSWORD, PROBE_EMAIL

KEY = {"apikey": CANARY_ANON_KEY}


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


async def fetch(method: str, url: str, **kw):
    async with aiohttp.ClientSession() as session, session.request(method, url, **kw) as r:
        text = await r.text()
        return r.status, (json.loads(text) if text else None), r.headers


class Socket:
    """A bare Phoenix vsn 1.0.0 client for the tests."""

    def __init__(self, ws):
        self.ws = ws
        self.ref = 0

    async def send(self, topic, event, payload, join_ref=None):
        self.ref += 1
        message = {"topic": topic, "event": event, "payload": payload, "ref": str(self.ref)}
        if join_ref:
            message["join_ref"] = join_ref
        await self.ws.send_str(json.dumps(message))
        return str(self.ref)

    async def next(self, timeout=5.0):
        frame = await self.ws.receive(timeout=timeout)
        assert frame.type == aiohttp.WSMsgType.TEXT, frame
        return json.loads(frame.data)

    async def reply(self, ref, timeout=5.0):
        while True:
            message = await self.next(timeout)
            if message["event"] == "phx_reply" and message["ref"] == ref:
                return message["payload"]

    async def join(self, topic, self_broadcast=True, ack=True, **extra):
        ref = await self.send(topic, "phx_join", {
            "config": {"broadcast": {"self": self_broadcast, "ack": ack},
                       "presence": {"enabled": False}, "private": False}, **extra})
        return await self.reply(ref)


def socket_url(sandbox, key=CANARY_ANON_KEY):
    return f"{sandbox.realtime_url}/websocket?apikey={key}&vsn=1.0.0"


# --- Auth ---------------------------------------------------------------------------------

def test_auth_health_needs_the_anon_key_like_the_gateway(sandbox) -> None:
    url = f"{sandbox.auth_url}/health"
    status, body, _ = run(fetch("GET", url))
    assert (status, body) == (401, {"message": "No API key found in request"})
    status, body, _ = run(fetch("GET", url, headers={"apikey": "wrong"}))
    assert status == 401 and body == {"message": "Invalid authentication credentials"}
    status, body, headers = run(fetch("GET", url, headers=KEY))
    assert status == 200 and body["name"] == "GoTrue" and "version" in body
    assert "stand-in" in body["description"] and "not Supabase" in headers["X-Stand-In"]


def test_password_grant_issues_tokens_and_refuses_a_wrong_password(sandbox) -> None:
    url = f"{sandbox.auth_url}/token?grant_type=password"
    status, body, _ = run(fetch("POST", url, headers=KEY,
                                json={"email": PROBE_EMAIL, "password": CANARY_PASSWORD}))
    assert status == 200
    assert {"access_token", "token_type", "expires_in", "expires_at", "refresh_token",
            "user"} <= set(body)
    assert body["user"]["email"] == PROBE_EMAIL
    status, user, _ = run(fetch("GET", f"{sandbox.auth_url}/user", headers={
        **KEY, "Authorization": f"Bearer {body['access_token']}"}))
    assert status == 200 and user["email"] == PROBE_EMAIL
    status, refreshed, _ = run(fetch(
        "POST", f"{sandbox.auth_url}/token?grant_type=refresh_token", headers=KEY,
        json={"refresh_token": body["refresh_token"]}))
    assert status == 200 and refreshed["access_token"]
    status, wrong, _ = run(fetch("POST", url, headers=KEY,
                                 json={"email": PROBE_EMAIL, "password": "nope"}))
    assert status == 400
    assert wrong == {"code": 400, "error_code": "invalid_credentials",
                     "msg": "Invalid login credentials"}
    status, _, _ = run(fetch("POST", url, json={"email": PROBE_EMAIL,
                                                "password": CANARY_PASSWORD}))
    assert status == 401


# --- Realtime -----------------------------------------------------------------------------

def test_realtime_join_heartbeat_broadcast_ack_and_self_echo(sandbox) -> None:
    async def scenario():
        async with aiohttp.ClientSession() as session, \
                session.ws_connect(socket_url(sandbox)) as a, \
                session.ws_connect(socket_url(sandbox)) as b:
            alice, bob = Socket(a), Socket(b)
            assert await alice.join("realtime:room1") == {
                "status": "ok", "response": {"postgres_changes": []}}
            assert (await bob.join("realtime:room1", self_broadcast=False))["status"] == "ok"
            beat = await alice.send("phoenix", "heartbeat", {})
            assert await alice.reply(beat) == {"status": "ok", "response": {}}
            payload = {"type": "broadcast", "event": "probe", "payload": {"nonce": "n1"}}
            ref = await alice.send("realtime:room1", "broadcast", payload, join_ref="1")
            seen = [await alice.next(), await alice.next()]
            ack = next(m for m in seen if m["event"] == "phx_reply")
            echo = next(m for m in seen if m["event"] == "broadcast")
            assert ack["ref"] == ref and ack["payload"]["status"] == "ok"
            assert echo == {"topic": "realtime:room1", "event": "broadcast",
                            "payload": payload, "ref": None}
            assert (await bob.next())["payload"] == payload
            # Bob joined without `self`: his own broadcast reaches Alice, not him.
            await bob.send("realtime:room1", "broadcast", {**payload, "payload": {"n": 2}})
            assert (await bob.next())["event"] == "phx_reply"
            assert (await alice.next())["payload"]["payload"] == {"n": 2}
            with pytest.raises(asyncio.TimeoutError):
                await bob.next(timeout=0.3)

    run(scenario())


def test_realtime_join_errors_carry_realtimes_reasons(sandbox) -> None:
    async def scenario():
        async with aiohttp.ClientSession() as session, \
                session.ws_connect(socket_url(sandbox)) as ws:
            client = Socket(ws)
            assert (await client.join("room1"))["response"] == {"reason": "unmatched topic"}
            ref = await client.send("realtime:never-joined", "broadcast", {})
            assert (await client.reply(ref))["response"]["reason"] == "unmatched topic"
            expired = issue({"role": "authenticated", "exp": int(time.time()) - 5}, "x")
            refused = await client.join("realtime:room1", access_token=expired)
            assert refused["status"] == "error"
            assert refused["response"]["reason"].startswith("JwtSignatureError:")
            sandbox.set_faults("realtime", refuse_join="Unauthorized: no access to this topic")
            refused = await client.join("realtime:room1")
            assert refused == {"status": "error", "response": {
                "reason": "Unauthorized: no access to this topic"}}

    run(scenario())


def test_realtime_refuses_a_missing_or_wrong_apikey_at_the_upgrade(sandbox) -> None:
    async def scenario(key):
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
                await session.ws_connect(socket_url(sandbox, key))
            return caught.value.status

    assert run(scenario("wrong")) == 401
    assert run(scenario("")) == 401


def test_echo_delay_slows_delivery_but_not_the_ack(sandbox) -> None:
    sandbox.set_faults("realtime", echo_delay_ms=150)

    async def scenario():
        async with aiohttp.ClientSession() as session, \
                session.ws_connect(socket_url(sandbox)) as ws:
            client = Socket(ws)
            await client.join("realtime:slow")
            started = time.perf_counter()
            await client.send("realtime:slow", "broadcast",
                              {"type": "broadcast", "event": "e", "payload": {}})
            ack = await client.next()
            acked = time.perf_counter() - started
            echo = await client.next()
            echoed = time.perf_counter() - started
            assert ack["event"] == "phx_reply" and echo["event"] == "broadcast"
            return acked, echoed

    acked, echoed = run(scenario())
    assert acked < 0.1
    assert echoed >= 0.15


def test_dropped_socket_fault_cuts_the_connection_at_the_next_frame(sandbox) -> None:
    async def scenario():
        async with aiohttp.ClientSession() as session, \
                session.ws_connect(socket_url(sandbox)) as ws:
            sandbox.set_faults("realtime", drop_socket=True)
            await Socket(ws).send("realtime:x", "phx_join", {})
            frame = await ws.receive(timeout=5)
            return frame.type

    assert run(scenario()) in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR,
                               aiohttp.WSMsgType.CLOSE)


# --- HTTP faults --------------------------------------------------------------------------

def test_latency_503_hang_and_drop_apply_to_their_service_only(sandbox) -> None:
    health = f"{sandbox.auth_url}/health"
    sandbox.set_faults("auth", latency_ms=200)
    started = time.perf_counter()
    assert run(fetch("GET", health, headers=KEY))[0] == 200
    assert time.perf_counter() - started >= 0.2
    started = time.perf_counter()
    assert run(fetch("GET", sandbox.api_url))[0] == 200
    assert time.perf_counter() - started < 0.2
    sandbox.set_faults("auth", latency_ms=0, unavailable=True)
    assert run(fetch("GET", health, headers=KEY))[0] == 503
    sandbox.set_faults("auth", unavailable=False, hang=True)

    async def hung():
        timeout = aiohttp.ClientTimeout(total=0.5)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            with pytest.raises(asyncio.TimeoutError):
                await session.get(health, headers=KEY)

    run(hung())
    sandbox.set_faults("auth", hang=False, drop_socket=True)

    async def dropped():
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.ClientError):
                await session.get(health, headers=KEY)

    run(dropped())
    sandbox.clear_faults("auth")
    assert run(fetch("GET", health, headers=KEY))[0] == 200


def test_fault_control_refuses_bad_input_and_changes_nothing(sandbox) -> None:
    def control(method, path, body):
        request = urllib.request.Request(f"{sandbox.url}/_sandbox/faults{path}", method=method,
                                         data=body)
        try:
            with urllib.request.urlopen(request) as answer:
                return answer.status, json.load(answer)
        except urllib.error.HTTPError as exc:
            return exc.code, json.load(exc)

    before = sandbox.faults()
    status, body = control("PATCH", "/nosuch", b"{}")
    assert status == 404 and "auth, realtime, api" in body["error"]
    status, body = control("PATCH", "/auth", b'{"echo_delay_ms": 10}')
    assert status == 400 and "echo_delay_ms" in body["error"]
    status, body = control("PATCH", "/realtime", b'{"latency_ms": true}')
    assert status == 400 and "latency_ms" in body["error"]
    status, body = control("PATCH", "/realtime", b"not json")
    assert status == 400 and "JSON" in body["error"]
    assert sandbox.faults() == before


def test_python_fault_api_validates_like_the_http_one() -> None:
    board = FaultBoard(("auth", "realtime", "api"))
    board.set("realtime", echo_delay_ms=50, refuse_join="Unauthorized: x")
    assert board.get("realtime").active() == {"echo_delay_ms": 50.0,
                                              "refuse_join": "Unauthorized: x"}
    with pytest.raises(FaultError, match="hang"):
        board.set("api", hang="yes")
    with pytest.raises(FaultError, match="unknown service"):
        board.set("payments", hang=True)
    board.clear()
    assert board.get("realtime").active() == {}


def test_in_process_sandbox_serves_the_same_protocol() -> None:
    async def scenario():
        async with Sandbox(Settings(anon_key="k")) as box:
            box.faults.set("api", unavailable=True)
            status, _, _ = await fetch("GET", box.api_url)
            box.faults.clear("api")
            ok, body, _ = await fetch("GET", box.api_url)
            return status, ok, body

    status, ok, body = run(scenario())
    assert (status, ok) == (503, 200) and "stand-in" in body["notice"]


def test_the_command_says_it_is_a_stand_in() -> None:
    with SandboxServer() as server:
        _, body, _ = run(fetch("GET", server.url + "/"))
        assert "stand-in" in body["notice"] and "not Supabase" in body["notice"]
        assert "stand-in" in server.logs() and "not Supabase" in server.logs()
    helped = subprocess.run([sys.executable, "-m", "sandbox", "--help"], capture_output=True,
                            text=True)
    assert "stand-in" in helped.stdout


def test_sign_ins_refreshes_and_sign_outs_are_written_to_the_audit_log(pg_server) -> None:
    with SandboxServer(anon_key="k", probe_password="pw",
                       database_url=pg_server.dsn(dbname="wedsync")) as server:
        headers = {"apikey": "k"}
        _, body, _ = run(fetch("POST", f"{server.auth_url}/token?grant_type=password",
                               headers=headers,
                               json={"email": server.probe_email, "password": "pw"}))
        _, refreshed, _ = run(fetch(
            "POST", f"{server.auth_url}/token?grant_type=refresh_token", headers=headers,
            json={"refresh_token": body["refresh_token"]}))
        status, _, _ = run(fetch("POST", f"{server.auth_url}/logout?scope=local", headers={
            **headers, "Authorization": f"Bearer {refreshed['access_token']}"}))
        assert status == 204
    rows = pg_server.execute("SELECT payload->>'action', payload->>'actor_username', "
                             "payload->>'actor_id' FROM auth.audit_log_entries "
                             "ORDER BY created_at", dbname="wedsync")
    pg_server.execute("DELETE FROM auth.audit_log_entries", dbname="wedsync")
    user_id = body["user"]["id"]
    assert rows == [("login", server.probe_email, user_id),
                    ("token_refreshed", server.probe_email, user_id),
                    ("logout", server.probe_email, user_id)]


# --- fidelity to the real servers' wire details --------------------------------------------

def test_v1_replies_carry_no_join_ref_and_false_strings_read_as_false(sandbox) -> None:
    async def scenario():
        async with aiohttp.ClientSession() as session, \
                session.ws_connect(socket_url(sandbox)) as ws:
            await ws.send_str(json.dumps({
                "topic": "realtime:strings", "event": "phx_join", "ref": "1", "join_ref": "1",
                "payload": {"config": {"broadcast": {"self": "false", "ack": "true"}}}}))
            reply = await Socket(ws).next()
            assert reply == {"topic": "realtime:strings", "event": "phx_reply", "ref": "1",
                             "payload": {"status": "ok", "response": {"postgres_changes": []}}}
            await ws.send_str(json.dumps({
                "topic": "realtime:strings", "event": "broadcast", "ref": "2", "join_ref": "1",
                "payload": {"type": "broadcast", "event": "e", "payload": {}}}))
            ack = await Socket(ws).next()
            assert ack["ref"] == "2" and ack["payload"]["status"] == "ok"
            # "self": "false" means no echo of our own broadcast.
            with pytest.raises(asyncio.TimeoutError):
                await ws.receive(timeout=0.3)

    run(scenario())


def test_vsn_2_speaks_phoenix_arrays(sandbox) -> None:
    async def scenario():
        url = f"{sandbox.realtime_url}/websocket?apikey={CANARY_ANON_KEY}&vsn=2.0.0"
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            await ws.send_str(json.dumps(["1", "1", "realtime:v2", "phx_join", {
                "config": {"broadcast": {"self": True, "ack": True}}}]))
            assert json.loads((await ws.receive(timeout=5)).data) == [
                "1", "1", "realtime:v2", "phx_reply",
                {"status": "ok", "response": {"postgres_changes": []}}]
            await ws.send_str(json.dumps([None, "2", "phoenix", "heartbeat", {}]))
            assert json.loads((await ws.receive(timeout=5)).data) == [
                None, "2", "phoenix", "phx_reply", {"status": "ok", "response": {}}]
            payload = {"type": "broadcast", "event": "e", "payload": {"n": 7}}
            await ws.send_str(json.dumps(["1", "3", "realtime:v2", "broadcast", payload]))
            frames = [json.loads((await ws.receive(timeout=5)).data) for _ in range(2)]
            assert ["1", "3", "realtime:v2", "phx_reply",
                    {"status": "ok", "response": {}}] in frames
            assert [None, None, "realtime:v2", "broadcast", payload] in frames

    run(scenario())


@pytest.mark.parametrize(("version", "tenant_status", "key_status"), [
    ("2.129.0", 404, 401), ("2.116.0", 404, 401), ("2.115.3", 403, 403)])
def test_connect_errors_follow_the_realtime_release(version, tenant_status, key_status) -> None:
    # The classic self-hosted mistake: the gateway's anon key was signed with another JWT
    # secret than Realtime's, so the gateway lets it through and Realtime refuses it.
    foreign = issue({"role": "anon", "exp": int(time.time()) + 600}, "another-secret")

    async def scenario():
        settings = Settings(realtime_tenant="wedsync", realtime_version=version,
                            anon_key=foreign)
        async with Sandbox(settings) as box:
            url = f"ws://127.0.0.1:{box.port}/realtime/v1/websocket"
            tenant_host = {"Host": f"wedsync.localhost:{box.port}"}
            statuses = []
            async with aiohttp.ClientSession() as session:
                # The tenant is the first label of the Host name: 127.0.0.1 is tenant "127".
                for headers in ({}, tenant_host):
                    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
                        await session.ws_connect(f"{url}?apikey={foreign}", headers=headers)
                    statuses.append(caught.value.status)
                # A key the gateway does not know is its own 401, whatever the release.
                with pytest.raises(aiohttp.WSServerHandshakeError) as unknown:
                    await session.ws_connect(f"{url}?apikey=unknown", headers=tenant_host)
                assert unknown.value.status == 401
                async with session.ws_connect(f"{url}?apikey={settings.publishable_key}",
                                              headers=tenant_host) as ws:
                    assert not ws.closed
            return statuses

    assert run(scenario()) == [tenant_status, key_status]


def test_the_version_fault_switches_the_release_at_run_time(sandbox) -> None:
    async def status():
        url = f"ws://127.0.0.1:{sandbox.port}/socket/websocket?apikey=not-a-jwt"
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
                await session.ws_connect(url, headers={
                    "Host": f"realtime-dev.supabase-realtime:{sandbox.port}"})
            return caught.value.status

    sandbox.set_faults("realtime", version="2.100.0")
    assert run(status()) == 403
    sandbox.clear_faults()
    assert run(status()) == 401


def test_a_direct_call_to_the_realtime_container_is_an_unknown_tenant() -> None:
    async def scenario():
        async with Sandbox(Settings()) as box:
            url = f"ws://127.0.0.1:{box.port}/socket/websocket?apikey={box.settings.anon_key}"
            async with aiohttp.ClientSession() as session:
                with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
                    await session.ws_connect(url)
                # The gateway's publishable key means nothing to Realtime itself.
                with pytest.raises(aiohttp.WSServerHandshakeError) as publishable:
                    await session.ws_connect(
                        url.replace(box.settings.anon_key, box.settings.publishable_key),
                        headers={"Host": f"realtime-dev.supabase-realtime:{box.port}"})
                async with session.ws_connect(url, headers={
                        "Host": f"realtime-dev.supabase-realtime:{box.port}"}) as ws:
                    assert not ws.closed
            return caught.value.status, publishable.value.status

    assert run(scenario()) == (404, 401)


def test_a_tenant_at_its_connection_limit_refuses_more(sandbox) -> None:
    async def scenario():
        async with aiohttp.ClientSession() as session, \
                session.ws_connect(socket_url(sandbox)) as first:
            sandbox.set_faults("realtime", max_connections=1)
            with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
                await session.ws_connect(socket_url(sandbox))
            assert not first.closed
            return caught.value.status

    assert run(scenario()) == 429


def test_auths_own_health_is_open_and_only_the_gateway_wants_the_key(sandbox) -> None:
    status, body, _ = run(fetch("GET", f"{sandbox.url}/health"))
    assert status == 200 and body["name"] == "GoTrue"
    status, _, _ = run(fetch("GET", f"{sandbox.auth_url}/health"))
    assert status == 401
    status, body, _ = run(fetch("GET", f"{sandbox.auth_url}/settings", headers=KEY))
    assert status == 200 and body["external"]["email"] is True


def test_auth_errors_take_the_shape_of_the_requested_api_version(sandbox) -> None:
    url = f"{sandbox.auth_url}/token?grant_type=password"
    wrong = {"email": PROBE_EMAIL, "password": "wrong"}
    status, body, headers = run(fetch("POST", url, headers=KEY, json=wrong))
    assert (status, body) == (400, {"code": 400, "error_code": "invalid_credentials",
                                    "msg": "Invalid login credentials"})
    assert "X-Supabase-Api-Version" not in headers
    status, body, headers = run(fetch("POST", url, json=wrong, headers={
        **KEY, "X-Supabase-Api-Version": "2024-01-01"}))
    assert (status, body) == (400, {"code": "invalid_credentials",
                                    "message": "Invalid login credentials"})
    assert headers["X-Supabase-Api-Version"] == "2024-01-01"


def test_the_default_anon_key_is_a_jwt_with_role_anon_signed_with_the_secret() -> None:
    from sandbox.tokens import verify

    settings = Settings(jwt_secret="s" * 32)
    assert verify(settings.anon_key, "s" * 32)["role"] == "anon"
    assert settings.publishable_key.startswith("sb_publishable_")
    assert Settings(jwt_secret="s" * 32).publishable_key == settings.publishable_key


def test_the_new_fault_controls_refuse_bad_values() -> None:
    board = FaultBoard({"auth": "/auth/v1", "realtime": "/realtime/v1"})
    with pytest.raises(FaultError, match="fault 'captcha' must be null"):
        board.set("auth", captcha="maybe")
    with pytest.raises(FaultError, match=r"must be a Realtime release such as 2\.129\.0"):
        board.set("realtime", version="latest")
    with pytest.raises(FaultError, match="unknown fault 'captcha' for realtime"):
        board.set("realtime", captcha="on")
    with pytest.raises(FaultError, match="'max_connections' must be between 0 and 100000"):
        board.set("realtime", max_connections=-1)
    assert board.get("auth").active() == {} and board.get("realtime").active() == {}


def test_the_command_prints_the_keys_it_generated_and_they_work() -> None:
    from sandbox.tokens import verify

    with SandboxServer(anon_key="", jwt_secret="j" * 40) as server:
        lines = server.logs().splitlines()
        anon = lines[lines.index(next(line for line in lines if "Anon key (generated" in line))
                     + 1].strip()
        publishable = next(line for line in lines if "Publishable key:" in line).split()[-1]
        assert verify(anon, "j" * 40)["role"] == "anon"
        for key in (anon, publishable):
            status, _, _ = run(fetch("GET", f"{server.auth_url}/health", headers={"apikey": key}))
            assert status == 200
    with SandboxServer(anon_key=CANARY_ANON_KEY) as server:
        assert CANARY_ANON_KEY not in server.logs()
