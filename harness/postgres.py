"""A throwaway PostgreSQL server on a free loopback port, for tests and drills that must stop,
pause or misconfigure a server (the shared one on 5432 is never touched)."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from harness.ports import free_port
from harness.processes import signal_tree

# pg_stat_statements where Supabase keeps its extensions: in a schema of their own, not in the
# API-exposed public (validation's extension_in_public), readable by every role as before.
EXTENSIONS_SQL = ("CREATE SCHEMA IF NOT EXISTS extensions; GRANT USAGE ON SCHEMA extensions TO "
                  "PUBLIC; CREATE EXTENSION IF NOT EXISTS pg_stat_statements SCHEMA extensions")
PG_BIN = Path(os.environ.get("WEDSYNC_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _as_postgres(cmd: list[str]) -> list[str]:
    """initdb and pg_ctl refuse to run as root: run them as the postgres user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


class PostgresServer:
    """One PostgreSQL instance in a temporary directory.

    ``password`` switches TCP logins to scram-sha-256 and sets the superuser's password;
    without it, loopback logins are trusted. ``stat_statements`` preloads pg_stat_statements.
    ``tls`` turns ssl on with a fresh self-signed certificate; ``archive`` archives WAL into
    the server's directory (as production does to its backup store).
    """

    def __init__(self, *, password: str | None = None, stat_statements: bool = True,
                 port: int | None = None, settings: dict[str, str] | None = None,
                 tls: bool = False, archive: bool = False) -> None:
        self.port = port or free_port()
        self.password = password
        self.stat_statements = stat_statements
        self.settings = settings or {}
        self.tls = tls
        self.archive = archive
        self.dir = Path(tempfile.mkdtemp(prefix="wedsync-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self._started = False

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> PostgresServer:
        """initdb (first time) and start; returns self once it accepts connections."""
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        if not self.data.exists():
            self._initdb()
        self._ctl("start", "-w", "-t", "30", "-l", str(self.log), "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1")
        self._started = True
        return self

    def _initdb(self) -> None:
        pwfile = self.dir / "pwfile"
        args = [str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--no-sync",
                "-E", "UTF8", "--locale=C", "-A", "trust"]
        if self.password:
            pwfile.write_text(self.password + "\n")
            if os.geteuid() == 0:
                pw = pwd.getpwnam("postgres")
                os.chown(pwfile, pw.pw_uid, pw.pw_gid)
            args += ["--pwfile", str(pwfile), "--auth-host=scram-sha-256",
                     "--auth-local=trust"]
        subprocess.run(_as_postgres(args), check=True, capture_output=True)
        if pwfile.exists():
            pwfile.unlink()
        conf = ["fsync = off", "synchronous_commit = off", "full_page_writes = off",
                "max_connections = 50", "shared_buffers = 32MB"]
        if self.stat_statements:
            conf.append("shared_preload_libraries = 'pg_stat_statements'")
        conf += self._tls_and_archive()
        conf += [f"{key} = {value}" for key, value in self.settings.items()]
        with (self.data / "postgresql.conf").open("a") as handle:
            handle.write("\n".join(conf) + "\n")

    def _own(self, *paths: Path) -> None:
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            for path in paths:
                os.chown(path, pw.pw_uid, pw.pw_gid)

    def _tls_and_archive(self) -> list[str]:
        """postgresql.conf lines for ``tls`` and ``archive`` (files made here)."""
        conf = []
        if self.tls:
            cert, key = self.dir / "server.crt", self.dir / "server.key"
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-keyout", str(key), "-out", str(cert), "-days", "2",
                            "-subj", "/CN=127.0.0.1"], check=True, capture_output=True,
                           timeout=60)
            key.chmod(0o600)
            self._own(cert, key)
            conf += ["ssl = on", f"ssl_cert_file = '{cert}'", f"ssl_key_file = '{key}'"]
        if self.archive:
            store = self.dir / "wal-archive"
            store.mkdir()
            self._own(store)
            conf += ["archive_mode = on",
                     f"archive_command = 'test ! -f {store}/%f && cp %p {store}/%f'"]
        return conf

    def _ctl(self, *args: str) -> None:
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), *args]),
                       check=True, capture_output=True, timeout=60)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (it can be started again with ``start``)."""
        if self._started:
            self.resume()
            self._ctl("stop", "-m", mode, "-w", "-t", "30")
            self._started = False

    def cleanup(self) -> None:
        """Stop and delete everything."""
        try:
            self.stop("immediate")
        except subprocess.SubprocessError:
            pid = self.pid
            if pid:
                signal_tree(pid, signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while it runs."""
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def pause(self) -> None:
        """SIGSTOP the postmaster and every backend: the server hangs, sockets stay open."""
        pid = self.pid
        if pid:
            signal_tree(pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT what ``pause`` stopped."""
        pid = self.pid
        if pid:
            signal_tree(pid, signal.SIGCONT)

    # --- access ---------------------------------------------------------------------------
    def dsn(self, user: str = "postgres", password: str | None = None,
            dbname: str = "postgres") -> str:
        """A libpq URL for ``user``; the superuser's password is used unless one is given."""
        secret = password if password is not None else (
            self.password if user == "postgres" else None)
        auth = f"{user}:{secret}@" if secret else f"{user}@"
        return f"postgresql://{auth}127.0.0.1:{self.port}/{dbname}"

    def admin(self, dbname: str = "postgres") -> psycopg.Connection:
        """An autocommit superuser connection over the Unix socket (no password needed)."""
        return psycopg.connect(host=str(self.dir), port=self.port, user="postgres",
                               dbname=dbname, autocommit=True)

    def execute(self, sql: str, dbname: str = "postgres") -> list[tuple]:
        """Run ``sql`` as superuser; the rows of the last statement, if any."""
        with self.admin(dbname) as conn, conn.cursor() as cur:
            cur.execute(sql)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []

    def connections(self, application_name: str | None = None) -> int:
        """Client connections the server holds now (optionally of one application)."""
        query = ("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                 "AND pid <> pg_backend_pid()")
        if application_name:
            query += f" AND application_name = '{application_name}'"
        return int(self.execute(query)[0][0])

    def wait_connections(self, expected_at_most: int, application_name: str,
                         timeout: float = 10.0) -> int:
        """Wait until the server holds at most ``expected_at_most`` such connections."""
        deadline = time.monotonic() + timeout
        count = self.connections(application_name)
        while count > expected_at_most and time.monotonic() < deadline:
            time.sleep(0.1)
            count = self.connections(application_name)
        return count

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.cleanup()
