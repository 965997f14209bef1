"""The gateway's API-key check (Kong's key-auth in front of Supabase Auth and Realtime).

The gateway accepts the project's anon key (a JWT) and its new-style publishable key
(``sb_publishable_…``), from the ``apikey`` header or query parameter. Behind the gateway the
services check what they check themselves (Auth the bearer token, Realtime the key at connect).
"""

from __future__ import annotations

import hmac

from aiohttp import web

from sandbox.settings import Settings


def gateway_error(status: int, message: str) -> web.Response:
    """An answer shaped like the Supabase gateway's (Kong) own errors."""
    return web.json_response({"message": message}, status=status)


def presented_key(request: web.Request) -> str:
    """The API key a request carries (header first, then the query parameter), or ''."""
    return request.headers.get("apikey") or request.query.get("apikey") or ""


def is_api_key(key: str, settings: Settings) -> bool:
    """Whether ``key`` is one of the project's API keys (compared in constant time)."""
    found = False
    for known in settings.api_keys():
        found |= hmac.compare_digest(key.encode(), known.encode())
    return found


def check_apikey(request: web.Request, settings: Settings) -> web.Response | None:
    """None when the request carries one of the project's API keys, else the gateway's 401."""
    presented = presented_key(request)
    if not presented:
        return gateway_error(401, "No API key found in request")
    if not is_api_key(presented, settings):
        return gateway_error(401, "Invalid authentication credentials")
    return None
