"""A local binary (Prometheus, Alertmanager) run as a child process with its own temp dir."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from harness.ports import free_port


class ManagedProcess:
    """Start/stop bookkeeping shared by the servers the harness runs from local binaries."""

    prefix = "wedsync-proc-"

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix=self.prefix))
        self.log_path = self.dir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready_url(self) -> str:
        raise NotImplementedError

    def start(self) -> ManagedProcess:
        """Start it and wait until it answers its readiness URL."""
        from harness.ports import wait_for_url

        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(self.command(), stdout=self._log,
                                        stderr=subprocess.STDOUT, cwd=self.dir)
        deadline = time.monotonic() + 30
        while True:
            try:
                wait_for_url(self.ready_url(), timeout=0.5)
                return self
            except TimeoutError:
                # A server that exited (a port in use, a bad config) will never answer.
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"{self.command()[0]} did not start; log:\n{self.logs()}") from None

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def pause(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """Stop it (by PID) and wait."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGCONT)
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None
        self._log.close()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> ManagedProcess:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.cleanup()
