"""A throwaway PgBouncer on a free loopback port, in front of a PostgreSQL the caller names.

Debian's ``/usr/sbin/pgbouncer`` refuses to run as root, so (like ``PostgresServer``) it runs
as the ``postgres`` user then. Logins are checked against its own ``userlist.txt``: with a
``password`` every user in it needs that password (plain text in the file, which PgBouncer
accepts for ``auth_type = plain``/``md5``/``scram-sha-256``); without one, ``trust`` lets any
listed user in. ``stats_user`` may read the admin console (the ``pgbouncer`` virtual database)
but not change anything, which is what the exporter needs.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

from harness.binaries import ManagedProcess
from harness.ports import wait_for_port

# Debian puts it in /usr/sbin, which is not on every user's PATH.
PGBOUNCER = os.environ.get("WEDSYNC_PGBOUNCER") or shutil.which("pgbouncer") or \
    "/usr/sbin/pgbouncer"
STATS_USER = "wedsync_stats"


class PgBouncerServer(ManagedProcess):
    """One pgbouncer process pooling ``databases`` of the PostgreSQL at ``backend_port``."""

    prefix = "wedsync-pgbouncer-"
    name = "pgbouncer"

    def __init__(self, backend_port: int, *, databases: tuple[str, ...] = ("postgres",),
                 pool_size: int = 2, max_client_conn: int = 100, pool_mode: str = "transaction",
                 password: str | None = None, users: tuple[str, ...] = ("postgres",),
                 port: int | None = None, settings: dict[str, str] | None = None) -> None:
        super().__init__(port)
        self.backend_port = backend_port
        self.databases = databases
        self.pool_size = pool_size
        self.max_client_conn = max_client_conn
        self.pool_mode = pool_mode
        self.password = password
        self.users = tuple(dict.fromkeys((*users, STATS_USER)))
        self.settings = settings or {}

    def command(self) -> list[str]:
        quoted = self.password or ""
        (self.dir / "userlist.txt").write_text(
            "".join(f'"{user}" "{quoted}"\n' for user in self.users))
        dbs = [f"{db} = host=127.0.0.1 port={self.backend_port} dbname={db}"
               for db in self.databases]
        conf = [
            "[databases]", *dbs, "", "[pgbouncer]",
            "listen_addr = 127.0.0.1", f"listen_port = {self.port}",
            f"unix_socket_dir = {self.dir}",
            f"auth_type = {'plain' if self.password else 'trust'}",
            f"auth_file = {self.dir / 'userlist.txt'}",
            f"stats_users = {STATS_USER}", "admin_users = postgres",
            f"pool_mode = {self.pool_mode}", f"default_pool_size = {self.pool_size}",
            f"max_client_conn = {self.max_client_conn}",
            # The probe (and psycopg in general) may send these; PgBouncer refuses unknown ones.
            "ignore_startup_parameters = extra_float_digits,options",
            f"pidfile = {self.dir / 'pgbouncer.pid'}",
            *(f"{key} = {value}" for key, value in self.settings.items()),
        ]
        (self.dir / "pgbouncer.ini").write_text("\n".join(conf) + "\n")
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            for path in (self.dir, *self.dir.iterdir()):
                os.chown(path, pw.pw_uid, pw.pw_gid)
        return [PGBOUNCER, str(self.dir / "pgbouncer.ini")]

    def run_as(self) -> str | None:
        # PgBouncer refuses to run as root. Not under runuser: runuser stops itself when its
        # child is stopped (job control), and a SIGTERM that reached it then was lost, leaving
        # a stop() to time out and PgBouncer running on (a pause, resume, stop in a row did it
        # in 2 of 5 runs).
        return "postgres" if os.geteuid() == 0 else None

    def wait_started(self, timeout: float) -> None:
        wait_for_port(self.port, timeout=timeout)

    def admin_dsn(self, user: str = STATS_USER, password: str | None = None) -> str:
        """A libpq URL of the admin console (the ``pgbouncer`` virtual database)."""
        return self.dsn(dbname="pgbouncer", user=user, password=password)

    def dsn(self, dbname: str = "postgres", user: str = "postgres",
            password: str | None = None) -> str:
        """A libpq URL of a pooled database through this PgBouncer."""
        secret = password if password is not None else self.password
        auth = f"{user}:{secret}@" if secret else f"{user}@"
        return f"postgresql://{auth}127.0.0.1:{self.port}/{dbname}"


def available() -> bool:
    """Whether the pgbouncer binary is installed here."""
    return Path(PGBOUNCER).exists()


def version() -> str:
    """``pgbouncer --version``'s first line (for reports)."""
    out = subprocess.run([PGBOUNCER, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.splitlines()[0] if out.stdout else "unknown"
