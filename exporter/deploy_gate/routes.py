"""HTTP routes of the deploy gate.

- ``GET /api/system/deploy-gate`` (deploy or admin token): 200 ``{"allowed": true,
  "reasons": []}`` or 423 ``{"allowed": false, "reasons": [...], "retry_after": seconds}``.
- ``POST /api/system/deploy-gate/override`` (admin token) ``{"reason", "duration"?, "by"?}``:
  opens a time-boxed emergency override (201).
- ``DELETE /api/system/deploy-gate/override`` (admin token): ends it early.
"""

from __future__ import annotations

from typing import Protocol

import structlog
from aiohttp import web

from exporter.deploy_gate.gate import DeployGate
from exporter.deploy_gate.override import OverrideRequestError, parse_request
from exporter.web.bodies import read_json
from exporter.web.hooks import Host
from exporter.web.refusal import RequestRefused, tag
from exporter.web.security import json_error

PATH = "/api/system/deploy-gate"
OVERRIDE_PATH = f"{PATH}/override"
RESULTS = ("allowed", "blocked")
LIMIT = "deploy_gate"
# An override request is a reason of at most 500 characters and two short fields.
MAX_BODY_BYTES = 16 * 1024

log = structlog.get_logger("exporter.deploy_gate")


class GateHost(Host, Protocol):
    """The running exporter with the deploy gate it built."""

    deploy_gate: DeployGate


def add_deploy_gate_routes(app: web.Application, service: GateHost) -> None:
    """Register the gate's routes and zero its counters."""
    gate = service.deploy_gate
    for result in RESULTS:
        service.store.zero("wedsync_deploy_gate_checks_total", {"result": result})
    service.store.zero("wedsync_deploy_gate_overrides_total")

    async def check(request: web.Request) -> web.Response:
        checked = service.guard.check(request, "deploy_gate", ("deploy", "admin"), LIMIT)
        if isinstance(checked, web.Response):
            return checked
        decision = await gate.decide()
        body = decision.body()
        result = "allowed" if decision.allowed else "blocked"
        service.store.inc("wedsync_deploy_gate_checks_total", {"result": result})
        if decision.override is not None and decision.blocks:
            # Every deploy let through by an override is on record with what it overrode.
            log.warning("deploy allowed by override", reason=decision.override.reason,
                        by=decision.override.by, overridden=body["override"][
                            "overridden_reasons"], client=request.remote or "")
        else:
            log.info("deploy gate answered", result=result, reasons=body["reasons"],
                     client=request.remote or "")
        if decision.allowed:
            return web.json_response(body)
        return web.json_response(body, status=423,
                                 headers={"Retry-After": str(body["retry_after"])})

    async def open_override(request: web.Request) -> web.Response:
        checked = service.guard.check(request, "deploy_gate_override", ("admin",), LIMIT)
        if isinstance(checked, web.Response):
            return checked
        longest = gate.longest_override
        if longest <= 0:
            return json_error(409, "emergency overrides are turned off in this exporter's "
                                   "configuration (deploy_gate.override_max_duration is 0s)")
        try:
            body = await read_json(request, MAX_BODY_BYTES,
                                   service.server_settings.body_timeout)
        except RequestRefused as exc:
            if exc.reason == "invalid_json":
                exc.message = 'the body is not JSON; send {"reason": "…", "duration": "30m"}'
            raise
        try:
            wanted = parse_request(body, longest)
        except OverrideRequestError as exc:
            return tag(json_error(400, str(exc)), "invalid_body")
        override = gate.open(wanted, request.remote or "")
        await gate.share()
        return web.json_response(
            {"override": override.describe(),
             "message": f"Deploys are allowed until {override.describe()['expires_at']}; "
                        f"the override and its reason are logged."}, status=201)

    async def end_override(request: web.Request) -> web.Response:
        checked = service.guard.check(request, "deploy_gate_override", ("admin",), LIMIT)
        if isinstance(checked, web.Response):
            return checked
        ended = gate.end(request.remote or "")
        await gate.share()
        return web.json_response({"ended": ended is not None,
                                  "override": ended.describe() if ended else None})

    app.router.add_get(PATH, check)
    app.router.add_post(OVERRIDE_PATH, open_override)
    app.router.add_delete(OVERRIDE_PATH, end_override)
