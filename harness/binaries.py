"""A server run as a child process with its own temp dir and log, stopped by PID: the common
ground of every server the harness starts (Prometheus, Alertmanager, Redis, the exporter, the
sandbox)."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.ports import free_port, wait_for_url

REPO = Path(__file__).resolve().parent.parent


class ManagedProcess:
    """Start/stop bookkeeping; subclasses say what to run and how to tell it has started."""

    prefix = "wedsync-proc-"
    name = "server"
    start_timeout = 30.0

    def __init__(self, port: int | None = None, env: dict[str, str] | None = None) -> None:
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix=self.prefix))
        self.log_path = self.dir / "server.log"
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        raise NotImplementedError

    def cwd(self) -> Path:
        return self.dir

    def ready_url(self) -> str:
        """A URL that answers 200 once the server has started."""
        raise NotImplementedError

    def wait_started(self, timeout: float) -> None:
        """Block until the server has started (by default: ``ready_url`` answers 200)."""
        wait_for_url(self.ready_url(), timeout=timeout)

    def run_as(self) -> str | None:
        """The user the server runs as (None: ours). Popen switches to it in the child itself,
        so the PID is the server's: no ``runuser`` in between to relay (or swallow) signals."""
        return None

    def start(self, wait: bool = True) -> ManagedProcess:
        """Start it and (unless ``wait`` is False) wait until it has started."""
        self._log = self.log_path.open("ab")
        user = self.run_as()
        identity: dict[str, Any] = {}
        if user is not None:
            entry = pwd.getpwnam(user)
            identity = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        self.process = subprocess.Popen(self.command(), stdout=self._log,
                                        stderr=subprocess.STDOUT, cwd=self.cwd(), env=self.env,
                                        **identity)
        if not wait:
            return self
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                self.wait_started(timeout=0.5)
                return self
            except TimeoutError:
                # A server that exited (a port in use, a bad config) will never answer.
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"{self.name} did not start; log:\n{self.logs()}") from None

    def logs(self) -> str:
        """Everything the server wrote to its log so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signal(self, sig: signal.Signals) -> None:
        if self.process is not None:
            self.process.send_signal(sig)

    def pause(self) -> None:
        """SIGSTOP: the server hangs with its sockets open."""
        self.signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT what ``pause`` stopped."""
        self.signal(signal.SIGCONT)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (by PID) and wait; the exit code (None if it was not running)."""
        if self.process is None:
            return None
        self.process.send_signal(signal.SIGCONT)
        self.process.terminate()
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(5)
        self.process = None
        self._log.close()
        return code

    def cleanup(self) -> None:
        """Stop and delete the temp dir."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> ManagedProcess:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.cleanup()
