"""The sandbox's WedSync API endpoints (what the k6 scenarios hit), its error-rate fault scoped
to a path prefix, and the request-observer hook."""

from __future__ import annotations

import asyncio
import base64
import json
import re

import aiohttp
import pytest

from loadtests import K6_DIR
from loadtests.model import load_model
from sandbox.app import RequestRecord
from sandbox.faults import FaultBoard, FaultError
from sandbox.server import Sandbox
from sandbox.settings import Settings
from sandbox.tokens import issue
from sandbox.wedsync_api import PATHS


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


async def call(method: str, url: str, **kw):
    async with aiohttp.ClientSession() as session, session.request(method, url, **kw) as r:
        text = await r.text()
        return r.status, (json.loads(text) if text else None)


def photo_bytes() -> bytes:
    """The PNG the k6 upload flow sends (decoded from loadtests/k6/photo.js)."""
    source = (K6_DIR / "photo.js").read_text()
    return base64.b64decode("".join(re.findall(r"^  '([A-Za-z0-9+/=]+)',$", source, re.M)))


@pytest.fixture(scope="module")
def token(sandbox_server) -> str:
    return sandbox_server.access_token()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


VALID_BODIES = {
    "form_submit": ({"couple_id": "c1", "form_id": "guest-list", "answers": {"guests": 80}},
                    201, "submission_id"),
    "timeline_update": ({"wedding_id": "w1", "items": [{"time": "14:00", "title": "Vows"}]},
                        200, "updated_at"),
    "communication_send": ({"recipients": ["g1"], "channel": "sms", "message": "Moved"},
                           202, "message_id"),
    "task_complete": ({"task_id": "t1"}, 200, "completed_at"),
    "payment_process": ({"invoice_id": "i1", "amount": 570.0, "currency": "GBP",
                         "payment_method_id": "pm1"}, 200, "payment_id"),
    "invoice_generate": ({"client_id": "c1", "items": [{"description": "Album",
                                                         "amount": 120.5}]}, 201, "invoice_id"),
}
READS = {"dashboard": "upcoming", "clients": "clients", "upcoming_weddings": "weddings"}
METHODS = {"timeline_update": "PUT", "task_complete": "PUT"}


def test_the_sandbox_serves_every_path_the_load_model_uses() -> None:
    assert load_model().paths == PATHS


def test_wedsync_endpoints_want_an_access_token_from_the_auth_stand_in(sandbox, token) -> None:
    url = sandbox.url + PATHS["dashboard"]
    status, body = run(call("GET", url))
    assert status == 401 and "Authorization: Bearer" in body["message"]
    status, body = run(call("GET", url, headers=bearer("not-a-jwt")))
    assert status == 401 and "not a valid JWT" in body["message"]
    forged = issue({"sub": "x", "role": "authenticated", "exp": 2**40}, "another-secret")
    status, body = run(call("GET", url, headers=bearer(forged)))
    assert status == 401 and "signature" in body["message"]
    status, body = run(call("GET", url, headers=bearer(token)))
    assert status == 200 and body["upcoming"]


def test_every_endpoint_answers_its_json_shape(sandbox, token) -> None:
    for name, field in READS.items():
        status, body = run(call("GET", sandbox.url + PATHS[name], headers=bearer(token)))
        assert status == 200 and body[field], name
    for name, (payload, expected, field) in VALID_BODIES.items():
        status, body = run(call(METHODS.get(name, "POST"), sandbox.url + PATHS[name],
                                json=payload, headers=bearer(token)))
        assert (status, field in body) == (expected, True), (name, body)
    _, invoice = run(call("POST", sandbox.url + PATHS["invoice_generate"], headers=bearer(token),
                          json=VALID_BODIES["invoice_generate"][0]))
    assert invoice["total"] == 120.5


@pytest.mark.parametrize(("name", "payload", "named"), [
    ("payment_process", {"invoice_id": "i", "amount": "570", "currency": "GBP",
                         "payment_method_id": "pm"}, "amount"),
    ("payment_process", {"invoice_id": "i", "amount": -1, "currency": "GBP",
                         "payment_method_id": "pm"}, "amount"),
    ("communication_send", {"recipients": [], "channel": "pigeon", "message": "x"}, "channel"),
    ("form_submit", {"couple_id": "c", "form_id": "f", "answers": True}, "answers"),
    ("task_complete", [1, 2], "JSON object"),
])
def test_a_bad_body_is_a_400_naming_the_field(sandbox, token, name, payload, named) -> None:
    status, body = run(call(METHODS.get(name, "POST"), sandbox.url + PATHS[name], json=payload,
                            headers=bearer(token)))
    assert status == 400 and named in body["message"]


