"""Supabase Auth (GoTrue) probe: ``GET {url}/health`` with the ``apikey`` header, and an
optional synthetic session of a dedicated probe user.

Health says GoTrue answers (it does not check GoTrue's database). The synthetic session walks
the token path users take: one password sign-in, then on every run the refresh-token grant of
that session. Measuring through the refresh grant keeps the probe clear of CAPTCHA (GoTrue checks
CAPTCHA on the password grant only), of the sign-in rate and of a pile of sessions: the probe
owns one session at a time. It signs in afresh only when its refresh token is gone (Auth
answers 400: revoked, expired, used elsewhere), and then signs out the session it replaces;
``close`` signs out the current one. A failing token call fails the probe. The latency the
thresholds judge is the health check's; the token call's is its own gauge.

The probe user's id (from the answers) is kept in ``ProbeUserActivity`` so that the audit-log
counter can leave the probe's own rows out and tell whether Auth writes its audit log at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from dataclasses import dataclass

import aiohttp

from exporter.config.model import AuthTarget
from exporter.metrics.store import Sample
from exporter.probes.base import ProbeError, ProbeOutcome, Reason
from exporter.probes.http import (
    Answer,
    CertificateWatch,
    certificate_samples,
    exchange,
    new_session,
    status_class_error,
)
from exporter.probes.tls import tls_context

WHAT = "Auth"
# GoTrue's error codes are short snake_case words; anything else is not repeated.
_ERROR_CODE = re.compile(r"^[a-z_]{1,40}$")
# GoTrue's message when its CAPTCHA verifier cannot be reached (answered with HTTP 500).
CAPTCHA_UNREACHABLE = "captcha verification process failed"
CAPTCHA_SETTING = ("CAPTCHA protection is on for sign-ins (Auth > Attack Protection; "
                   "GOTRUE_SECURITY_CAPTCHA_ENABLED)")
# Bound on signing out a replaced session: it must never hold up a probe run or a reload.
SIGN_OUT_TIMEOUT = 2.0


@dataclass
class ProbeUserActivity:
    """What the audit-log counter needs to know of the probe's own session."""

    # The probe user's id, known after the first successful token call.
    user_id: str | None = None
    # Successful token calls and sign-outs so far: each writes one audit-log row.
    audited_calls: int = 0


@dataclass
class Tokens:
    """The probe's current session."""

    access_token: str
    refresh_token: str


def _json(answer: Answer, what: str) -> dict[str, object]:
    try:
        document = json.loads(answer.body)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise ProbeError("protocol", f"the answer of {what} is not a JSON object")
    return document


def error_code(answer: Answer) -> str:
    """GoTrue's error code in either error shape (``error_code``, or ``code`` from API version
    2024-01-01 on), or '' when there is none fit to repeat."""
    try:
        document = json.loads(answer.body)
    except ValueError:
        return ""
    if not isinstance(document, dict):
        return ""
    code = document.get("error_code") or document.get("code")
    return code if isinstance(code, str) and _ERROR_CODE.match(code) else ""


def _message(answer: Answer) -> str:
    try:
        document = json.loads(answer.body)
    except ValueError:
        return ""
    text = document.get("msg") or document.get("message") if isinstance(document, dict) else ""
    return text if isinstance(text, str) else ""


def token_refusal(answer: Answer, what: str, samples: list[Sample]) -> ProbeError:
    """Why a token call (sign-in or refresh) failed, with GoTrue's error code when it gives
    one: the credentials (``auth``), Auth declining for another reason (``refused``: CAPTCHA,
    rate limit), or Auth failing (``error``)."""
    code = error_code(answer)
    if answer.status == 400 and code == "invalid_credentials":
        return ProbeError("auth", "the probe user's sign-in was refused (invalid_credentials)",
                          samples=samples)
    if answer.status == 400 and code == "captcha_failed":
        return ProbeError("refused", f"{what} needs a CAPTCHA (captcha_failed): "
                                     f"{CAPTCHA_SETTING}", samples=samples)
    if answer.status == 500 and _message(answer) == CAPTCHA_UNREACHABLE:
        return ProbeError("refused", f"{what} failed: Auth cannot reach its CAPTCHA verifier "
                                     f"(HTTP 500); {CAPTCHA_SETTING}", samples=samples)
    if answer.status == 429:
        return ProbeError("refused", f"{what} was rate limited (HTTP 429): raise Auth's "
                                     "token rate limit (GOTRUE_RATE_LIMIT_TOKEN_REFRESH)",
                          samples=samples)
    suffix = f" ({code})" if code else ""
    reason: Reason = "auth" if answer.status in (400, 401, 403) else "error"
    return ProbeError(reason, f"{what} answered HTTP {answer.status}{suffix}", samples=samples)


