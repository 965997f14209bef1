"""Supabase Auth (GoTrue) probe: ``GET {url}/health`` with the ``apikey`` header, and an
optional synthetic password sign-in with a dedicated probe user.

Health says GoTrue answers (it does not check GoTrue's database); the sign-in walks the path a
user takes, so a failing sign-in fails the probe. The latency the thresholds judge is the health
check's; the sign-in's is its own gauge.
"""

from __future__ import annotations

import json
import re

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
    tls_context,
)

WHAT = "Auth"
# GoTrue's error codes are short snake_case words; anything else is not repeated.
_ERROR_CODE = re.compile(r"^[a-z_]{1,40}$")


def _json(answer: Answer, what: str) -> dict[str, object]:
    try:
        document = json.loads(answer.body)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise ProbeError("protocol", f"the answer of {what} is not a JSON object")
    return document


def signin_refusal(answer: Answer, samples: list[Sample]) -> ProbeError:
    """Why the sign-in failed, with GoTrue's error code when it gives one."""
    try:
        code = json.loads(answer.body).get("error_code", "")
    except (ValueError, AttributeError):
        code = ""
    code = code if isinstance(code, str) and _ERROR_CODE.match(code) else ""
    if answer.status == 400 and code == "invalid_credentials":
        return ProbeError("auth", "the probe user's sign-in was refused (invalid_credentials)",
                          samples=samples)
    if answer.status == 429:
        return ProbeError("error", "the probe user's sign-in was rate limited (HTTP 429)",
                          samples=samples)
    suffix = f" ({code})" if code else ""
    reason: Reason = "auth" if answer.status in (400, 401, 403) else "error"
    return ProbeError(reason, f"the sign-in answered HTTP {answer.status}{suffix}",
                      samples=samples)


class AuthProbe:
    """Probes one Supabase Auth target."""

    component = "auth"

    def __init__(self, target: AuthTarget) -> None:
        self.target = target
        self._session: aiohttp.ClientSession | None = None
        self.certificate = CertificateWatch(target.url, tls_context(True), target.timeout)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = new_session(self.target.timeout)
        return self._session

    async def run(self) -> ProbeOutcome:
        ct = {"component": self.component, "target": self.target.name}
        headers = {"apikey": self.target.anon_key} if self.target.anon_key else {}
        health = await exchange(self._client(), "GET", f"{self.target.url}/health",
                                WHAT, headers=headers)
        samples = [Sample("wedsync_probe_http_status_code", ct, health.status)]
        samples += await certificate_samples(self.certificate, ct)
        if health.status != 200:
            raise status_class_error(health.status, (200,), WHAT, samples)
        _json(health, WHAT)
        details: dict[str, object] = {"status_code": health.status}
        if self.target.sign_in.enabled:
            signin = await exchange(
                self._client(), "POST", f"{self.target.url}/token?grant_type=password",
                "the Auth sign-in", headers=headers,
                body={"email": self.target.sign_in.email,
                      "password": self.target.sign_in.password})
            if signin.status != 200:
                raise signin_refusal(signin, samples)
            if not isinstance(_json(signin, "the Auth sign-in").get("access_token"), str):
                raise ProbeError("protocol", "the sign-in answer has no access_token",
                                 samples=samples)
            samples.append(Sample("wedsync_auth_signin_duration_seconds",
                                  {"target": self.target.name}, signin.elapsed))
            details["signin_seconds"] = signin.elapsed
        return ProbeOutcome(latency=health.elapsed, samples=samples, details=details)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
