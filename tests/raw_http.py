"""A raw HTTP/1.1 client for hostile-traffic tests: any bytes in any header, any body."""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def request(port: int, method: str, path: str, *, headers: dict[str, bytes] | None = None,
            body: bytes = b"", timeout: float = 10.0, source: str | None = None) -> Answer:
    """Send one request on a new connection (``Connection: close``) and read the answer.

    Header values are sent as the bytes given. A server may answer and close before it has
    read the whole body (a 413, say): the answer is still read. ``source``: the client's
    address (any 127.x.y.z on Linux), so that a test has a client address of its own.
    """
    head = [f"{method} {path} HTTP/1.1".encode(), b"Host: 127.0.0.1", b"Connection: close",
            f"Content-Length: {len(body)}".encode()]
    head += [name.encode() + b": " + value for name, value in (headers or {}).items()]
    data = b"\r\n".join(head) + b"\r\n\r\n" + body
    with socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                  source_address=(source, 0) if source else None) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            if not received:
                raise
    head_bytes, _, rest = received.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    parsed = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    return Answer(status, parsed, rest)
