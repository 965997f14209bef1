"""A throwaway Redis server on a free loopback port (nothing kept on disk)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import redis

from harness.ports import free_port, wait_for_port


class RedisServer:
    """One redis-server process; ``extra`` lines go into its config file (ACLs, renames)."""

    def __init__(self, *, password: str | None = None, extra: list[str] | None = None,
                 port: int | None = None) -> None:
        self.port = port or free_port()
        self.password = password
        self.extra = extra or []
        self.dir = Path(tempfile.mkdtemp(prefix="wedsync-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        """Start (again) and wait until it accepts connections."""
        conf = [f"port {self.port}", "bind 127.0.0.1", 'save ""', "appendonly no",
                f"dir {self.dir}", "daemonize no", f"logfile {self.dir / 'server.log'}"]
        if self.password:
            conf.append(f"requirepass {self.password}")
        conf += self.extra
        (self.dir / "redis.conf").write_text("\n".join(conf) + "\n")
        self.process = subprocess.Popen(["redis-server", str(self.dir / "redis.conf")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        """Stop the server (``start`` brings it back on the same port)."""
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
            self.process = None

    def pause(self) -> None:
        """SIGSTOP: the server hangs with its sockets open."""
        if self.process is not None:
            self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT."""
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)

    def url(self, password: str | None = None, db: int = 0, user: str = "") -> str:
        """A redis:// URL (with the server's password unless another is given)."""
        secret = password if password is not None else self.password
        auth = f"{user}:{secret}@" if secret else ""
        return f"redis://{auth}127.0.0.1:{self.port}/{db}"

    def client(self) -> redis.Redis:
        """A synchronous client with full rights."""
        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password,
                           socket_timeout=5)

    def clients_named(self, name: str) -> int:
        """Connections whose CLIENT SETNAME is ``name``."""
        return sum(1 for c in self.client().client_list() if c.get("name") == name)

    def cleanup(self) -> None:
        """Stop and delete everything."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.cleanup()
