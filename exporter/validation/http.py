"""``POST /api/architecture/validate`` (admin token, 10/minute by default).

Body ``{"component": ..., "validation_type": ...}``; any known component with any known type
is a valid question (a pair with nothing to check answers valid with an info note); an unknown
one is a 400 that lists the known ones.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from exporter.validation.findings import (
    VALIDATION_TYPES,
    Finding,
    answer,
    validated_components,
)
from exporter.validation.runner import Validator
from exporter.web.bodies import read_json
from exporter.web.hooks import Host
from exporter.web.refusal import RequestRefused, tag
from exporter.web.security import json_error

PATH = "/api/architecture/validate"
# A question is two short strings; anything much longer is not one.
MAX_BODY_BYTES = 64 * 1024


def _known() -> str:
    return (f"components: {', '.join(validated_components())}; validation types: "
            f"{', '.join(VALIDATION_TYPES)}")


def parse_question(document: Any) -> tuple[str, str]:
    """(component, validation_type) from the body, or ValueError naming the problem."""
    if not isinstance(document, dict):
        raise ValueError('expected {"component": ..., "validation_type": ...}; ' + _known())
    component, kind = document.get("component"), document.get("validation_type")
    if component not in validated_components():
        raise ValueError(f"unknown component {component!r}; known {_known()}")
    if kind not in VALIDATION_TYPES:
        raise ValueError(f"unknown validation_type {kind!r}; known {_known()}")
    return component, kind


async def validate(request: web.Request, service: Host) -> web.Response:
    """Answer one validation question."""
    checked = service.guard.check(request, "validation", ("admin",))
    if isinstance(checked, web.Response):
        return checked
    try:
        document = await read_json(request, MAX_BODY_BYTES, service.server_settings.body_timeout)
    except RequestRefused as exc:
        if exc.reason == "invalid_json":
            exc.message += '; expected {"component": ..., "validation_type": ...}'
        raise
    try:
        component, kind = parse_question(document)
    except ValueError as exc:
        return tag(json_error(400, str(exc)), "invalid_body")
    runtime = service.runtime
    if runtime is None:
        return json_error(503, "the exporter is starting; try again in a second")
    settings = service.config.validation
    try:
        findings = await asyncio.wait_for(
            Validator(runtime, settings, getattr(service, "deploy_gate", None)).validate(
                component, kind), settings.timeout)
    except TimeoutError:
        findings = [Finding(None, "error",
                            f"validation did not finish within {settings.timeout:g}s",
                            "Check that the component answers; validation.timeout sets the "
                            "limit.")]
    return web.json_response(answer(findings))


def add_validation_routes(app: web.Application, service: Host) -> None:
    """Register the validation route."""

    async def handle(request: web.Request) -> web.Response:
        return await validate(request, service)

    app.router.add_post(PATH, handle)
