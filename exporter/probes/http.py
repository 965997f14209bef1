"""HTTP prober: the API and external-service targets, and the HTTP plumbing the Auth probe
shares (one request, classified failures, TLS certificate expiry).

A probe opens a fresh connection every run (no keep-alive): the latency is what a new client
sees, and a certificate that changed or a TLS handshake that broke shows up on the next run.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import time
from dataclasses import dataclass
from datetime import UTC
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from exporter import __version__
from exporter.components import REGISTRY
from exporter.config.model import HttpTarget, JsonFieldCheck
from exporter.metrics.store import Sample
from exporter.probes.base import ProbeError, ProbeOutcome
from exporter.probes.tls import tls_context

USER_AGENT = f"wedsync-exporter/{__version__}"
MAX_BODY_BYTES = 1 << 20
MISSING = object()


@dataclass
class Answer:
    """One HTTP exchange: status, body, time to the last byte."""

    status: int
    body: bytes
    elapsed: float


def new_session(timeout: float, context: ssl.SSLContext | None = None) -> aiohttp.ClientSession:
    """A session that opens a new connection per request and keeps no cookies."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(force_close=True, ssl=context or True,
                                       enable_cleanup_closed=False),
        timeout=aiohttp.ClientTimeout(total=timeout),
        cookie_jar=aiohttp.DummyCookieJar(),
        headers={"User-Agent": USER_AGENT},
    )


@lru_cache(maxsize=64)
def certificate_expiry(der: bytes) -> float:
    """Unix time at which the DER certificate expires."""
    # Imported here, for a target that does not verify: cryptography (its own OpenSSL) is about
    # 7 MiB of memory that an exporter whose HTTPS targets all verify never needs.
    from cryptography import x509

    return x509.load_der_x509_certificate(der).not_valid_after_utc.astimezone(UTC).timestamp()


def peer_expiry(ssl_object: ssl.SSLObject) -> float | None:
    """Unix time at which the peer's certificate expires. The ssl module decodes a certificate
    it verified; only one taken without verification (``tls_verify: false``) is decoded from
    its DER bytes."""
    if ssl_object.context.verify_mode != ssl.CERT_NONE:
        not_after = ssl_object.getpeercert().get("notAfter")
        if isinstance(not_after, str):
            return float(ssl.cert_time_to_seconds(not_after))
    der = ssl_object.getpeercert(binary_form=True)
    return certificate_expiry(der) if der else None


class CertificateWatch:
    """The expiry of an https target's certificate, from a TLS handshake of its own.

    aiohttp lets go of a connection as soon as a small answer is read, so the certificate is
    taken from a separate handshake, at most every ``ttl`` seconds (certificates change rarely).
    A failed handshake is not a probe failure: the request itself shows TLS problems.
    """

    def __init__(self, url: str, context: ssl.SSLContext, timeout: float,
                 ttl: float = 300.0) -> None:
        parts = urlsplit(url)
        self.secure = parts.scheme in ("https", "wss")
        self.host = parts.hostname or ""
        self.port = parts.port or 443
        self.context = context
        self.timeout = timeout
        self.ttl = ttl
        self._expiry: float | None = None
        self._checked = -ttl

    async def expiry(self) -> float | None:
        """Unix time at which the certificate expires (None for plain HTTP)."""
        if not self.secure:
            return None
        if time.monotonic() - self._checked < self.ttl:
            return self._expiry
        writer = None
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(
                self.host, self.port, ssl=self.context, server_hostname=self.host),
                self.timeout)
            ssl_object = writer.get_extra_info("ssl_object")
            expiry = peer_expiry(ssl_object) if ssl_object else None
            if expiry is not None:
                self._expiry = expiry
                self._checked = time.monotonic()
        except (OSError, TimeoutError, ssl.SSLError, ValueError):
            pass
        finally:
            if writer is not None:
                writer.close()
        return self._expiry


_QUERY = re.compile(r"\?[^\s'\"]*")


def safe_detail(exc: BaseException) -> str:
    """Exception text for debug logs, with any URL query string (where keys ride) cut off."""
    return _QUERY.sub("?…", f"{type(exc).__name__}: {exc}")


