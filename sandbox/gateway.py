"""The gateway's API-key check (Kong's key-auth in front of Supabase Auth and Realtime)."""

from __future__ import annotations

import hmac

from aiohttp import web


def gateway_error(status: int, message: str) -> web.Response:
    """An answer shaped like the Supabase gateway's (Kong) own errors."""
    return web.json_response({"message": message}, status=status)


def check_apikey(request: web.Request, anon_key: str) -> web.Response | None:
    """None when the request carries the anon key (header or ``apikey`` query parameter),
    else the gateway's 401 answer."""
    presented = request.headers.get("apikey") or request.query.get("apikey")
    if not presented:
        return gateway_error(401, "No API key found in request")
    if not hmac.compare_digest(presented.encode(), anon_key.encode()):
        return gateway_error(401, "Invalid authentication credentials")
    return None
