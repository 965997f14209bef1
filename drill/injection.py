"""Breaking and mending: one small injector per kind of target.

The drill stops or pauses only servers it started itself (``OwnServers``); the sandbox through
its fault controls; anything else only through commands the user supplies. ``injector_for``
refuses every other combination with a sentence that says what to do instead.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from drill.faults import (
    COMMAND,
    NOTHING,
    OWN_PGBOUNCER,
    OWN_POSTGRES,
    OWN_REDIS,
    SANDBOX,
    Fault,
)
from harness.pgbouncer import PgBouncerServer
from harness.postgres import PostgresServer
from harness.redis import RedisServer

COMMAND_TIMEOUT = 120.0


class InjectionError(RuntimeError):
    """A fault could not be injected or mended; the message says why."""


class Injector(Protocol):
    """Breaks one thing and mends it again."""

    def inject(self) -> None:
        """Break it (return once the fault is in force)."""
        ...

    def recover(self) -> None:
        """Mend it."""
        ...

    def describe(self) -> str:
        """What it breaks, for the report."""
        ...


@dataclass
class OwnServers:
    """Servers the drill started itself: the only servers it may stop or pause."""

    redis: RedisServer | None = None
    postgres: PostgresServer | None = None
    pgbouncer: PgBouncerServer | None = None


class NoFault:
    def inject(self) -> None:
        return None

    def recover(self) -> None:
        return None

    def describe(self) -> str:
        return "nothing (no fault)"


class StopRedis:
    """Stops the drill's own Redis (SIGTERM by PID) and starts it again on the same port."""

    def __init__(self, server: RedisServer) -> None:
        self.server = server

    def inject(self) -> None:
        self.server.stop()

    def recover(self) -> None:
        self.server.start()

    def describe(self) -> str:
        return f"the drill's own Redis on port {self.server.port} (stopped, then started)"


class StopPgBouncer:
    """Stops the drill's own PgBouncer (SIGTERM by PID) and starts it again on the same port."""

    def __init__(self, server: PgBouncerServer) -> None:
        self.server = server

    def inject(self) -> None:
        self.server.stop()

    def recover(self) -> None:
        self.server.start()

    def describe(self) -> str:
        return f"the drill's own PgBouncer on port {self.server.port} (stopped, then started)"


class PausePostgres:
    """SIGSTOPs every process of the drill's own PostgreSQL, then SIGCONTs them."""

    def __init__(self, server: PostgresServer) -> None:
        self.server = server

    def inject(self) -> None:
        self.server.pause()

    def recover(self) -> None:
        self.server.resume()

    def describe(self) -> str:
        return f"the drill's own PostgreSQL on port {self.server.port} (paused, then resumed)"


class SandboxFault:
    """Sets one service's faults through the sandbox's control endpoint and clears them."""

    def __init__(self, sandbox_url: str, service: str, settings: dict[str, Any]) -> None:
        self.url = f"{sandbox_url.rstrip('/')}/_sandbox/faults/{service}"
        self.service = service
        self.settings = settings

    def _send(self, method: str, body: dict[str, Any] | None) -> None:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10):
                pass
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")[:200]
            raise InjectionError(f"the sandbox refused the {self.service} fault "
                                 f"({error.code}: {detail})") from None
        except OSError as error:
            raise InjectionError(f"the sandbox's fault control did not answer ({error})"
                                 ) from None

    def inject(self) -> None:
        self._send("PATCH", self.settings)

    def recover(self) -> None:
        self._send("DELETE", None)

    def describe(self) -> str:
        shown = {k: v for k, v in self.settings.items() if k != "error_paths"}
        paths = self.settings.get("error_paths")
        note = f" on {len(paths)} API routes (not /api/health)" if paths else ""
        return f"sandbox {self.service} fault {json.dumps(shown)}{note}"


class CommandFault:
    """Runs the user's commands (split like a shell would, not run by one); their output goes
    to ``log``."""

    def __init__(self, inject: str, recover: str | None, log: Path) -> None:
        self.commands = {"inject": inject, "recover": recover}
        self.log = log

    def _run(self, step: str) -> None:
        command = self.commands[step]
        if not command:
            return
        with self.log.open("a") as handle:
            handle.write(f"--- {step}: {command}\n")
            handle.flush()
            try:
                done = subprocess.run(shlex.split(command), stdout=handle,
                                      stderr=subprocess.STDOUT, timeout=COMMAND_TIMEOUT,
                                      check=False)
            except (OSError, subprocess.TimeoutExpired) as error:
                raise InjectionError(f"the {step} command failed to run ({error})") from None
        if done.returncode != 0:
            raise InjectionError(f"the {step} command exited with {done.returncode}; see "
                                 f"{self.log}")

    def inject(self) -> None:
        self._run("inject")

    def recover(self) -> None:
        self._run("recover")

    def describe(self) -> str:
        return f"the command {self.commands['inject']!r}"


def injector_for(fault: Fault, params: dict[str, float], own: OwnServers,
                 sandbox_url: str | None, inject_command: str | None,
                 recover_command: str | None, log: Path) -> Injector:
    """The injector for ``fault`` on this target; ValueError when the drill may not do it."""
    if fault.acts_on == NOTHING:
        return NoFault()
    if fault.acts_on == OWN_REDIS:
        if own.redis is None:
            raise ValueError(f"{fault.name}: the drill stops only a Redis it started itself; "
                             "against a running stack, break Redis with --fault command "
                             "--inject-command … instead")
        return StopRedis(own.redis)
    if fault.acts_on == OWN_POSTGRES:
        if own.postgres is None:
            raise ValueError(f"{fault.name}: the drill pauses only a PostgreSQL it started "
                             "itself; against a running stack, use --fault command "
                             "--inject-command … instead")
        return PausePostgres(own.postgres)
    if fault.acts_on == OWN_PGBOUNCER:
        if own.pgbouncer is None:
            raise ValueError(f"{fault.name}: the drill stops only a PgBouncer it started "
                             "itself; against a running stack, use --fault command "
                             "--inject-command … instead")
        return StopPgBouncer(own.pgbouncer)
    if fault.acts_on == SANDBOX:
        if not sandbox_url:
            raise ValueError(f"{fault.name} is a sandbox fault: give --sandbox-url (a real "
                             "target can only be broken with --fault command)")
        assert fault.service is not None
        return SandboxFault(sandbox_url, fault.service, fault.sandbox_settings(params))
    if fault.acts_on == COMMAND:
        if not inject_command:
            raise ValueError("--fault command needs --inject-command (and usually "
                             "--recover-command and --expect-alert)")
        return CommandFault(inject_command, recover_command, log)
    raise ValueError(f"{fault.name}: unknown kind of target {fault.acts_on!r}")
