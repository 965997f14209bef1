"""Access tokens of the Core Fields probe's synthetic users, obtained through Auth as any client
gets them (the exporter never holds the JWT secret).

One password sign-in per user, then the refresh-token grant whenever the access token has less
than a third of its life left (Auth's tokens live an hour, so about one refresh per user every
40 minutes: each token call writes an audit-log row, which the audit counter leaves out by the
user ids kept in ``user_ids``). A refresh token Auth refuses (400) is dropped and the user signs
in afresh. ``close`` signs the sessions out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass

import aiohttp

from exporter.config.model import SyntheticUser
from exporter.probes.auth import token_refusal
from exporter.probes.base import ProbeError
from exporter.probes.http import Answer, exchange

# Refresh once less than this share of a token's lifetime is left.
REFRESH_SHARE = 1 / 3
SIGN_OUT_TIMEOUT = 2.0


@dataclass
class Session:
    """One user's current tokens."""

    access_token: str
    refresh_token: str
    expires_at: float
    lifetime: float


class SyntheticUsers:
    """Sessions of named synthetic users of one Auth."""

    def __init__(self, auth_url: str, anon_key: str, users: dict[str, SyntheticUser]) -> None:
        self.auth_url = auth_url
        self.anon_key = anon_key
        self.users = users
        self.sessions: dict[str, Session] = {}
        # Role name -> the user's id, once Auth has said it (for the audit-log counter).
        self.ids: dict[str, str] = {}
        self.user_ids: set[str] = set()

    @property
    def _headers(self) -> dict[str, str]:
        return {"apikey": self.anon_key} if self.anon_key else {}

    async def token(self, client: aiohttp.ClientSession, role: str) -> str:
        """A live access token of the user ``role`` (ProbeError when Auth refuses it)."""
        session = self.sessions.get(role)
        now = time.time()
        if session is not None and session.expires_at - now > session.lifetime * REFRESH_SHARE:
            return session.access_token
        what = f"the Core Fields {role}'s token refresh"
        if session is not None:
            answer = await self._grant(client, "refresh_token",
                                       {"refresh_token": session.refresh_token}, what)
            if answer.status == 200:
                return self._keep(role, answer, what)
            if answer.status != 400:
                raise token_refusal(answer, what, [])
            del self.sessions[role]
        what = f"the Core Fields {role}'s sign-in"
        user = self.users[role]
        answer = await self._grant(client, "password",
                                   {"email": user.email, "password": user.password}, what)
        if answer.status != 200:
            raise token_refusal(answer, what, [])
        return self._keep(role, answer, what)

    async def _grant(self, client: aiohttp.ClientSession, grant: str,
                     body: dict[str, object], what: str) -> Answer:
        return await exchange(client, "POST", f"{self.auth_url}/token?grant_type={grant}", what,
                              headers=self._headers, body=body)

    def _keep(self, role: str, answer: Answer, what: str) -> str:
        try:
            document = json.loads(answer.body)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise ProbeError("protocol", f"the answer of {what} is not a JSON object")
        access, refresh = document.get("access_token"), document.get("refresh_token")
        expires_in = document.get("expires_in")
        if not isinstance(access, str) or not isinstance(refresh, str):
            raise ProbeError("protocol", f"the answer of {what} has no access_token or "
                                         "refresh_token")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) and \
            expires_in > 0 else 3600.0
        self.sessions[role] = Session(access, refresh, time.time() + lifetime, lifetime)
        user = document.get("user")
        user_id = user.get("id") if isinstance(user, dict) else None
        if isinstance(user_id, str):
            self.ids[role] = user_id
            self.user_ids.add(user_id)
        return access

    async def close(self, client: aiohttp.ClientSession) -> None:
        """Sign every session out (best effort)."""
        sessions, self.sessions = self.sessions, {}
        for session in sessions.values():
            with contextlib.suppress(Exception):
                async with asyncio.timeout(SIGN_OUT_TIMEOUT):
                    await exchange(client, "POST", f"{self.auth_url}/logout?scope=local",
                                   "the Auth sign-out", headers={
                                       **self._headers,
                                       "Authorization": f"Bearer {session.access_token}"})
