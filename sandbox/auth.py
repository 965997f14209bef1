"""Stand-in for Supabase Auth (GoTrue) behind the gateway path ``/auth/v1``.

``GET /health``; ``POST /token?grant_type=password`` and ``grant_type=refresh_token``;
``GET /user`` with a bearer access token. Answers and error bodies have GoTrue's shapes
(``{"code", "error_code", "msg"}``).
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
import uuid
from typing import Any

from aiohttp import web

from sandbox import STAND_IN_NOTICE
from sandbox.audit import AuditLog
from sandbox.context import Context
from sandbox.gateway import check_apikey
from sandbox.tokens import TokenError, issue, verify

PREFIX = "/auth/v1"
VERSION = "v2-sandbox"


def auth_error(status: int, error_code: str, msg: str) -> web.Response:
    """GoTrue's error body."""
    return web.json_response({"code": status, "error_code": error_code, "msg": msg},
                             status=status)


class AuthService:
    """Users, sessions and refresh tokens of the stand-in."""

    def __init__(self, context: Context) -> None:
        self.settings = context.settings
        # Stable user ids per email for the life of the process.
        self.user_ids = {email: str(uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox:{email}"))
                         for email in self.settings.users}
        self.refresh_tokens: dict[str, str] = {}
        self.audit = AuditLog(self.settings.database_url) if self.settings.database_url else None

    def user(self, email: str) -> dict[str, Any]:
        return {"id": self.user_ids[email], "aud": "authenticated", "role": "authenticated",
                "email": email, "app_metadata": {"provider": "email", "providers": ["email"]},
                "user_metadata": {}}

    def session(self, email: str) -> dict[str, Any]:
        """A new access token and refresh token for ``email``."""
        now = int(time.time())
        expires_at = now + self.settings.token_ttl
        claims = {"sub": self.user_ids[email], "email": email, "role": "authenticated",
                  "aud": "authenticated", "iat": now, "exp": expires_at,
                  "session_id": str(uuid.uuid4())}
        refresh = secrets.token_urlsafe(16)
        self.refresh_tokens[refresh] = email
        return {"access_token": issue(claims, self.settings.jwt_secret), "token_type": "bearer",
                "expires_in": self.settings.token_ttl, "expires_at": expires_at,
                "refresh_token": refresh, "user": self.user(email)}

    def check_password(self, email: str, password: str) -> bool:
        expected = self.settings.users.get(email)
        # Compare even for unknown users so the time taken does not tell which exist.
        return hmac.compare_digest(password.encode(), (expected or "\0").encode()) and bool(
            expected)

    async def audit_event(self, request: web.Request, action: str, email: str) -> None:
        if self.audit is not None:
            await self.audit.record(action, self.user_ids[email], email, request.remote or "")


def register(app: web.Application, context: Context) -> None:
    """Add the Auth routes."""
    service = AuthService(context)
    context.state["auth"] = service

    async def health(request: web.Request) -> web.Response:
        refused = check_apikey(request, context.settings.anon_key)
        if refused is not None:
            return refused
        return web.json_response({"version": VERSION, "name": "GoTrue",
                                  "description": f"GoTrue is a user registration and "
                                                 f"authentication API. {STAND_IN_NOTICE}"})

    async def token(request: web.Request) -> web.Response:
        refused = check_apikey(request, context.settings.anon_key)
        if refused is not None:
            return refused
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return auth_error(400, "bad_json", "Could not parse request body as JSON")
        if not isinstance(body, dict):
            return auth_error(400, "bad_json", "Request body must be a JSON object")
        grant = request.query.get("grant_type", "")
        if grant == "password":
            email, password = body.get("email"), body.get("password")
            if not isinstance(email, str) or not isinstance(password, str) or not password:
                return auth_error(400, "validation_failed",
                                  "A valid email and password are required")
            if not service.check_password(email, password):
                return auth_error(400, "invalid_credentials", "Invalid login credentials")
            await service.audit_event(request, "login", email)
            return web.json_response(service.session(email))
        if grant == "refresh_token":
            refresh = body.get("refresh_token")
            email = service.refresh_tokens.pop(refresh, None) if isinstance(refresh, str) \
                else None
            if email is None:
                return auth_error(400, "refresh_token_not_found",
                                  "Invalid Refresh Token: Refresh Token Not Found")
            await service.audit_event(request, "token_refreshed", email)
            return web.json_response(service.session(email))
        return auth_error(400, "validation_failed", "unsupported_grant_type")

    async def user(request: web.Request) -> web.Response:
        refused = check_apikey(request, context.settings.anon_key)
        if refused is not None:
            return refused
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not presented:
            return auth_error(401, "no_authorization",
                              "This endpoint requires a valid Bearer token")
        try:
            claims = verify(presented.strip(), context.settings.jwt_secret)
        except TokenError as exc:
            return auth_error(403, "bad_jwt", f"invalid JWT: {exc.message}")
        email = claims.get("email")
        if email not in service.user_ids:
            return auth_error(404, "user_not_found", "User from sub claim in JWT does not exist")
        return web.json_response(service.user(email))

    async def close(_: web.Application) -> None:
        if service.audit is not None:
            await service.audit.close()

    app.router.add_get(f"{PREFIX}/health", health)
    app.router.add_post(f"{PREFIX}/token", token)
    app.router.add_get(f"{PREFIX}/user", user)
    app.on_cleanup.append(close)
