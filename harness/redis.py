"""A throwaway Redis server on a free loopback port (nothing kept on disk)."""

from __future__ import annotations

import redis

from harness.binaries import ManagedProcess
from harness.ports import wait_for_port


class RedisServer(ManagedProcess):
    """One redis-server process; ``extra`` lines go into its config file (ACLs, renames)."""

    prefix = "wedsync-redis-"
    name = "redis-server"

    def __init__(self, *, password: str | None = None, extra: list[str] | None = None,
                 port: int | None = None) -> None:
        super().__init__(port)
        self.password = password
        self.extra = extra or []

    def command(self) -> list[str]:
        conf = [f"port {self.port}", "bind 127.0.0.1", 'save ""', "appendonly no",
                f"dir {self.dir}", "daemonize no", f"logfile {self.log_path}"]
        if self.password:
            conf.append(f"requirepass {self.password}")
        conf += self.extra
        (self.dir / "redis.conf").write_text("\n".join(conf) + "\n")
        return ["redis-server", str(self.dir / "redis.conf")]

    def wait_started(self, timeout: float) -> None:
        wait_for_port(self.port, timeout=timeout)

    def url(self, password: str | None = None, db: int = 0,  # type: ignore[override]
            user: str = "") -> str:
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
