"""The Auth probe against the sandbox: success, and each fault with its reason."""

from __future__ import annotations

import pytest

from exporter.config.model import Thresholds
from exporter.probes.auth import AuthProbe
from exporter.probes.base import ProbeError, ProbeOutcome
from exporter.status import judge
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
