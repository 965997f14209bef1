"""Stand-in for Supabase Auth (GoTrue), behind the gateway path ``/auth/v1`` and at its own root.

``GET /health``; ``GET /settings``; ``POST /token?grant_type=password`` and
``grant_type=refresh_token``; ``GET /user`` and ``POST /logout?scope=`` with a bearer access
token. Under ``/auth/v1`` the gateway wants an API key first (``sandbox.gateway``); Auth's own
paths (``/health``, ``/token``, … at the root, as on Auth's port 9999) do not.

Answers have GoTrue's shapes: user objects with every field real Auth always sends, sessions
tied to a ``session_id`` claim (``/logout`` ends them, ``/user`` then answers
``session_not_found``), refresh tokens that work once. Errors are ``{"code", "error_code",
"msg"}``, or ``{"code": <error_code>, "message"}`` when the request asks for API version
2024-01-01 or later with ``X-Supabase-Api-Version`` (echoed back, as GoTrue does).

The ``captcha`` fault turns on CAPTCHA protection of the password grant as GoTrue applies it
(the refresh-token grant is never checked): ``on`` refuses every token with 400
``captcha_failed`` (no program can solve a real CAPTCHA), ``test`` accepts only the provider's
documented test token (a project using its provider's test secret), ``unreachable`` answers 500
as GoTrue does when the verifier cannot be reached.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from sandbox import STAND_IN_NOTICE
from sandbox.audit import AuditLog
from sandbox.context import Context
from sandbox.gateway import check_apikey
from sandbox.tokens import TokenError, issue, verify

PREFIX = "/auth/v1"
VERSION = "v2-sandbox"
API_VERSION_HEADER = "X-Supabase-Api-Version"
API_VERSION_2024 = "2024-01-01"
_API_VERSION = re.compile(r"^2[0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")
# hCaptcha's documented test response token: it passes only against the test secret.
CAPTCHA_TEST_TOKEN = "10000000-aaaa-bbbb-cccc-000000000001"
LOGOUT_SCOPES = ("global", "local", "others")
# Used refresh tokens remembered to answer "already used" (the oldest forgotten beyond this, so
# a long load test does not grow the stand-in without bound).
USED_TOKENS_KEPT = 10_000

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def user_id_for(email: str) -> str:
    """The id the stand-in gives the user ``email`` (stable: a name-based UUID)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox:{email}"))


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")


def api_version(request: web.Request) -> str | None:
    """The API version the request asks for (2024-01-01 or later), or None for the initial."""
    asked = request.headers.get(API_VERSION_HEADER, "").strip()
    if _API_VERSION.match(asked) and asked >= API_VERSION_2024:
        return API_VERSION_2024
    return None


def auth_error(request: web.Request, status: int, error_code: str, msg: str) -> web.Response:
    """GoTrue's error body in the shape the request's API version asks for."""
    if api_version(request) is not None:
        return web.json_response({"code": error_code, "message": msg}, status=status,
                                 headers={API_VERSION_HEADER: API_VERSION_2024})
    return web.json_response({"code": status, "error_code": error_code, "msg": msg},
                             status=status)


@dataclass
class Session:
    """One signed-in session and its current refresh token."""

    email: str
    refresh_token: str
    created_at: float = field(default_factory=time.time)


