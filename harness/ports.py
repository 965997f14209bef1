"""Free loopback ports and waiting for a port or URL to answer."""

from __future__ import annotations

import os
import random
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

# Listening ports come from below the kernel's ephemeral range: a port the kernel hands out
# (bind to 0) is also what it hands to the next outgoing connection as its source port, so a
# server started a moment later could find "its" port taken by some client's connection.
_LISTEN_RANGE = (20000, 32000)
# Its own generator: tests that seed the global one (hypothesis does) must not make two
# workers walk the same sequence of ports.
_PICK = random.SystemRandom()
# Ports this process has handed out. A port is only checked free, not held, until its server
# binds it, often a second or more later (an exporter imports its libraries first): meanwhile
# the same process may start other servers (a stack starts the sandbox's PostgreSQL and
# PgBouncer after choosing the exporter's port), and one of them must not be handed the same
# port. Seen in CI: the exporter's ready check answered by PostgreSQL.
_GIVEN: set[int] = set()


def _worker_slot() -> tuple[int, int]:
    """(index, count) of this pytest-xdist worker, inherited by the servers and commands its
    tests start; (0, 1) elsewhere. Each worker takes its ports from its own residue class, so
    two workers never pick the same port."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    try:
        count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    except ValueError:
        count = 1
    if count > 1 and name.startswith("gw") and name[2:].isdigit():
        return int(name[2:]) % count, count
    return 0, 1


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, outside the ephemeral range
    where the kernel picks source ports for outgoing connections."""
    low, high = _LISTEN_RANGE
    eph_low, eph_high = _ephemeral_range()
    index, count = _worker_slot()
    for _ in range(200):
        port = _PICK.randint(low, high)
        port += (index - (port - low)) % count  # this worker's residue class
        if port > high or port in _GIVEN or eph_low <= port <= eph_high:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            _GIVEN.add(port)
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    """Wait until something accepts connections on ``host:port``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s") from None
            time.sleep(0.05)


def wait_for_url(url: str, timeout: float = 10.0, status: int = 200) -> None:
    """Wait until ``url`` answers with ``status``."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1.0) as answer:
                if answer.status == status:
                    return
                last = f"status {answer.status}"
        except urllib.error.HTTPError as exc:
            if exc.code == status:
                return
            last = f"status {exc.code}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer {status} within {timeout}s ({last})")
