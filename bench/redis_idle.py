"""What an idle Redis spends with and without a client like the exporter's, in one run.

    python -m bench.redis_idle [--seconds 90]

Four throwaway Redis servers side by side: nobody connected; a connection held open and never
used; a connection opened, used (PING and INFO, as the probe) and closed every 15 s; a
connection held open and used every 15 s (what the exporter does). Prints each server's CPU
per minute: whether holding the probe's connection, or connecting per probe instead, changes
what Redis spends between probes (issue 25: idle cost).
"""

from __future__ import annotations

import argparse
import socket
import time

from bench.measure import cpu_ns
from harness.redis import RedisServer

PROBE_EVERY = 15.0


def probe(sock: socket.socket) -> None:
    """PING and INFO, reading the answers."""
    sock.sendall(b"PING\r\nINFO\r\n")
    time.sleep(0.05)
    sock.recv(1 << 20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=90.0)
    args = parser.parse_args()
    names = ("nobody connected", "held, unused", "connect per probe", "held, probed")
    servers = {name: RedisServer().start() for name in names}
    held = {}
    try:
        for name in ("held, unused", "held, probed"):
            held[name] = socket.create_connection(("127.0.0.1", servers[name].port))
        before = {name: cpu_ns([s.process.pid]) for name, s in servers.items()}  # type: ignore
        started = time.monotonic()
        due = started
        while time.monotonic() - started < args.seconds:
            if time.monotonic() >= due:
                probe(held["held, probed"])
                with socket.create_connection(
                        ("127.0.0.1", servers["connect per probe"].port)) as sock:
                    probe(sock)
                due += PROBE_EVERY
            time.sleep(0.5)
        minutes = (time.monotonic() - started) / 60
        print(f"== Redis CPU per minute over {minutes * 60:.0f} s ==")
        for name, server in servers.items():
            used = (cpu_ns([server.process.pid]) - before[name]) / 1e6 / minutes  # type: ignore
            print(f"  {name:<20} {used:6.1f} ms/min")
    finally:
        for sock in held.values():
            sock.close()
        for server in servers.values():
            server.cleanup()


if __name__ == "__main__":
    main()
