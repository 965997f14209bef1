"""The Realtime probe against the sandbox: the echo round trip, each fault with its reason,
the socket always closed, the apikey never in an error."""

from __future__ import annotations

import asyncio
import statistics
import time

import pytest

from exporter.config import load_config
from exporter.probes.base import ProbeError, ProbeOutcome
from exporter.probes.realtime import RealtimeProbe, join_error
from exporter.status import judge
from sandbox.server import Sandbox
from sandbox.settings import Settings
from sandbox.tokens import issue
from tests.conftest import REPO
from tests.probes_support import probe_many, probe_once, realtime_target, sample_values
from tests.support import CANARY_ANON_KEY, eventually


def probe(sandbox, key=CANARY_ANON_KEY, **kw):
    return RealtimeProbe(realtime_target(sandbox.realtime_url, key, **kw))


def no_open_sockets(sandbox) -> None:
    eventually(lambda: sandbox.realtime_connections() == 0, timeout=5,
               message="the probe left a Realtime socket open")


def test_a_healthy_channel_reports_echo_ack_join_and_connect_times(sandbox) -> None:
    outcome = probe_once(probe(sandbox))
    assert isinstance(outcome, ProbeOutcome), outcome
    values = sample_values(outcome)
    for name in ("wedsync_realtime_connect_duration_seconds",
                 "wedsync_realtime_join_duration_seconds",
                 "wedsync_realtime_broadcast_ack_seconds"):
        assert 0 < values[name] < 1, name
    (roundtrip,) = outcome.observations
    assert roundtrip.name == "wedsync_realtime_broadcast_roundtrip_seconds"
    assert outcome.latency == roundtrip.value
    assert values["wedsync_realtime_broadcast_ack_seconds"] <= roundtrip.value + 0.005
    no_open_sockets(sandbox)


@pytest.mark.parametrize("delay_ms", [50, 150])
def test_the_median_echo_lies_between_the_delay_and_ten_ms_more(sandbox, delay_ms) -> None:
    sandbox.set_faults("realtime", echo_delay_ms=delay_ms)
    outcomes = probe_many(probe(sandbox), 7)
    assert all(isinstance(o, ProbeOutcome) for o in outcomes), outcomes
    median = statistics.median(o.latency for o in outcomes)
    assert delay_ms / 1000 <= median <= (delay_ms + 10) / 1000, median


def test_a_150_ms_echo_is_degraded_with_the_shipped_thresholds(sandbox) -> None:
    config = load_config(REPO / "exporter" / "example.yaml",
                         env={"WEDSYNC_REALTIME_URL": sandbox.realtime_url,
                              "SUPABASE_ANON_KEY": CANARY_ANON_KEY})
    (target,) = config.realtime
    sandbox.set_faults("realtime", echo_delay_ms=150)
    outcome = probe_once(RealtimeProbe(target))
    assert judge(True, outcome.latency, target.thresholds, outcome.status) == "degraded"
    sandbox.set_faults("realtime", echo_delay_ms=50)
    outcome = probe_once(RealtimeProbe(target))
    assert judge(True, outcome.latency, target.thresholds, outcome.status) == "healthy"


@pytest.mark.parametrize(("faults", "reason", "message"), [
    ({"refuse_join": "InvalidJWTToken: Token has expired 5 seconds ago"}, "auth",
     "Realtime refused the channel join (InvalidJWTToken)"),
    ({"refuse_join": "Unauthorized: You do not have permissions to read from this Channel"},
     "auth", "Realtime refused the channel join (Unauthorized)"),
    ({"refuse_join": "RealtimeRestarting: Realtime is restarting, please standby"}, "protocol",
     "Realtime refused the channel join (RealtimeRestarting)"),
    ({"drop_socket": True}, "connect", "Realtime closed the connection before the join reply"),
    ({"unavailable": True}, "error", "Realtime answered HTTP 503 to the WebSocket upgrade"),
    ({"hang": True}, "timeout", "the Realtime WebSocket did not open in time"),
])
def test_each_realtime_fault_gives_its_reason(sandbox, faults, reason, message) -> None:
    sandbox.set_faults("realtime", **faults)
    error = probe_once(probe(sandbox, timeout=0.5))
    assert isinstance(error, ProbeError), error
    assert (error.reason, error.message) == (reason, message)
    assert CANARY_ANON_KEY not in f"{error} {error.detail}"
    sandbox.clear_faults("realtime")
    no_open_sockets(sandbox)


def test_a_slow_echo_past_the_timeout_says_which_step_timed_out(sandbox) -> None:
    sandbox.set_faults("realtime", echo_delay_ms=2000)
    started = time.monotonic()
    error = probe_once(probe(sandbox, timeout=0.5))
    assert (error.reason, error.message) == ("timeout", "no broadcast echo from Realtime in time")
    assert time.monotonic() - started < 1.5
    no_open_sockets(sandbox)


def test_a_wrong_anon_key_is_auth_and_never_repeated(sandbox) -> None:
    error = probe_once(probe(sandbox, key="canary-wrong-key-0042"))
    assert (error.reason, error.message) == (
        "auth", "Realtime refused the anon key at connect (HTTP 401): not a valid key of this "
                "project")
    assert "canary-wrong-key-0042" not in f"{error} {error.detail}"


