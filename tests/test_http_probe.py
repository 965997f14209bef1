"""The HTTP prober (API and external services) against the sandbox and a TLS server of the
test's own: status, JSON field, latency, TLS certificate expiry."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from exporter.config.model import JsonFieldCheck
from exporter.probes.base import ProbeError, ProbeOutcome
from exporter.probes.http import HttpProbe
from exporter.probes.tls import tls_context
from harness.certificates import start_https_health
from tests.probes_support import http_target, probe_once, sample_values


def test_a_healthy_api_reports_status_code_and_latency(sandbox) -> None:
    target = http_target(sandbox.api_url, json_field=JsonFieldCheck("status", "ok"))
    outcome = probe_once(HttpProbe("api", target))
    assert isinstance(outcome, ProbeOutcome), outcome
    assert sample_values(outcome) == {"wedsync_probe_http_status_code": 200}
    assert 0 < outcome.latency < 1


def test_an_unexpected_status_fails_and_still_reports_the_code(sandbox) -> None:
    sandbox.set_faults("api", unavailable=True)
    error = probe_once(HttpProbe("api", http_target(sandbox.api_url)))
    assert (error.reason, error.message) == ("error", "the API answered HTTP 503 (expected 200)")
    assert sample_values(error) == {"wedsync_probe_http_status_code": 503}


def test_expected_status_may_be_configured(sandbox) -> None:
    target = http_target(f"{sandbox.url}/api/missing", expected_status=(404,))
    assert isinstance(probe_once(HttpProbe("external", target)), ProbeOutcome)


@pytest.mark.parametrize(("check", "message"), [
    (JsonFieldCheck("status", "down"), "JSON field `status` does not have the expected value"),
    (JsonFieldCheck("checks.db", "ok"), "JSON field `checks.db` is missing"),
])
def test_a_json_field_check_that_fails_is_a_protocol_failure(sandbox, check, message) -> None:
    error = probe_once(HttpProbe("api", http_target(sandbox.api_url, json_field=check)))
    assert (error.reason, error.message) == ("protocol", message)


@pytest.mark.parametrize(("faults", "reason", "message"), [
    ({"hang": True}, "timeout", "the service did not answer in time"),
    ({"drop_socket": True}, "connect", "the service closed the connection without answering"),
])
def test_each_api_fault_gives_its_reason(sandbox, faults, reason, message) -> None:
    sandbox.set_faults("api", **faults)
    error = probe_once(HttpProbe("external", http_target(sandbox.api_url, timeout=0.5)))
    assert (error.reason, error.message) == (reason, message)


def test_headers_are_sent_and_401_is_an_auth_failure() -> None:
    seen: dict[str, str] = {}

    async def protected(request: web.Request) -> web.Response:
        seen["key"] = request.headers.get("X-Api-Key", "")
        return web.Response(status=401 if seen["key"] != "right" else 200)

    async def scenario(key: str):
        app = web.Application()
        app.router.add_get("/health", protected)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        probe = HttpProbe("external", http_target(f"http://127.0.0.1:{port}/health",
                                                  headers=(("X-Api-Key", key),)))
        try:
            return await probe.run()
        except ProbeError as exc:
            return exc
        finally:
            await probe.close()
            await runner.cleanup()

    assert isinstance(asyncio.run(scenario("right")), ProbeOutcome)
    error = asyncio.run(scenario("wrong"))
    assert (error.reason, error.message) == ("auth",
                                             "the service refused the credentials (HTTP 401)")
    assert seen["key"] == "wrong"


# --- TLS --------------------------------------------------------------------------------

def make_certificate(folder):
    """A self-signed certificate for 127.0.0.1 that expires in 30 days, in ``folder``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    expires = now + dt.timedelta(days=30)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(expires)
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return folder / "cert.pem", folder / "key.pem", expires.timestamp()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 that expires in 30 days."""
    return make_certificate(tmp_path_factory.mktemp("tls"))


def probe_https(certificate, **target_kw):
    cert_path, key_path, _ = certificate

    async def scenario():
        runner, port = await start_https_health(cert_path, key_path)
        probe = HttpProbe("external", http_target(f"https://127.0.0.1:{port}/health",
                                                  **target_kw))
        try:
            return await probe.run()
        except ProbeError as exc:
            return exc
        finally:
            await probe.close()
            await runner.cleanup()

    return asyncio.run(scenario())


def test_tls_certificate_expiry_is_reported_for_a_trusted_ca(certificate) -> None:
    outcome = probe_https(certificate, ca_file=str(certificate[0]))
    assert isinstance(outcome, ProbeOutcome), outcome
    values = sample_values(outcome)
    assert values["wedsync_tls_certificate_expiry_timestamp_seconds"] == certificate[2]


def test_tls_expiry_is_reported_without_verification_too(certificate) -> None:
    outcome = probe_https(certificate, tls_verify=False)
    assert sample_values(outcome)[
        "wedsync_tls_certificate_expiry_timestamp_seconds"] == certificate[2]


def test_an_untrusted_certificate_is_a_connect_failure(certificate) -> None:
    error = probe_https(certificate)
    assert (error.reason, error.message) == (
        "connect", "the TLS certificate of the service is not trusted")


def test_plain_http_reports_no_certificate(sandbox) -> None:
    outcome = probe_once(HttpProbe("api", http_target(sandbox.api_url)))
    assert "wedsync_tls_certificate_expiry_timestamp_seconds" not in sample_values(outcome)


def test_targets_of_the_same_tls_settings_share_one_context(certificate) -> None:
    # Each verifying context holds its own copy of the trusted CAs (issue 25: RSS).
    assert tls_context(True) is tls_context(True)
    assert tls_context(True, str(certificate[0])) is tls_context(True, str(certificate[0]))
    unverified = tls_context(False)
    assert unverified is tls_context(False)
    assert unverified.verify_mode == ssl.CERT_NONE and not unverified.check_hostname
    assert unverified.cert_store_stats()["x509"] == 0  # nothing to trust, nothing loaded


def test_a_rotated_ca_file_is_trusted_by_the_next_probe_built(certificate, tmp_path) -> None:
    """A probe built after the CA file changed (a reload) trusts the file as it is now."""
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(certificate[0].read_bytes())
    assert isinstance(probe_https(certificate, ca_file=str(ca_file)), ProbeOutcome)
    (tmp_path / "other").mkdir()
    other = make_certificate(tmp_path / "other")
    ca_file.write_bytes(other[0].read_bytes())
    error = probe_https(certificate, ca_file=str(ca_file))
    assert isinstance(error, ProbeError)
    assert error.message == "the TLS certificate of the service is not trusted"
