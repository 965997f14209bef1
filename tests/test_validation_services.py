"""Security checks of Redis, Auth and the API: each fires on a deliberately broken server or
setting and is silent on a sound one (real Redis servers, real HTTP(S) servers)."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from exporter.validation.findings import Finding
from exporter.validation.redis import validate_redis_security
from exporter.validation.services import plain_http, validate_api, validate_auth
from harness.ports import free_port
from harness.redis import RedisServer
from tests.probes_support import auth_target, http_target, redis_target

# What Supabase Auth answers on GET /settings with sign-ups closed (the sandbox's answer).
SOUND_SETTINGS = {"external": {"anonymous_users": False, "email": True, "phone": False},
                  "disable_signup": True, "mailer_autoconfirm": False,
                  "phone_autoconfirm": False, "sms_provider": "", "saml_enabled": False}


def checks(found: list[Finding]) -> list[str]:
    return sorted(f.check for f in found if f.check)


# --- redis ---------------------------------------------------------------------------------
def redis_checks(server: RedisServer) -> list[str]:
    target = redis_target(server.url(), interval=15, timeout=2)
    return checks(asyncio.run(validate_redis_security(target)))


def test_redis_with_a_password_and_protected_mode_passes() -> None:
    with RedisServer(password="s3cret-for-tests") as server:
        assert redis_checks(server) == []


def test_redis_without_a_password_is_found() -> None:
    with RedisServer() as server:
        assert redis_checks(server) == ["redis_no_password"]


def test_redis_with_protected_mode_off_is_found() -> None:
    with RedisServer(password="s3cret-for-tests", extra=["protected-mode no"]) as server:
        assert redis_checks(server) == ["redis_protected_mode_off"]


# --- http servers --------------------------------------------------------------------------
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def serving(routes: dict[str, Handler], context: ssl.SSLContext | None,
                  work: Callable[[str], Awaitable[Any]]) -> Any:
    """Run an HTTP(S) server with ``routes`` on a free loopback port while ``work(base)``."""
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_get(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        return await work(f"{'https' if context else 'http'}://127.0.0.1:{port}")
    finally:
        await runner.cleanup()


def auth_checks(settings: Any) -> list[Finding]:
    async def answer(_: web.Request) -> web.Response:
        return web.json_response(settings)

    async def work(base: str) -> list[Finding]:
        return await validate_auth(auth_target(base, anon_key="anon-key-for-tests"))

    return asyncio.run(serving({"/settings": answer}, None, work))


def test_auth_with_sign_ups_closed_passes() -> None:
    assert auth_checks(SOUND_SETTINGS) == []
    # Open sign-ups that must confirm their address are what most products want.
    assert auth_checks({**SOUND_SETTINGS, "disable_signup": False}) == []


@pytest.mark.parametrize(("broken", "check"), [
    ({"disable_signup": False, "mailer_autoconfirm": True}, "auth_signup_autoconfirm"),
    ({"disable_signup": False, "phone_autoconfirm": True,
      "external": {"email": True, "phone": True}}, "auth_signup_autoconfirm"),
    ({"external": {"anonymous_users": True, "email": True}}, "auth_allow_anonymous_sign_ins"),
])
def test_each_auth_setting_an_sre_flags_is_found(broken: dict[str, Any], check: str) -> None:
    found = auth_checks({**SOUND_SETTINGS, **broken})
    assert checks(found) == [check], [f.message for f in found]
    assert found[0].recommendation


def test_auth_settings_that_cannot_be_read_are_a_warning() -> None:
    found = asyncio.run(validate_auth(auth_target("http://127.0.0.1:9", anon_key="k",
                                                  timeout=1)))
    assert [(f.check, f.severity) for f in found] == [("auth_settings_unreadable", "warning")]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    yield folder / "cert.pem", folder / "key.pem"


def api_checks(certificate: tuple[Path, Path], headers: dict[str, str]) -> list[Finding]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"}, headers=headers)

    async def work(base: str) -> list[Finding]:
        return await validate_api(http_target(f"{base}/health", ca_file=str(certificate[0])))

    return asyncio.run(serving({"/health": health}, context, work))


def test_an_https_api_with_hsts_passes_and_without_it_is_found(certificate) -> None:
    assert api_checks(certificate, {
        "Strict-Transport-Security": "max-age=31536000; includeSubDomains"}) == []
    found = api_checks(certificate, {})
    assert [(f.check, f.severity) for f in found] == [("api_hsts_missing", "warning")]


def test_an_api_over_plain_http_off_this_host_is_found() -> None:
    # Judged from the URL alone: nothing is sent to the documentation address below.
    found = asyncio.run(validate_api(http_target("http://192.0.2.10/health")))
    assert [(f.check, f.severity) for f in found] == [("api_plain_http", "error")]
    assert "192.0.2.10" in found[0].message
    # A loopback address never leaves the host (a local stack, a sidecar).
    assert asyncio.run(validate_api(http_target("http://127.0.0.1:9/health"))) == []


def test_auth_over_plain_http_off_this_host_is_found() -> None:
    # Judged from the URL alone (validate_auth also reads /settings, which needs a server).
    target = auth_target("http://192.0.2.10", anon_key="k")
    found = plain_http("auth", target, target.url, "Auth")
    assert [(f.check, f.severity) for f in found] == [("auth_plain_http", "error")]
    assert plain_http("auth", target, "https://192.0.2.10", "Auth") == []
    assert plain_http("auth", target, "http://localhost:9999", "Auth") == []


def test_an_https_api_that_does_not_answer_is_a_warning() -> None:
    port = free_port()
    found = asyncio.run(validate_api(http_target(f"https://127.0.0.1:{port}/health",
                                                 timeout=1)))
    assert [(f.check, f.severity) for f in found] == [("api_unreachable_for_security",
                                                       "warning")]
    assert str(port) not in found[0].message