class AuthService:
    """Users, sessions and refresh tokens of the stand-in."""

    def __init__(self, context: Context) -> None:
        self.context = context
        self.settings = context.settings
        # Stable user ids per email for the life of the process.
        self.user_ids = {email: user_id_for(email) for email in self.settings.users}
        self.created_at = context.started_at
        self.last_sign_in: dict[str, float] = {}
        self.sessions: dict[str, Session] = {}
        # refresh token -> session id; used ones are remembered to say "already used".
        self.refresh_tokens: dict[str, str] = {}
        self.used_refresh_tokens: OrderedDict[str, None] = OrderedDict()
        self.audit = AuditLog(self.settings.database_url) if self.settings.database_url else None

    def user(self, email: str) -> dict[str, Any]:
        """The user object GoTrue sends (every field it always sends)."""
        user_id = self.user_ids[email]
        created = _iso(self.created_at)
        signed_in = _iso(self.last_sign_in.get(email, self.created_at))
        identity_data = {"email": email, "email_verified": True, "phone_verified": False,
                         "sub": user_id}
        return {
            "id": user_id, "aud": "authenticated", "role": "authenticated", "email": email,
            "email_confirmed_at": created, "phone": "", "confirmed_at": created,
            "last_sign_in_at": signed_in,
            "app_metadata": {"provider": "email", "providers": ["email"]},
            "user_metadata": identity_data,
            "identities": [{
                "identity_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"identity:{email}")),
                "id": user_id, "user_id": user_id, "identity_data": identity_data,
                "provider": "email", "last_sign_in_at": signed_in, "created_at": created,
                "updated_at": created, "email": email}],
            "created_at": created, "updated_at": signed_in, "is_anonymous": False,
        }

    def new_session(self, email: str) -> dict[str, Any]:
        """A new session (access token and refresh token) for ``email``."""
        session_id = str(uuid.uuid4())
        refresh = secrets.token_urlsafe(16)
        self.sessions[session_id] = Session(email, refresh)
        self.refresh_tokens[refresh] = session_id
        return self.answer(session_id)

    def rotate(self, refresh: str) -> dict[str, Any]:
        """The session of ``refresh`` with a new access token and a new refresh token."""
        session_id = self.refresh_tokens.pop(refresh)
        self.used_refresh_tokens[refresh] = None
        while len(self.used_refresh_tokens) > USED_TOKENS_KEPT:
            self.used_refresh_tokens.popitem(last=False)
        session = self.sessions[session_id]
        session.refresh_token = secrets.token_urlsafe(16)
        self.refresh_tokens[session.refresh_token] = session_id
        return self.answer(session_id)

    def answer(self, session_id: str) -> dict[str, Any]:
        session = self.sessions[session_id]
        email = session.email
        now = int(time.time())
        expires_at = now + self.settings.token_ttl
        claims = {"iss": f"{PREFIX}", "sub": self.user_ids[email], "aud": "authenticated",
                  "exp": expires_at, "iat": now, "email": email, "phone": "",
                  "app_metadata": {"provider": "email", "providers": ["email"]},
                  "user_metadata": {}, "role": "authenticated", "aal": "aal1",
                  "amr": [{"method": "password", "timestamp": int(session.created_at)}],
                  "session_id": session_id, "is_anonymous": False}
        return {"access_token": issue(claims, self.settings.jwt_secret), "token_type": "bearer",
                "expires_in": self.settings.token_ttl, "expires_at": expires_at,
                "refresh_token": session.refresh_token, "user": self.user(email)}

    def end_sessions(self, session_ids: list[str]) -> None:
        for session_id in session_ids:
            session = self.sessions.pop(session_id, None)
            if session is not None:
                self.refresh_tokens.pop(session.refresh_token, None)

    def check_password(self, email: str, password: str) -> bool:
        expected = self.settings.users.get(email)
        # Compare even for unknown users so the time taken does not tell which exist.
        return hmac.compare_digest(password.encode(), (expected or "\0").encode()) and bool(
            expected)

    async def audit_event(self, request: web.Request, action: str, email: str) -> None:
        if self.audit is not None:
            await self.audit.record(action, self.user_ids[email], email, request.remote or "")


def captcha_refusal(request: web.Request, mode: str | None,
                    body: dict[str, Any]) -> web.Response | None:
    """GoTrue's answer when CAPTCHA protection refuses a password sign-in, or None."""
    if mode is None:
        return None
    if mode == "unreachable":
        return auth_error(request, 500, "unexpected_failure",
                          "captcha verification process failed")
    security = body.get("gotrue_meta_security")
    token = security.get("captcha_token") if isinstance(security, dict) else None
    if not isinstance(token, str) or not token:
        return auth_error(request, 400, "captcha_failed", "captcha protection: request "
                          "disallowed (no captcha_token found)")
    if mode == "test" and hmac.compare_digest(token.encode(), CAPTCHA_TEST_TOKEN.encode()):
        return None
    return auth_error(request, 400, "captcha_failed",
                      "captcha protection: request disallowed (invalid-input-response)")