class AuthProbe:
    """Probes one Supabase Auth target."""

    component = "auth"

    def __init__(self, target: AuthTarget) -> None:
        self.target = target
        self._session: aiohttp.ClientSession | None = None
        self.certificate = CertificateWatch(target.url, tls_context(True), target.timeout)
        self.tokens: Tokens | None = None
        # A session whose refresh token Auth refused, to sign out once a new one replaces it.
        self.replaced: Tokens | None = None
        self.activity = ProbeUserActivity()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = new_session(self.target.timeout)
        return self._session

    @property
    def _headers(self) -> dict[str, str]:
        return {"apikey": self.target.anon_key} if self.target.anon_key else {}

    async def run(self) -> ProbeOutcome:
        ct = {"component": self.component, "target": self.target.name}
        health = await exchange(self._client(), "GET", f"{self.target.url}/health",
                                WHAT, headers=self._headers)
        samples = [Sample("wedsync_probe_http_status_code", ct, health.status)]
        samples += await certificate_samples(self.certificate, ct)
        if health.status != 200:
            raise status_class_error(health.status, (200,), WHAT, samples)
        _json(health, WHAT)
        details: dict[str, object] = {"status_code": health.status}
        if self.target.sign_in.enabled:
            grant, answer = await self._token_call(samples)
            samples.append(Sample("wedsync_auth_signin_duration_seconds",
                                  {"target": self.target.name}, answer.elapsed))
            details["signin_seconds"] = answer.elapsed
            details["signin_grant"] = grant
        return ProbeOutcome(latency=health.elapsed, samples=samples, details=details)

    async def _token_call(self, samples: list[Sample]) -> tuple[str, Answer]:
        """Refresh the probe's session, or sign in when it has none; (grant, answer)."""
        if self.tokens is not None:
            answer = await self._grant("refresh_token",
                                       {"refresh_token": self.tokens.refresh_token},
                                       "the Auth token refresh")
            if answer.status == 200:
                self._keep(answer, "the Auth token refresh", samples)
                return "refresh_token", answer
            # A 400 is Auth refusing this refresh token (refresh_token_not_found, _already_used,
            # session_expired, ...); anything else is Auth or the gateway failing.
            if answer.status != 400:
                raise token_refusal(answer, "the Auth token refresh", samples)
            # Spent: not tried again; signed out once a new session replaces it.
            self.replaced, self.tokens = self.tokens, None
        body: dict[str, object] = {"email": self.target.sign_in.email,
                                   "password": self.target.sign_in.password}
        if self.target.sign_in.captcha_token:
            body["gotrue_meta_security"] = {"captcha_token": self.target.sign_in.captcha_token}
        answer = await self._grant("password", body, "the Auth sign-in")
        if answer.status != 200:
            raise token_refusal(answer, "the Auth sign-in", samples)
        self._keep(answer, "the Auth sign-in", samples)
        if self.replaced is not None:
            replaced, self.replaced = self.replaced, None
            await self._sign_out(replaced)
        return "password", answer

    async def _grant(self, grant: str, body: dict[str, object], what: str) -> Answer:
        return await exchange(self._client(), "POST",
                              f"{self.target.url}/token?grant_type={grant}", what,
                              headers=self._headers, body=body)

    def _keep(self, answer: Answer, what: str, samples: list[Sample]) -> None:
        document = _json(answer, what)
        access, refresh = document.get("access_token"), document.get("refresh_token")
        if not isinstance(access, str) or not isinstance(refresh, str):
            raise ProbeError("protocol", f"the answer of {what} has no access_token or "
                                         "refresh_token", samples=samples)
        self.tokens = Tokens(access, refresh)
        user = document.get("user")
        user_id = user.get("id") if isinstance(user, dict) else None
        if isinstance(user_id, str):
            self.activity.user_id = user_id
        self.activity.audited_calls += 1

    async def _sign_out(self, tokens: Tokens) -> None:
        """End one session of the probe's (best effort: a session already gone is fine)."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(min(SIGN_OUT_TIMEOUT, self.target.timeout)):
                answer = await exchange(
                    self._client(), "POST", f"{self.target.url}/logout?scope=local",
                    "the Auth sign-out",
                    headers={**self._headers, "Authorization": f"Bearer {tokens.access_token}"})
                if answer.status == 204:
                    self.activity.audited_calls += 1

    async def close(self) -> None:
        if self.tokens is not None:
            tokens, self.tokens = self.tokens, None
            await self._sign_out(tokens)
        if self._session is not None:
            await self._session.close()
            self._session = None