def test_photo_upload_takes_a_small_image_and_refuses_other_bytes(sandbox, token) -> None:
    url = sandbox.url + PATHS["photo_upload"]

    def form(data: bytes, content_type: str, field: str = "photo") -> aiohttp.FormData:
        upload = aiohttp.FormData()
        upload.add_field("couple_id", "c1")
        upload.add_field(field, data, filename="p.png", content_type=content_type)
        return upload

    png = photo_bytes()
    status, body = run(call("POST", url, data=form(png, "image/png"), headers=bearer(token)))
    assert status == 201 and body["bytes"] == len(png) and body["content_type"] == "image/png"
    status, body = run(call("POST", url, data=form(b"not an image", "image/png"),
                            headers=bearer(token)))
    assert status == 415 and "not image/png" in body["message"]
    status, body = run(call("POST", url, data=form(png, "application/pdf"),
                            headers=bearer(token)))
    assert status == 415
    status, body = run(call("POST", url, data=form(png, "image/png", field="other"),
                            headers=bearer(token)))
    assert status == 400 and "'photo'" in body["message"]
    status, body = run(call("POST", url, json={"photo": "x"}, headers=bearer(token)))
    assert status == 415 and "multipart" in body["message"]


def test_error_rate_fails_exactly_its_share_of_the_scoped_paths_only(sandbox, token) -> None:
    faults = sandbox.set_faults("api", error_rate=0.25, error_paths=["/api/payments"])
    assert faults["error_paths"] == ["/api/payments"] and faults["error_status"] == 500

    async def statuses(name: str, count: int) -> list[int]:
        payload = VALID_BODIES[name][0]
        async with aiohttp.ClientSession(headers=bearer(token)) as session:
            out = []
            for _ in range(count):
                async with session.post(sandbox.url + PATHS[name], json=payload) as answer:
                    out.append(answer.status)
                    if answer.status == 500:
                        assert (await answer.json())["error"] == "injected_failure"
            return out

    paid = run(statuses("payment_process", 8))
    assert paid == [500, 200, 200, 200, 500, 200, 200, 200]
    assert set(run(statuses("invoice_generate", 8))) == {201}
    sandbox.set_faults("api", error_status=503)
    assert run(statuses("payment_process", 4)).count(503) == 1
    sandbox.clear_faults("api")
    assert set(run(statuses("payment_process", 4))) == {200}


@pytest.mark.parametrize(("faults", "named"), [
    ({"error_rate": 1.5}, "between 0 and 1"),
    ({"error_rate": True}, "error_rate"),
    ({"error_status": 200}, "400-599"),
    ({"error_paths": "/api/payments"}, "error_paths"),
    ({"error_paths": ["api/payments"]}, "starting with '/'"),
    ({"error_paths": ["/auth/v1/token"]}, "not under the api service's /api"),
])
def test_error_rate_fault_refuses_bad_settings_and_changes_nothing(sandbox, faults,
                                                                   named) -> None:
    before = sandbox.faults()

    async def patch():
        return await call("PATCH", f"{sandbox.url}/_sandbox/faults/api", json=faults)

    status, body = run(patch())
    assert status == 400 and named in body["error"]
    assert sandbox.faults() == before


def test_error_paths_match_whole_path_segments() -> None:
    board = FaultBoard({"api": "/api"})
    board.set("api", error_rate=1.0, error_paths=["/api/payments"])
    assert board.error_status_for("api", "/api/payments") == 500
    assert board.error_status_for("api", "/api/payments/process") == 500
    assert board.error_status_for("api", "/api/paymentsx") is None
    with pytest.raises(FaultError, match="not under"):
        board.set("api", error_paths=["/apix"])


def test_error_rate_share_is_exact_over_many_requests_and_restarts_when_changed() -> None:
    board = FaultBoard(("api",))
    board.set("api", error_rate=0.05)
    failed = [board.error_status_for("api", "/api/x") is not None for _ in range(200)]
    assert sum(failed) == 10 and failed[0] and failed[20] and not any(failed[1:20])
    board.set("api", error_rate=0.5)
    assert board.error_status_for("api", "/api/x") == 500


def test_request_observers_see_each_answered_request_with_its_route() -> None:
    seen: list[RequestRecord] = []

    async def scenario():
        async with Sandbox(Settings(anon_key="k", jwt_secret="s")) as box:
            box.context.request_observers.append(seen.append)
            token = issue({"sub": "u", "role": "authenticated", "exp": 2**40}, "s")
            await call("GET", box.url + PATHS["clients"], headers=bearer(token))
            box.faults.set("api", unavailable=True)
            await call("GET", box.url + PATHS["dashboard"], headers=bearer(token))
            box.faults.clear()
            await call("GET", f"{box.url}/_sandbox/faults")  # not a service: not observed

            def broken(_: RequestRecord) -> None:
                raise RuntimeError("observer bug")

            box.context.request_observers.insert(0, broken)
            status, _ = await call("GET", box.url + PATHS["clients"], headers=bearer(token))
            return status

    assert run(scenario()) == 200
    assert [(r.service, r.method, r.route, r.status) for r in seen] == [
        ("api", "GET", "/api/clients", 200), ("api", "GET", "/api/dashboard", 503),
        ("api", "GET", "/api/clients", 200)]
    assert all(0 <= r.seconds < 5 for r in seen)
