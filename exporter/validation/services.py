"""Security checks of the HTTP services: Auth's public settings and how the API is served.

- Auth: ``GET {url}/settings`` (public in GoTrue; the ``apikey`` header for the gateway):
  sign-ups open with e-mail or phone auto-confirm, anonymous sign-ins;
- API: a target served over plain HTTP, an HTTPS target without ``Strict-Transport-Security``.

A loopback address (a local stack, a sidecar) is never "plain HTTP on the network": traffic to
it does not leave the host.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from exporter.config.model import AuthTarget, HttpTarget, Target
from exporter.probes.tls import tls_context
from exporter.validation.findings import Finding

AUTH_CHECKS: tuple[tuple[str, str], ...] = (
    ("auth_signup_autoconfirm", "error"), ("auth_allow_anonymous_sign_ins", "warning"),
    ("auth_plain_http", "error"), ("auth_settings_unreadable", "warning"))
API_CHECKS: tuple[tuple[str, str], ...] = (
    ("api_plain_http", "error"), ("api_hsts_missing", "warning"),
    ("api_unreachable_for_security", "warning"))
MAX_SETTINGS_BYTES = 256 * 1024


def _loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plain_http(component: str, target: Target, url: str, spoken: str) -> list[Finding]:
    """``<component>_plain_http`` when ``url`` is http:// to an address off this host."""
    if urlsplit(url).scheme != "http" or _loopback(url):
        return []
    return [Finding(
        f"{component}_plain_http", "error",
        f"{target.name}: {spoken} is reached over plain HTTP ({urlsplit(url).hostname}): "
        f"tokens, passwords and wedding data cross the network unencrypted",
        "Serve it over HTTPS only (redirect HTTP to HTTPS) and point the target at the "
        "https:// URL.")]


async def _settings(target: AuthTarget) -> Any:
    headers = {"apikey": target.anon_key} if target.anon_key else {}
    timeout = aiohttp.ClientTimeout(total=target.timeout)
    async with (aiohttp.ClientSession(timeout=timeout) as session,
                session.get(f"{target.url}/settings", headers=headers,
                            allow_redirects=False) as answer):
        if answer.status != 200:
            raise ValueError(f"it answered HTTP {answer.status}")
        body = await answer.content.read(MAX_SETTINGS_BYTES + 1)
    if len(body) > MAX_SETTINGS_BYTES:
        raise ValueError("its answer is larger than 256 KiB")
    try:
        return json.loads(body)
    except ValueError:
        raise ValueError("its answer is not JSON") from None


async def validate_auth(target: AuthTarget) -> list[Finding]:
    """Auth's sign-up and sign-in settings, and its transport."""
    findings = plain_http("auth", target, target.url, "Auth")
    try:
        settings = await _settings(target)
    except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
        reason = str(exc) if isinstance(exc, ValueError) else type(exc).__name__
        return [*findings, Finding(
            "auth_settings_unreadable", "warning",
            f"{target.name}: Auth's GET /settings could not be read ({reason})",
            "Check that the Auth URL is right and that /settings is reachable with the anon "
            "key.")]
    if not isinstance(settings, dict):
        return [*findings, Finding("auth_settings_unreadable", "warning",
                                   f"{target.name}: Auth's GET /settings is not a JSON object",
                                   "Check that the target's url points at Supabase Auth.")]
    external = settings.get("external") if isinstance(settings.get("external"), dict) else {}
    signups_open = settings.get("disable_signup") is False
    confirmed = [what for what, key, channel in (
        ("e-mail", "mailer_autoconfirm", "email"), ("phone", "phone_autoconfirm", "phone"))
        if settings.get(key) is True and external.get(channel, channel == "email") is not False]
    if signups_open and confirmed:
        findings.append(Finding(
            "auth_signup_autoconfirm", "error",
            f"{target.name}: sign-ups are open and {' and '.join(confirmed)} addresses are "
            f"confirmed automatically: anyone can create a confirmed account with an address "
            f"they do not own",
            "Turn off auto-confirm (GOTRUE_MAILER_AUTOCONFIRM / 'Confirm email' on), or close "
            "sign-ups (GOTRUE_DISABLE_SIGNUP) if accounts are created by invitation."))
    if external.get("anonymous_users") is True:
        findings.append(Finding(
            "auth_allow_anonymous_sign_ins", "warning",
            f"{target.name}: anonymous sign-ins are on: anyone gets an authenticated session "
            f"without an account, and RLS policies written for 'authenticated' admit them",
            "Turn anonymous sign-ins off unless the product needs them, and check that "
            "policies test auth.jwt()->>'is_anonymous'."))
    return findings


async def validate_api(target: HttpTarget) -> list[Finding]:
    """Plain HTTP off this host; no HSTS on an HTTPS target."""
    findings = plain_http("api", target, target.url, "the API")
    if urlsplit(target.url).scheme != "https":
        return findings
    connector = aiohttp.TCPConnector(ssl=tls_context(target.tls_verify, target.ca_file))
    try:
        async with (aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=target.timeout),
                                          connector=connector) as session,
                    session.request(target.method, target.url, headers=dict(target.headers),
                                    allow_redirects=False) as answer):
            hsts = answer.headers.get("Strict-Transport-Security", "")
    except (TimeoutError, aiohttp.ClientError) as exc:
        return [*findings, Finding(
            "api_unreachable_for_security", "warning",
            f"{target.name}: the API could not be asked for its security headers "
            f"({type(exc).__name__})", "Check that the API answers over HTTPS.")]
    if "max-age" not in hsts.lower():
        findings.append(Finding(
            "api_hsts_missing", "warning",
            f"{target.name}: the API answers over HTTPS without Strict-Transport-Security, so "
            f"a browser may still be talked into plain HTTP",
            "Send Strict-Transport-Security: max-age=31536000; includeSubDomains on every "
            "HTTPS answer."))
    return findings
