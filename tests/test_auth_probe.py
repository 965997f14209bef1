"""The Auth probe against the sandbox: success, each fault with its reason, and the synthetic
session (one sign-in, then the refresh-token grant; CAPTCHA refused naming the setting)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from exporter.config.model import Thresholds
from exporter.probes.auth import AuthProbe
from exporter.probes.base import ProbeError, ProbeOutcome
from exporter.status import judge
from sandbox.auth import CAPTCHA_TEST_TOKEN
from sandbox.server import Sandbox
from sandbox.settings import Settings
from tests.probes_support import auth_target, probe_once, sample_values, sign_in
from tests.support import CANARY_ANON_KEY, CANARY_PASSWORD, PROBE_EMAIL


def test_healthy_auth_reports_latency_status_code_and_sign_in_time(sandbox) -> None:
    target = auth_target(sandbox.auth_url, CANARY_ANON_KEY,
                         sign_in=sign_in(PROBE_EMAIL, CANARY_PASSWORD))
    outcome = probe_once(AuthProbe(target))
    assert isinstance(outcome, ProbeOutcome), outcome
    values = sample_values(outcome)
    assert values["wedsync_probe_http_status_code"] == 200
    assert 0 < values["wedsync_auth_signin_duration_seconds"] < 1
    assert 0 < outcome.latency < 1
    assert judge(True, outcome.latency, target.thresholds) == "healthy"


def test_sign_in_is_off_unless_configured(sandbox) -> None:
    outcome = probe_once(AuthProbe(auth_target(sandbox.auth_url, CANARY_ANON_KEY)))
    assert "wedsync_auth_signin_duration_seconds" not in sample_values(outcome)


@pytest.mark.parametrize(("faults", "reason", "message", "status_code"), [
    ({"unavailable": True}, "error", "Auth answered HTTP 503 (expected 200)", 503),
    ({"hang": True}, "timeout", "Auth did not answer in time", None),
    ({"drop_socket": True}, "connect", "Auth closed the connection without answering", None),
])
def test_each_auth_fault_gives_its_reason(sandbox, faults, reason, message,
                                          status_code) -> None:
    sandbox.set_faults("auth", **faults)
    target = auth_target(sandbox.auth_url, CANARY_ANON_KEY, timeout=0.5)
    error = probe_once(AuthProbe(target))
    assert isinstance(error, ProbeError), error
    assert (error.reason, error.message) == (reason, message)
    assert sample_values(error).get("wedsync_probe_http_status_code") == status_code


def test_added_latency_makes_auth_degraded(sandbox) -> None:
    sandbox.set_faults("auth", latency_ms=150)
    target = auth_target(sandbox.auth_url, CANARY_ANON_KEY,
                         thresholds=Thresholds(degraded=0.1, critical=2.0))
    outcome = probe_once(AuthProbe(target))
    assert outcome.latency >= 0.15
    assert judge(True, outcome.latency, target.thresholds) == "degraded"


def test_a_wrong_anon_key_is_an_auth_failure(sandbox) -> None:
    error = probe_once(AuthProbe(auth_target(sandbox.auth_url, "not-the-key")))
    assert (error.reason, error.message) == ("auth", "Auth refused the credentials (HTTP 401)")


def test_a_refused_probe_user_fails_the_probe_without_its_password(sandbox) -> None:
    target = auth_target(sandbox.auth_url, CANARY_ANON_KEY,
                         sign_in=sign_in(PROBE_EMAIL, "wrong-password-for-test"))
    error = probe_once(AuthProbe(target))
    assert error.reason == "auth"
    assert error.message == "the probe user's sign-in was refused (invalid_credentials)"
    assert "wrong-password" not in str(error) + error.detail


def test_nothing_listening_is_a_connect_failure() -> None:
    from harness.ports import free_port

    error = probe_once(AuthProbe(auth_target(f"http://127.0.0.1:{free_port()}/auth/v1", "k")))
    assert (error.reason, error.message) == ("connect", "Auth refused the connection")


# --- the synthetic session: one sign-in, then the refresh-token grant -----------------------

def probe_runs(box_settings: Settings, target_of, scenario) -> object:
    """Run ``scenario(box, probe)`` against an in-process sandbox, then close the probe."""

    async def go():
        async with Sandbox(box_settings) as box:
            probe = AuthProbe(target_of(box))
            try:
                return await asyncio.wait_for(scenario(box, probe), 30)
            finally:
                await probe.close()

    return asyncio.run(go())


async def run_once(probe):
    try:
        return await probe.run()
    except ProbeError as exc:
        return exc


SETTINGS = Settings(users={PROBE_EMAIL: CANARY_PASSWORD})


def signing_in(box, **kw):
    return auth_target(box.auth_url, box.settings.anon_key,
                       sign_in=sign_in(PROBE_EMAIL, CANARY_PASSWORD), **kw)


def test_after_one_sign_in_the_probe_refreshes_and_owns_one_session() -> None:
    async def scenario(box, probe):
        outcomes = [await run_once(probe) for _ in range(4)]
        return outcomes, len(box.context.state["auth"].sessions)

    outcomes, sessions = probe_runs(SETTINGS, signing_in, scenario)
    assert [o.details["signin_grant"] for o in outcomes] == [
        "password", "refresh_token", "refresh_token", "refresh_token"]
    assert all(o.samples and "wedsync_auth_signin_duration_seconds" in sample_values(o)
               for o in outcomes)
    assert sessions == 1


def test_captcha_on_sign_in_does_not_fail_a_probe_that_already_has_a_session() -> None:
    async def scenario(box, probe):
        first = await run_once(probe)
        box.faults.set("auth", captcha="on")
        return first, await run_once(probe)

    first, second = probe_runs(SETTINGS, signing_in, scenario)
    assert isinstance(first, ProbeOutcome) and isinstance(second, ProbeOutcome), second


def test_when_its_refresh_token_is_gone_the_probe_signs_in_and_ends_the_old_session() -> None:
    async def scenario(box, probe):
        await run_once(probe)
        auth = box.context.state["auth"]
        [old] = list(auth.sessions)
        # Someone else used the refresh token: the probe's copy is spent, its session lives on.
        auth.rotate(probe.tokens.refresh_token)
        outcome = await run_once(probe)
        return outcome, old, list(auth.sessions)

    outcome, old, sessions = probe_runs(SETTINGS, signing_in, scenario)
    assert outcome.details["signin_grant"] == "password"
    assert len(sessions) == 1 and old not in sessions


def test_closing_the_probe_signs_its_session_out() -> None:
    async def scenario(box, probe):
        await run_once(probe)
        await probe.close()
        return len(box.context.state["auth"].sessions)

    assert probe_runs(SETTINGS, signing_in, scenario) == 0


@pytest.mark.parametrize(("captcha", "message"), [
    ("on", "the Auth sign-in needs a CAPTCHA (captcha_failed): CAPTCHA protection is on for "
           "sign-ins (Auth > Attack Protection; GOTRUE_SECURITY_CAPTCHA_ENABLED)"),
    ("unreachable", "the Auth sign-in failed: Auth cannot reach its CAPTCHA verifier (HTTP 500); "
                    "CAPTCHA protection is on for sign-ins (Auth > Attack Protection; "
                    "GOTRUE_SECURITY_CAPTCHA_ENABLED)"),
])
def test_captcha_on_a_fresh_sign_in_is_refused_naming_the_setting(captcha, message) -> None:
    async def scenario(box, probe):
        box.faults.set("auth", captcha=captcha)
        return await run_once(probe)

    error = probe_runs(SETTINGS, signing_in, scenario)
    assert isinstance(error, ProbeError)
    assert (error.reason, error.message) == ("refused", message)


def test_a_captcha_test_token_passes_only_a_provider_test_secret() -> None:
    def with_token(box):
        target = signing_in(box)
        return replace(target, sign_in=replace(target.sign_in,
                                               captcha_token=CAPTCHA_TEST_TOKEN))

    async def scenario(box, probe):
        box.faults.set("auth", captcha="test")
        passed = await run_once(probe)
        await probe.close()
        box.faults.set("auth", captcha="on")
        return passed, await run_once(probe)

    passed, refused = probe_runs(SETTINGS, with_token, scenario)
    assert isinstance(passed, ProbeOutcome)
    assert isinstance(refused, ProbeError) and refused.reason == "refused"


def test_a_rate_limited_sign_in_is_refused(sandbox) -> None:
    sandbox.set_faults("auth", error_rate=1.0, error_status=429, error_paths=["/auth/v1/token"])
    target = auth_target(sandbox.auth_url, CANARY_ANON_KEY,
                         sign_in=sign_in(PROBE_EMAIL, CANARY_PASSWORD))
    error = probe_once(AuthProbe(target))
    assert (error.reason, error.message) == (
        "refused", "the Auth sign-in was rate limited (HTTP 429): raise Auth's token rate limit "
                   "(GOTRUE_RATE_LIMIT_TOKEN_REFRESH)")


def test_a_failed_fresh_sign_in_does_not_retry_the_spent_refresh_token() -> None:
    async def scenario(box, probe):
        await run_once(probe)
        auth = box.context.state["auth"]
        [old] = list(auth.sessions)
        auth.rotate(probe.tokens.refresh_token)  # the probe's refresh token is spent
        box.faults.set("auth", captcha="on")
        refused = await run_once(probe)
        box.faults.set("auth", captcha=None)
        recovered = await run_once(probe)
        return refused, recovered, old, list(auth.sessions)

    refused, recovered, old, sessions = probe_runs(SETTINGS, signing_in, scenario)
    assert isinstance(refused, ProbeError) and refused.reason == "refused"
    assert recovered.details["signin_grant"] == "password"
    # The session whose token was spent was signed out once the new one was there.
    assert len(sessions) == 1 and old not in sessions