def classify(exc: BaseException, what: str) -> ProbeError:
    """A ProbeError for an aiohttp failure; ``what`` names the service ("the API")."""
    if isinstance(exc, ProbeError):
        return exc
    text = safe_detail(exc)
    if isinstance(exc, TimeoutError):
        return ProbeError("timeout", f"{what} did not answer in time", text)
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return ProbeError("connect", f"the TLS certificate of {what} is not trusted", text)
    if isinstance(exc, aiohttp.ClientSSLError):
        return ProbeError("connect", f"the TLS handshake with {what} failed", text)
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return ProbeError("connect", f"the host name of {what} does not resolve", text)
    if isinstance(exc, aiohttp.ClientConnectorError):
        refused = isinstance(exc.os_error, ConnectionRefusedError)
        return ProbeError("connect", f"{what} refused the connection" if refused
                          else f"cannot reach {what}", text)
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError |
                  ConnectionError):
        return ProbeError("connect", f"{what} closed the connection without answering", text)
    if isinstance(exc, aiohttp.ClientResponseError | aiohttp.ClientPayloadError):
        return ProbeError("protocol", f"{what} sent a malformed HTTP answer", text)
    if isinstance(exc, aiohttp.InvalidURL):
        return ProbeError("error", "the configured URL is not valid", type(exc).__name__)
    return ProbeError("error", f"unexpected {type(exc).__name__}", text)


async def exchange(session: aiohttp.ClientSession, method: str, url: str, what: str, *,
                   headers: dict[str, str] | None = None, body: Any = None) -> Answer:
    """One request, read to the end (at most 1 MiB); failures raised as ProbeError."""
    started = time.perf_counter()
    try:
        async with session.request(method, url, headers=headers, json=body,
                                   allow_redirects=False) as response:
            received = b""
            while chunk := await response.content.read(65536):
                received += chunk
                if len(received) > MAX_BODY_BYTES:
                    raise ProbeError("protocol", f"the answer of {what} is larger than 1 MiB")
            return Answer(response.status, received, time.perf_counter() - started)
    except Exception as exc:
        raise classify(exc, what) from None


async def certificate_samples(watch: CertificateWatch, ct: dict[str, str]) -> list[Sample]:
    """The certificate-expiry sample of an https target (none for plain HTTP)."""
    expiry = await watch.expiry()
    if expiry is None:
        return []
    return [Sample("wedsync_tls_certificate_expiry_timestamp_seconds", ct, expiry)]


def status_class_error(status: int, expected: tuple[int, ...], what: str,
                       samples: list[Sample]) -> ProbeError:
    """The failure for an unexpected status: ``auth`` for 401/403, else ``error``."""
    wanted = ", ".join(map(str, expected))
    if status in (401, 403):
        return ProbeError("auth", f"{what} refused the credentials (HTTP {status})",
                          samples=samples)
    return ProbeError("error", f"{what} answered HTTP {status} (expected {wanted})",
                      samples=samples)


def json_field(document: Any, path: str) -> Any:
    """The value at a dotted path (``a.b.0.c``), or MISSING."""
    node = document
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return MISSING
    return node


def check_json(body: bytes, check: JsonFieldCheck, what: str) -> str | None:
    """None if the JSON answer's field has the expected value, else why not (safe to show)."""
    try:
        document = json.loads(body)
    except ValueError:
        return f"the answer of {what} is not JSON"
    found = json_field(document, check.path)
    if found is MISSING:
        return f"JSON field `{check.path}` is missing"
    if found != check.equals:
        return f"JSON field `{check.path}` does not have the expected value"
    return None


class HttpProbe:
    """Probes one API or external-service URL."""

    def __init__(self, component: str, target: HttpTarget, what: str | None = None) -> None:
        self.component = component
        self.target = target
        # How messages name the service: the component's declaration says ("the API").
        self.what = what or (REGISTRY.get(component).spoken if component in REGISTRY
                             else "the service")
        self._session: aiohttp.ClientSession | None = None
        self._context = tls_context(target.tls_verify, target.ca_file)
        self.certificate = CertificateWatch(target.url, self._context, target.timeout)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = new_session(self.target.timeout, self._context)
        return self._session

    async def run(self) -> ProbeOutcome:
        answer = await exchange(self._client(), self.target.method, self.target.url, self.what,
                                headers=dict(self.target.headers))
        ct = {"component": self.component, "target": self.target.name}
        samples = [Sample("wedsync_probe_http_status_code", ct, answer.status)]
        samples += await certificate_samples(self.certificate, ct)
        if answer.status not in self.target.expected_status:
            raise status_class_error(answer.status, self.target.expected_status, self.what,
                                     samples)
        if self.target.json_field is not None and self.target.method != "HEAD":
            problem = check_json(answer.body, self.target.json_field, self.what)
            if problem is not None:
                raise ProbeError("protocol", problem, samples=samples)
        return ProbeOutcome(latency=answer.elapsed, samples=samples,
                            details={"status_code": answer.status})

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