def register(app: web.Application, context: Context) -> None:
    """Add the Auth routes, behind the gateway and at Auth's own root."""
    service = AuthService(context)
    context.state["auth"] = service

    async def read_json(request: web.Request) -> dict[str, Any] | web.Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return auth_error(request, 400, "bad_json", "Could not parse request body as JSON")
        if not isinstance(body, dict):
            return auth_error(request, 400, "bad_json", "Request body must be a JSON object")
        return body

    def claims_of(request: web.Request) -> dict[str, Any] | web.Response:
        """The claims of the bearer access token of a live session, or GoTrue's refusal."""
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            return auth_error(request, 401, "no_authorization",
                              "This endpoint requires a valid Bearer token")
        try:
            claims = verify(presented.strip(), context.settings.jwt_secret)
        except TokenError as exc:
            return auth_error(request, 403, "bad_jwt", f"invalid JWT: {exc.message}")
        if claims.get("email") not in service.user_ids:
            return auth_error(request, 404, "user_not_found",
                              "User from sub claim in JWT does not exist")
        if claims.get("session_id") not in service.sessions:
            return auth_error(request, 403, "session_not_found",
                              "Session from session_id claim in JWT does not exist")
        return claims

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"version": VERSION, "name": "GoTrue",
                                  "description": f"GoTrue is a user registration and "
                                                 f"authentication API. {STAND_IN_NOTICE}"})

    async def settings(_: web.Request) -> web.Response:
        return web.json_response({
            "external": {"anonymous_users": False, "email": True, "phone": False},
            "disable_signup": True, "mailer_autoconfirm": False, "phone_autoconfirm": False,
            "sms_provider": "", "saml_enabled": False})

    async def token(request: web.Request) -> web.Response:
        body = await read_json(request)
        if isinstance(body, web.Response):
            return body
        grant = request.query.get("grant_type", "")
        if grant == "password":
            email, password = body.get("email"), body.get("password")
            if not isinstance(email, str) or not isinstance(password, str) or not password:
                return auth_error(request, 400, "validation_failed",
                                  "A valid email and password are required")
            # GoTrue verifies the CAPTCHA before it looks at the credentials.
            refused = captcha_refusal(request, context.faults.get("auth").captcha, body)
            if refused is not None:
                return refused
            if not service.check_password(email, password):
                return auth_error(request, 400, "invalid_credentials",
                                  "Invalid login credentials")
            service.last_sign_in[email] = time.time()
            await service.audit_event(request, "login", email)
            return web.json_response(service.new_session(email))
        if grant == "refresh_token":
            refresh = body.get("refresh_token")
            if not isinstance(refresh, str) or refresh not in service.refresh_tokens:
                if isinstance(refresh, str) and refresh in service.used_refresh_tokens:
                    return auth_error(request, 400, "refresh_token_already_used",
                                      "Invalid Refresh Token: Already Used")
                return auth_error(request, 400, "refresh_token_not_found",
                                  "Invalid Refresh Token: Refresh Token Not Found")
            answer = service.rotate(refresh)
            await service.audit_event(request, "token_refreshed", answer["user"]["email"])
            return web.json_response(answer)
        return auth_error(request, 400, "validation_failed", "unsupported_grant_type")

    async def user(request: web.Request) -> web.Response:
        claims = claims_of(request)
        if isinstance(claims, web.Response):
            return claims
        return web.json_response(service.user(claims["email"]))

    async def logout(request: web.Request) -> web.StreamResponse:
        scope = request.query.get("scope") or "global"
        if scope not in LOGOUT_SCOPES:
            return auth_error(request, 400, "validation_failed",
                              f'Unsupported logout scope "{scope}"')
        claims = claims_of(request)
        if isinstance(claims, web.Response):
            return claims
        email, own = claims["email"], claims["session_id"]
        mine = [sid for sid, s in service.sessions.items() if s.email == email]
        ended = {"local": [own], "others": [sid for sid in mine if sid != own]}.get(scope, mine)
        await service.audit_event(request, "logout", email)
        service.end_sessions(ended)
        return web.Response(status=204)

    def through_gateway(handler: Handler) -> Handler:
        async def gated(request: web.Request) -> web.StreamResponse:
            refused = check_apikey(request, context.settings)
            return refused if refused is not None else await handler(request)
        return gated

    async def close(_: web.Application) -> None:
        if service.audit is not None:
            await service.audit.close()

    routes: list[tuple[str, str, Handler]] = [
        ("GET", "/health", health), ("GET", "/settings", settings), ("POST", "/token", token),
        ("GET", "/user", user), ("POST", "/logout", logout)]
    for method, path, handler in routes:
        app.router.add_route(method, f"{PREFIX}{path}", through_gateway(handler))
        app.router.add_route(method, path, handler)
    app.on_cleanup.append(close)
