"""A refused request: its status, a bounded reason (the metric label) and one sentence.

Every 4xx answer the exporter gives is counted by ``reason`` in
wedsync_http_refused_requests_total (see ``exporter/web/middleware.py``); handlers that know a
more precise reason than the status says raise ``RequestRefused`` or tag the response with
``tag(response, reason)``.
"""

from __future__ import annotations

from aiohttp import web

from exporter.catalogue import HTTP_REFUSAL_REASONS

REASON_KEY = web.ResponseKey("wedsync_refusal_reason", str)
# The reason a 4xx status stands for when the handler gave none.
BY_STATUS: dict[int, str] = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 408: "body_timeout", 409: "conflict", 411: "length_required",
    413: "body_too_large", 415: "unsupported_media_type", 429: "rate_limited",
}


def tag(response: web.StreamResponse, reason: str) -> web.StreamResponse:
    """Mark ``response`` as refused for ``reason`` (one of HTTP_REFUSAL_REASONS)."""
    assert reason in HTTP_REFUSAL_REASONS, reason
    response[REASON_KEY] = reason
    return response


def reason_of(response: web.StreamResponse) -> str:
    """The refusal reason of a 4xx answer."""
    tagged = response.get(REASON_KEY)
    if tagged is not None:
        return tagged
    return BY_STATUS.get(response.status, "other")


class RequestRefused(Exception):
    """A request that gets a 4xx: ``status``, ``reason`` (a label value) and ``message``.

    ``close`` ends the connection after the answer: the body was not read (or not all of it),
    so the rest must not be read as the next request, nor read at all.
    """

    def __init__(self, status: int, reason: str, message: str, *, close: bool = False,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        assert reason in HTTP_REFUSAL_REASONS, reason
        self.status = status
        self.reason = reason
        self.message = message
        self.close = close
        self.headers = headers or {}

    def response(self) -> web.Response:
        """The JSON answer ``{"error": message}``, tagged with the reason."""
        answer = web.json_response({"error": self.message}, status=self.status,
                                   headers=self.headers)
        if self.close:
            answer.force_close()
        tag(answer, self.reason)
        return answer
