"""HS256 JSON Web Tokens, as GoTrue issues them and Realtime checks them (stdlib only).

The error codes are the ones Realtime puts in front of a refused join's reason
(``InvalidJWTToken: …``), so a probe sees the same text from the stand-in as from the real thing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any


class TokenError(ValueError):
    """A token that cannot be accepted; ``code`` is Realtime's error code for it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(claims: dict[str, Any], secret: str) -> str:
    """A signed token carrying ``claims``."""
    header = _encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _encode(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(secret.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_encode(signature)}"


def verify(token: str, secret: str, now: float | None = None) -> dict[str, Any]:
    """The claims of a valid, unexpired token (TokenError otherwise)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("MalformedJWT", "The token provided is not a valid JWT")
    try:
        header = json.loads(_decode(parts[0]))
        claims = json.loads(_decode(parts[1]))
        signature = _decode(parts[2])
    except (ValueError, TypeError):
        raise TokenError("MalformedJWT", "The token provided is not a valid JWT") from None
    if not isinstance(header, dict) or not isinstance(claims, dict) or header.get(
            "alg") != "HS256":
        raise TokenError("MalformedJWT", "The token provided is not a valid JWT")
    expected = hmac.new(secret.encode(), f"{parts[0]}.{parts[1]}".encode(),
                        hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        raise TokenError("JwtSignatureError", "Failed to validate JWT signature")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or "role" not in claims:
        raise TokenError("InvalidJWTToken", "Fields `role` and `exp` are required in JWT")
    now = time.time() if now is None else now
    if exp <= now:
        raise TokenError("InvalidJWTToken", f"Token has expired {int(now - exp)} seconds ago")
    return claims
