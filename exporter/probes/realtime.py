"""Supabase Realtime probe: the path a Core Fields update takes, measured as a client sees it.

Open ``{url}/websocket?apikey=…&vsn=1.0.0``, join ``realtime:<channel>`` with
``broadcast: {self: true, ack: true}``, send a broadcast carrying a nonce, and wait for the
server's ack and for the echo of that very broadcast. The echo round trip is the Core Fields
propagation SLI (``wedsync_realtime_broadcast_roundtrip_seconds``) and the latency the
thresholds judge; connect, join and ack times are gauges. With ``postgres_changes`` configured,
the Core Fields check follows on the same socket (``exporter.probes.postgres_changes``). The
socket is closed on every path.

Realtime resolves the tenant from the first label of the host name and checks the key when the
socket connects, so those failures are refused upgrades, not refused joins. Since Realtime
v2.116 the status says which (404 unknown tenant → ``connect``; 401 bad key → ``auth``; 403
Realtime disabled for the project and 429 too many connections → ``refused``), with a JSON body;
before, every connect error was a bare 403. For a bare 403 the probe looks at what it can check
itself (an expired or malformed anon key → ``auth``; a host name that is not the key's project
→ ``connect``) and otherwise says that it is one of the two (reason ``auth``: behind the
gateway the tenant is fixed, so the key is the likelier cause).

The ``apikey`` rides in the URL, and URLs end up in exception texts: no message here contains a
URL or exception text, and the raw detail kept for debug logs has its query string cut off.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import secrets
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp

from exporter.config.model import RealtimeTarget
from exporter.metrics.store import Sample
from exporter.probes.base import ProbeError, ProbeOutcome, Reason
from exporter.probes.http import classify, new_session, safe_detail
from exporter.probes.postgres_changes import CoreFieldsCheck, Wire

WHAT = "Realtime"
VSN = "1.0.0"
# Realtime's join-error codes that mean "your token or key is not good enough".
AUTH_CODES = frozenset({"InvalidJWTToken", "MalformedJWT", "JwtSignatureError", "JwtSignerError",
                        "Unauthorized", "PrivateOnly"})
# Join-error codes of a Realtime that is at a limit: it declined, the credentials are fine.
REFUSED_CODES = frozenset({"ChannelRateLimitReached", "ConnectionRateLimitReached",
                           "ClientJoinRateLimitReached", "DatabaseConnectionRateLimitReached",
                           "RealtimeDisabledForTenant"})
_CODE = re.compile(r"^([A-Za-z]{1,60})(?::|$)")
# Where the connect-error statuses changed (404/401/429 with a JSON body, instead of 403).
STATUS_CODES_SINCE = "v2.116"


def join_error(reason: Any) -> ProbeError:
    """A refused join: ``auth`` for token errors, ``refused`` for limits, ``protocol``
    otherwise; only the code shown."""
    match = _CODE.match(reason) if isinstance(reason, str) else None
    code = match.group(1) if match else "unknown"
    kind: Reason = "auth" if code in AUTH_CODES else \
        "refused" if code in REFUSED_CODES else "protocol"
    return ProbeError(kind, f"Realtime refused the channel join ({code})")


def _claims(key: str) -> dict[str, Any] | None:
    """The claims of a JWT-shaped key, unverified (only to explain a refusal), else None."""
    parts = key.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, TypeError):
        return None
    return claims if isinstance(claims, dict) else None


def legacy_forbidden(url: str, key: str, detail: str) -> ProbeError:
    """What a bare 403 at connect means (Realtime before v2.116: unknown tenant or bad key),
    narrowed down by what the probe can check itself."""
    prefix = f"Realtime refused the connection (HTTP 403, Realtime before {STATUS_CODES_SINCE})"
    tenant = (urlsplit(url).hostname or "").split(".", 1)[0]
    claims = _claims(key)
    if not key:
        return ProbeError("auth", f"{prefix}: no anon key is configured", detail)
    if claims is None and not key.startswith("sb_"):
        return ProbeError("auth", f"{prefix}: the anon key is not a JWT", detail)
    if claims is not None:
        exp = claims.get("exp")
        if isinstance(exp, int | float) and exp <= time.time():
            return ProbeError("auth", f"{prefix}: the anon key has expired", detail)
        ref = claims.get("ref")
        if isinstance(ref, str) and ref and tenant and tenant != ref:
            return ProbeError("connect", f"{prefix}: the host name's first label is not the "
                                         "anon key's project (unknown tenant)", detail)
    return ProbeError("auth", f"{prefix}: either the key is not this project's (signed with "
                              "another JWT secret) or the host name is not a known tenant; "
                              "through the gateway the tenant is fixed, so check the key",
                      detail)


class RealtimeProbe:
    """Probes one Supabase Realtime target with a fresh socket per run."""

    component = "realtime"

    def __init__(self, target: RealtimeTarget) -> None:
        self.target = target
        self._session: aiohttp.ClientSession | None = None
        self._ref = 0
        settings = target.postgres_changes
        self.core_fields = CoreFieldsCheck(target.name, settings) if settings else None
        t = {"target": target.name}
        # Counters this probe adds to, zero from the start (only with the Core Fields check).
        self.counters: tuple[Sample, ...] = (
            Sample("wedsync_realtime_rls_leaks_total", t),
            Sample("wedsync_realtime_clock_skew_total", t)) if settings else ()

    @property
    def synthetic_user_ids(self) -> set[str]:
        """Ids of the Core Fields probe's users (their token calls are not users' activity)."""
        return self.core_fields.user_ids if self.core_fields else set()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = new_session(self.target.timeout)
        return self._session

    @property
    def socket_url(self) -> str:
        query = urlencode({"apikey": self.target.anon_key, "vsn": VSN})
        return f"{self.target.url}/websocket?{query}"

    def _next_ref(self) -> str:
        self._ref += 1
        return str(self._ref)

    async def run(self) -> ProbeOutcome:
        # Leave a little of the scheduler's hard timeout to say which step ran out of time.
        deadline = time.monotonic() + self.target.timeout * 0.95
        started = time.perf_counter()
        try:
            ws = await asyncio.wait_for(
                self._client().ws_connect(
                    self.socket_url, autoping=True, heartbeat=None, max_msg_size=1 << 20,
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=1.0)),
                max(0.01, deadline - time.monotonic()))
        except TimeoutError:
            raise ProbeError("timeout", "the Realtime WebSocket did not open in time") from None
        except aiohttp.WSServerHandshakeError as exc:
            raise self._handshake_error(exc) from None
        except Exception as exc:
            error = classify(exc, WHAT)
            raise ProbeError(error.reason, error.message, safe_detail(exc)) from None
        connected = time.perf_counter() - started
        try:
            return await self._converse(ws, connected, deadline)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 1.0)

    def _handshake_error(self, exc: aiohttp.WSServerHandshakeError) -> ProbeError:
        detail = safe_detail(exc)
        status = exc.status
        # Realtime from v2.116 answers connect errors with a JSON body; before, a bare 403.
        modern = "json" in ((exc.headers or {}).get("Content-Type") or "").lower()
        if status == 404:
            return ProbeError("connect", "Realtime does not know this project (HTTP 404, "
                                         "unknown tenant): the tenant is the host name's first "
                                         "label, so go through the project's gateway URL",
                              detail)
        if status == 401:
            return ProbeError("auth", "Realtime refused the anon key at connect (HTTP 401): "
                                      "not a valid key of this project", detail)
        if status == 403 and modern:
            return ProbeError("refused", "Realtime is disabled for this project (HTTP 403)",
                              detail)
        if status == 403:
            return legacy_forbidden(self.target.url, self.target.anon_key, detail)
        if status == 429:
            return ProbeError("refused", "Realtime refused the connection: the project is at "
                                         "its limit of connected users or joins (HTTP 429)",
                              detail)
        if status >= 500:
            return ProbeError("error", f"Realtime answered HTTP {status} to the WebSocket "
                                       "upgrade", detail)
        return ProbeError("protocol", f"Realtime did not upgrade to a WebSocket "
                                      f"(HTTP {status})", detail)

    async def _send(self, ws: aiohttp.ClientWebSocketResponse, message: dict[str, Any]) -> None:
        try:
            await ws.send_str(json.dumps(message))
        except (ConnectionError, RuntimeError) as exc:
            raise ProbeError("connect", "Realtime closed the connection", safe_detail(exc)) \
                from None

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse, deadline: float,
                       waiting_for: str) -> dict[str, Any]:
        """The next JSON frame (ProbeError on a closed socket, garbage or the deadline)."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ProbeError("timeout", f"no {waiting_for} from Realtime in time")
        try:
            frame = await ws.receive(timeout=remaining)
        except TimeoutError:
            raise ProbeError("timeout", f"no {waiting_for} from Realtime in time") from None
        if frame.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING,
                          aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
            raise ProbeError("connect", f"Realtime closed the connection before the "
                                        f"{waiting_for}")
        if frame.type != aiohttp.WSMsgType.TEXT:
            raise ProbeError("protocol", "Realtime sent a frame that is not text")
        try:
            message = json.loads(frame.data)
        except ValueError:
            raise ProbeError("protocol", "Realtime sent a frame that is not JSON") from None
        if not isinstance(message, dict):
            raise ProbeError("protocol", "Realtime sent a frame that is not a JSON object")
        return message

    async def _converse(self, ws: aiohttp.ClientWebSocketResponse, connected: float,
                        deadline: float) -> ProbeOutcome:
        topic = f"realtime:{self.target.channel}"
        join_ref = self._next_ref()
        join_payload: dict[str, Any] = {"config": {
            "broadcast": {"self": True, "ack": True}, "presence": {"enabled": False},
            "private": False}}
        if self.target.access_token:
            join_payload["access_token"] = self.target.access_token
        join_started = time.perf_counter()
        await self._send(ws, {"topic": topic, "event": "phx_join", "payload": join_payload,
                              "ref": join_ref, "join_ref": join_ref})
        while True:
            message = await self._receive(ws, deadline, "join reply")
            if message.get("event") == "phx_reply" and message.get("ref") == join_ref:
                break
        joined = time.perf_counter() - join_started
        reply = message.get("payload")
        reply = reply if isinstance(reply, dict) else {}
        if reply.get("status") != "ok":
            response = reply.get("response")
            raise join_error(response.get("reason") if isinstance(response, dict) else None)

        nonce = secrets.token_hex(12)
        ref = self._next_ref()
        sent = time.perf_counter()
        await self._send(ws, {"topic": topic, "event": "broadcast", "payload": {
            "type": "broadcast", "event": "wedsync-probe", "payload": {"nonce": nonce}},
            "ref": ref, "join_ref": join_ref})
        acked: float | None = None
        echoed: float | None = None
        while acked is None or echoed is None:
            message = await self._receive(ws, deadline, "broadcast ack" if acked is None
                                          else "broadcast echo")
            now = time.perf_counter()
            event, payload = message.get("event"), message.get("payload")
            if event == "phx_reply" and message.get("ref") == ref:
                if not isinstance(payload, dict) or payload.get("status") != "ok":
                    raise ProbeError("protocol", "Realtime refused the broadcast")
                acked = now - sent
            elif (event == "broadcast" and message.get("topic") == topic
                  and isinstance(payload, dict) and isinstance(payload.get("payload"), dict)
                  and payload["payload"].get("nonce") == nonce):
                echoed = now - sent
        t = {"target": self.target.name}
        outcome = ProbeOutcome(
            latency=echoed,
            samples=[Sample("wedsync_realtime_connect_duration_seconds", t, connected),
                     Sample("wedsync_realtime_join_duration_seconds", t, joined),
                     Sample("wedsync_realtime_broadcast_ack_seconds", t, acked)],
            observations=[Sample("wedsync_realtime_broadcast_roundtrip_seconds", t, echoed)],
            details={"connect_seconds": connected, "join_seconds": joined,
                     "ack_seconds": acked, "roundtrip_seconds": echoed},
        )
        if self.core_fields is not None:
            wire = Wire(send=lambda message: self._send(ws, message),
                        receive=lambda until, what: self._receive(ws, until, what),
                        next_ref=self._next_ref, refused=join_error)
            found = await self.core_fields.run(self._client(), wire, deadline)
            outcome.samples += found.samples
            outcome.observations += found.observations
            outcome.counts += found.counts
            outcome.details.update(found.details)
        return outcome

    async def close(self) -> None:
        if self.core_fields is not None:
            await self.core_fields.close(self._session)
        if self._session is not None:
            await self._session.close()
            self._session = None
