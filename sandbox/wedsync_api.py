"""Stand-in for the WedSync API endpoints the k6 wedding-day scenarios hit (``loadtests/``).

Shaped like the real ones (JSON bodies, a bearer access token from Supabase Auth, a small image
upload) but cheap: reads answer prebuilt bodies, writes check their input and keep nothing, so
that a load test measures the client and the network path rather than this process. Every route
is under ``/api``, so the ``api`` service's faults apply (latency, 503, hang, dropped connection,
``error_rate`` scoped to ``error_paths`` such as ``/api/payments``).

The access token is the one the sandbox's Auth issues (``/auth/v1/token``), checked like
Realtime checks it: missing → 401, invalid or expired → 401 naming the reason.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import BodyPartReader, web

from sandbox.context import Context
from sandbox.tokens import TokenError, verify

Handler = Callable[[web.Request], Awaitable[web.Response]]

# The paths the load tests use by default (``loadtests/k6/profiles.json`` has the same list).
PATHS: dict[str, str] = {
    "dashboard": "/api/dashboard",
    "clients": "/api/clients",
    "upcoming_weddings": "/api/weddings/upcoming",
    "form_submit": "/api/forms/submit",
    "photo_upload": "/api/photos/upload",
    "timeline_update": "/api/timeline/update",
    "communication_send": "/api/communication/send",
    "task_complete": "/api/tasks/complete",
    "payment_process": "/api/payments/process",
    "invoice_generate": "/api/invoices/generate",
}
MAX_PHOTO_BYTES = 5 * 1024 * 1024
IMAGE_SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
}
CHANNELS = ("email", "sms", "in_app")
VENUES = ("Babington House", "Aynhoe Park", "Kew Gardens", "The Barn at Bury Court",
          "Hedsor House", "Pennard House")

# JSON body checks: field -> (accepted types, what to call them in an error).
Rules = dict[str, tuple[tuple[type, ...], str]]
TEXT: tuple[tuple[type, ...], str] = ((str,), "a string")
OBJECT: tuple[tuple[type, ...], str] = ((dict,), "an object")
LIST: tuple[tuple[type, ...], str] = ((list,), "a list")
NUMBER: tuple[tuple[type, ...], str] = ((int, float), "a number")

BODY_RULES: dict[str, Rules] = {
    "form_submit": {"couple_id": TEXT, "form_id": TEXT, "answers": OBJECT},
    "timeline_update": {"wedding_id": TEXT, "items": LIST},
    "communication_send": {"recipients": LIST, "channel": TEXT, "message": TEXT},
    "task_complete": {"task_id": TEXT},
    "payment_process": {"invoice_id": TEXT, "amount": NUMBER, "currency": TEXT,
                        "payment_method_id": TEXT},
    "invoice_generate": {"client_id": TEXT, "items": LIST},
}


# Checks beyond the types: endpoint -> (test of the body, what to say when it fails).
VALUE_RULES: dict[str, tuple[Callable[[dict[str, Any]], bool], str]] = {
    "payment_process": (lambda body: body["amount"] > 0, "field 'amount' must be positive"),
    "communication_send": (lambda body: body["channel"] in CHANNELS,
                           f"field 'channel' must be one of {', '.join(CHANNELS)}"),
}


def problem(status: int, error: str, message: str) -> web.Response:
    """The API's error body."""
    return web.json_response({"error": error, "message": message}, status=status)


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def check_body(endpoint: str, body: Any) -> str | None:
    """What is wrong with an endpoint's JSON body, in one sentence, or None."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    for name, (kinds, called) in BODY_RULES[endpoint].items():
        value = body.get(name)
        if not isinstance(value, kinds) or isinstance(value, bool):
            return f"field {name!r} must be {called}"
    test, message = VALUE_RULES.get(endpoint, (lambda _: True, ""))
    return None if test(body) else message


def sample_data(today: dt.date, seed: int = 2026) -> dict[str, Any]:
    """The prebuilt answers of the read endpoints (a supplier with 240 clients)."""
    rng = random.Random(seed)
    clients = []
    for number in range(240):
        wedding = today + dt.timedelta(days=rng.randrange(1, 400))
        clients.append({"id": str(uuid.UUID(int=rng.getrandbits(128))),
                        "names": f"Couple {number + 1}", "wedding_date": wedding.isoformat(),
                        "venue": rng.choice(VENUES),
                        "status": rng.choice(("enquiry", "booked", "booked", "completed"))})
    upcoming = sorted((c for c in clients if c["status"] == "booked"),
                      key=lambda c: c["wedding_date"])[:10]
    weddings = [{"id": str(uuid.UUID(int=rng.getrandbits(128))), "couple_id": c["id"],
                 "wedding_date": c["wedding_date"], "venue": c["venue"],
                 "guest_count": rng.randrange(40, 220)} for c in upcoming]
    return {
        "dashboard": {"supplier_id": str(uuid.UUID(int=seed)),
                      "weddings_this_week": sum(
                          w["wedding_date"] <= (today + dt.timedelta(days=7)).isoformat()
                          for w in weddings),
                      "upcoming": weddings[:3], "unread_messages": 7, "tasks_due": 12,
                      "forms_awaiting_review": 4,
                      "revenue_this_month": {"amount": 18450.0, "currency": "GBP"}},
        "clients": {"clients": clients[:20], "page": 1, "per_page": 20, "total": len(clients)},
        "upcoming_weddings": {"weddings": weddings},
    }


async def read_photo(request: web.Request) -> tuple[int, str] | web.Response:
    """(size, content type) of the multipart ``photo`` field, or the error answer."""
    if not request.content_type.startswith("multipart/"):
        return problem(415, "unsupported_media_type",
                       "send the photo as multipart/form-data in a field named 'photo'")
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or part.name != "photo":
            continue
        content_type = part.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type not in IMAGE_SIGNATURES:
            return problem(415, "unsupported_media_type",
                           f"the photo must be one of {', '.join(IMAGE_SIGNATURES)}")
        head, size = b"", 0
        while chunk := await part.read_chunk():
            if len(head) < 16:
                head += chunk[:16]
            size += len(chunk)
            if size > MAX_PHOTO_BYTES:
                return problem(413, "photo_too_large",
                               f"the photo must be at most {MAX_PHOTO_BYTES} bytes")
        if not head.startswith(IMAGE_SIGNATURES[content_type]):
            return problem(415, "unsupported_media_type",
                           f"the photo's bytes are not {content_type}")
        return size, content_type
    return problem(400, "invalid_request", "the form has no 'photo' field")


def register(app: web.Application, context: Context) -> None:
    """Add the WedSync endpoints."""
    secret = context.settings.jwt_secret
    prebuilt = {name: json.dumps(body).encode()
                for name, body in sample_data(dt.date.today()).items()}

    def authorised(handler: Handler) -> Handler:
        async def checked(request: web.Request) -> web.Response:
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return problem(401, "unauthorized",
                               "send an access token as 'Authorization: Bearer <token>'")
            try:
                verify(token.strip(), secret)
            except TokenError as exc:
                return problem(401, "unauthorized", f"invalid access token: {exc.message}")
            return await handler(request)
        return checked

    def reader(name: str) -> Handler:
        async def read(_: web.Request) -> web.Response:
            return web.Response(body=prebuilt[name], content_type="application/json")
        return read

    def writer(name: str, status: int, answer: Callable[[dict[str, Any]], dict[str, Any]]
               ) -> Handler:
        async def write(request: web.Request) -> web.Response:
            try:
                body = await request.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                return problem(400, "invalid_json", "the body must be JSON")
            wrong = check_body(name, body)
            if wrong is not None:
                return problem(400, "invalid_request", wrong)
            return web.json_response(answer(body), status=status)
        return write

    async def upload(request: web.Request) -> web.Response:
        photo = await read_photo(request)
        if isinstance(photo, web.Response):
            return photo
        size, content_type = photo
        return web.json_response({"photo_id": str(uuid.uuid4()), "bytes": size,
                                  "content_type": content_type, "uploaded_at": now_iso()},
                                 status=201)

    def new_id() -> str:
        return str(uuid.uuid4())

    routes: list[tuple[str, str, Handler]] = [
        ("GET", "dashboard", reader("dashboard")),
        ("GET", "clients", reader("clients")),
        ("GET", "upcoming_weddings", reader("upcoming_weddings")),
        ("POST", "form_submit", writer("form_submit", 201, lambda b: {
            "submission_id": new_id(), "couple_id": b["couple_id"],
            "received_at": now_iso()})),
        ("POST", "photo_upload", upload),
        ("PUT", "timeline_update", writer("timeline_update", 200, lambda b: {
            "wedding_id": b["wedding_id"], "items": len(b["items"]), "updated_at": now_iso()})),
        ("POST", "communication_send", writer("communication_send", 202, lambda b: {
            "message_id": new_id(), "channel": b["channel"], "queued": len(b["recipients"])})),
        ("PUT", "task_complete", writer("task_complete", 200, lambda b: {
            "task_id": b["task_id"], "status": "completed", "completed_at": now_iso()})),
        ("POST", "payment_process", writer("payment_process", 200, lambda b: {
            "payment_id": new_id(), "invoice_id": b["invoice_id"], "status": "succeeded",
            "amount": b["amount"], "currency": b["currency"]})),
        ("POST", "invoice_generate", writer("invoice_generate", 201, lambda b: {
            "invoice_id": new_id(), "client_id": b["client_id"], "currency": "GBP",
            "total": round(sum(item.get("amount", 0) for item in b["items"]
                               if isinstance(item, dict)
                               and isinstance(item.get("amount"), int | float)), 2)})),
    ]
    for method, name, handler in routes:
        app.router.add_route(method, PATHS[name], authorised(handler))