def test_an_invalid_access_token_on_join_is_auth(sandbox) -> None:
    forged = issue({"role": "authenticated", "exp": int(time.time()) + 60}, "not-the-secret")
    error = probe_once(probe(sandbox, access_token=forged))
    assert (error.reason, error.message) == (
        "auth", "Realtime refused the channel join (JwtSignatureError)")


def test_join_error_reasons_map_to_the_enumerated_reasons() -> None:
    assert join_error("MalformedJWT: The token provided is not a valid JWT").reason == "auth"
    assert join_error("TenantNotFound: Tenant with the given ID does not exist").reason == \
        "protocol"
    weird = join_error("<script>alert(1)</script> at host db.internal:5432")
    assert (weird.reason, weird.message) == ("protocol",
                                             "Realtime refused the channel join (unknown)")
    assert join_error(None).reason == "protocol"


def test_nothing_listening_is_a_connect_failure() -> None:
    from harness.ports import free_port

    target = realtime_target(f"ws://127.0.0.1:{free_port()}/realtime/v1", CANARY_ANON_KEY)
    error = probe_once(RealtimeProbe(target))
    assert (error.reason, error.message) == ("connect", "Realtime refused the connection")
    assert CANARY_ANON_KEY not in f"{error} {error.detail}"


# --- connect errors on new and old Realtime ------------------------------------------------

def probe_in_process(settings, key=None, faults=None, **kw):
    """One probe run against an in-process sandbox (its URL uses 127.0.0.1: tenant "127")."""

    async def go():
        async with Sandbox(settings) as box:
            for service, changes in (faults or {}).items():
                box.faults.set(service, **changes)
            target = realtime_target(box.realtime_url, key or settings.anon_key, **kw)
            probe = RealtimeProbe(target)
            try:
                return await asyncio.wait_for(probe.run(), 5)
            except ProbeError as exc:
                return exc
            finally:
                await probe.close()

    return asyncio.run(go())


OLD = {"realtime": {"version": "2.115.0"}}
SECRET = "s" * 40
UNKNOWN_TENANT = Settings(jwt_secret=SECRET, realtime_tenant="wedsync")


def test_an_unknown_tenant_on_new_realtime_is_connect_naming_the_host() -> None:
    error = probe_in_process(UNKNOWN_TENANT)
    assert (error.reason, error.message) == (
        "connect", "Realtime does not know this project (HTTP 404, unknown tenant): the tenant "
                   "is the host name's first label, so go through the project's gateway URL")


def test_an_unknown_tenant_on_old_realtime_is_told_from_the_keys_project() -> None:
    error = probe_in_process(UNKNOWN_TENANT, faults=OLD)
    assert (error.reason, error.message) == (
        "connect", "Realtime refused the connection (HTTP 403, Realtime before v2.116): the "
                   "host name's first label is not the anon key's project (unknown tenant)")


def test_a_key_of_another_project_on_old_realtime_is_auth_naming_both_causes() -> None:
    # The gateway knows the key, but it was signed with another JWT secret than Realtime's.
    other = issue({"role": "anon", "exp": int(time.time()) + 600}, "another-projects-secret")
    error = probe_in_process(Settings(jwt_secret=SECRET, anon_key=other), faults=OLD)
    assert error.reason == "auth"
    assert error.message.startswith("Realtime refused the connection (HTTP 403, Realtime "
                                    "before v2.116): either the key is not this project's")


def test_an_expired_anon_key_on_old_realtime_says_so() -> None:
    expired = issue({"role": "anon", "exp": int(time.time()) - 5}, SECRET)
    error = probe_in_process(Settings(jwt_secret=SECRET, anon_key=expired), faults=OLD)
    assert (error.reason, error.message) == (
        "auth", "Realtime refused the connection (HTTP 403, Realtime before v2.116): the anon "
                "key has expired")


def test_a_key_the_gateway_does_not_know_is_auth_on_any_release() -> None:
    error = probe_in_process(Settings(jwt_secret=SECRET), key="not-this-projects-key",
                             faults=OLD)
    assert (error.reason, error.message) == (
        "auth", "Realtime refused the anon key at connect (HTTP 401): not a valid key of this "
                "project")


def test_a_realtime_at_its_connection_limit_is_refused() -> None:
    error = probe_in_process(Settings(jwt_secret=SECRET),
                             faults={"realtime": {"max_connections": 0}})
    assert (error.reason, error.message) == (
        "refused", "Realtime refused the connection: the project is at its limit of connected "
                   "users or joins (HTTP 429)")


def test_realtime_disabled_for_the_project_is_refused_on_new_realtime() -> None:
    error = probe_in_process(Settings(jwt_secret=SECRET), faults={"realtime": {
        "suspended": True}})
    assert (error.reason, error.message) == (
        "refused", "Realtime is disabled for this project (HTTP 403)")


def test_a_join_refused_for_a_limit_is_refused() -> None:
    error = probe_in_process(Settings(jwt_secret=SECRET), faults={"realtime": {
        "refuse_join": "ClientJoinRateLimitReached: Too many joins per second"}})
    assert (error.reason, error.message) == (
        "refused", "Realtime refused the channel join (ClientJoinRateLimitReached)")


def test_the_default_sandbox_passes_the_probe_through_the_gateway() -> None:
    assert isinstance(probe_in_process(Settings()), ProbeOutcome)
