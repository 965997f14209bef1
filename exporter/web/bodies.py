"""Reading request bodies safely: size, time, charset and compression all bounded.

aiohttp would decompress a body sent with ``Content-Encoding`` on the event loop as it
arrives — also for a request that is refused, and for a body nobody reads — so the server runs
with ``auto_decompress=False`` and bodies are decompressed here instead: only for routes that
accept compressed bodies (ingestion), only after the token was checked, as the body arrives,
in slices of ``SLICE`` bytes with the event loop handed back in between, and stopped as soon as
the output passes the size limit or the ratio limit — with the rest of the body unread. Every
problem is a ``RequestRefused`` (4xx).
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import hdrs, web

from exporter.web.refusal import RequestRefused
from exporter.yielding import step_aside

# Output produced per slice before the event loop is handed back (about 0.2 ms of CPU).
SLICE = 64 * 1024
# Compressed input handed to the decoder at a time.
INPUT_SLICE = 16 * 1024
# What the server buffers of a body before its handler reads it (aiohttp's read_bufsize;
# reading pauses at twice this): small, so a body that is refused unread costs one read.
UNREAD_BODY_BUFFER = 16 * 1024
# What ``read_raw`` reads at a time once it does read a body.
READ_CHUNK = 64 * 1024
# Below this much output the ratio is not judged: small, very regular bodies compress well.
RATIO_FLOOR = 64 * 1024
DEFAULT_MAX_RATIO = 100
# Content-Encoding values a route that takes compressed bodies understands (zlib wbits).
DECODERS: dict[str, int] = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS,
                            "deflate": zlib.MAX_WBITS}
JSON_CHARSETS = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})
# Paths whose handlers read compressed bodies themselves (through ``read_body``).
ENCODED_BODY_PATHS: set[str] = set()


def accept_encoded_bodies(path: str) -> None:
    """Let ``path`` receive bodies with Content-Encoding (its handler uses ``read_body``)."""
    ENCODED_BODY_PATHS.add(path)


def content_encoding(request: web.BaseRequest) -> str | None:
    """The body's encoding (None for none or ``identity``), or RequestRefused(415)."""
    value = request.headers.get(hdrs.CONTENT_ENCODING, "").strip().lower()
    if value in ("", "identity"):
        return None
    if value not in DECODERS or request.path not in ENCODED_BODY_PATHS:
        where = ("this route takes no compressed bodies" if request.path not in
                 ENCODED_BODY_PATHS else "supported: gzip, deflate")
        raise RequestRefused(415, "content_encoding",
                             f"Content-Encoding {_printable(value)} is not accepted ({where})",
                             headers={"Accept-Encoding": "gzip, deflate"
                                                  if request.path in ENCODED_BODY_PATHS
                                                  else "identity"})
    return value


def _printable(text: str, limit: int = 40) -> str:
    """``text`` quoted for an error answer: printable ASCII only, shortened."""
    shown = "".join(c if " " <= c <= "~" else "?" for c in text[:limit])
    return repr(shown + ("…" if len(text) > limit else ""))


async def read_raw(request: web.BaseRequest, limit: int, timeout: float) -> bytes:
    """The body as sent, or RequestRefused: 413 past ``limit`` bytes, 408 after ``timeout``."""
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    # A body that is read after all gets the usual buffering, not UNREAD_BODY_BUFFER's.
    request.content.set_read_chunk_size(READ_CHUNK)
    try:
        async with asyncio.timeout(timeout):
            while True:
                chunk = await request.content.read(READ_CHUNK)
                if not chunk:
                    return b"".join(chunks)
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
    except TimeoutError:
        raise _too_slow(timeout) from None


def _too_large(limit: int) -> RequestRefused:
    # Closing after a 413 spares reading (and discarding) the rest of a huge body.
    return RequestRefused(413, "body_too_large", f"the body is larger than {limit} bytes",
                          close=True)


def _too_slow(timeout: float) -> RequestRefused:
    return RequestRefused(408, "body_timeout", f"the body did not arrive within {timeout:g}s",
                          close=True)


async def decompress(read: Callable[[], Awaitable[bytes]], encoding: str, limit: int,
                     max_ratio: float = DEFAULT_MAX_RATIO) -> bytes:
    """The body ``read`` returns chunk by chunk (b"" at its end), decoded as it arrives, in
    slices; RequestRefused past ``limit`` bytes or ``max_ratio``.

    Decoding as the body arrives refuses a bomb after its first slice, before the rest of it
    is read: a 1 MB gzip bomb with the ingest token cost reading the whole megabyte first.
    A gzip body may hold several members one after another (RFC 1952); each is decoded in
    turn, under the same limits. The decoder is fed ``INPUT_SLICE`` bytes at a time: handed
    a whole 1 MB body, zlib took about 1 ms per slice of output (it keeps the unread rest as
    a copy each time), where a slice should cost a fifth of that.
    """
    body = _Input(read)
    wbits = DECODERS[encoding]
    if encoding == "deflate" and not _looks_like_zlib(await body.peek(2)):
        wbits = -zlib.MAX_WBITS  # raw deflate, as some clients send it
    decoder = zlib.decompressobj(wbits)
    out: list[bytes] = []
    size = 0
    consumed = 0  # input bytes the decoders have used up
    pending = b""  # input handed to the decoder that it has not used yet
    try:
        while True:
            fed = pending or await body.take(INPUT_SLICE)
            chunk = decoder.decompress(fed, SLICE)
            pending = decoder.unconsumed_tail
            consumed += len(fed) - len(pending) - len(decoder.unused_data)
            size += len(chunk)
            if size > limit:
                raise RequestRefused(413, "body_too_large",
                                     f"the body decompresses to more than {limit} bytes")
            if size > RATIO_FLOOR and size > max_ratio * max(1, consumed):
                raise RequestRefused(413, "compression_ratio",
                                     f"the body decompresses more than {max_ratio:g} times; "
                                     f"send it uncompressed or in smaller batches")
            out.append(chunk)
            if decoder.eof:
                body.put_back(decoder.unused_data)  # what follows this stream
                if wbits == DECODERS["gzip"] and await body.peek(2) == b"\x1f\x8b":
                    decoder, pending = zlib.decompressobj(wbits), b""
                    continue
                if await body.peek(1):
                    raise RequestRefused(400, "bad_compressed_body",
                                         f"the body has data after the end of its {encoding} "
                                         f"stream")
                break
            if not chunk and not pending and not await body.peek(1):
                raise RequestRefused(400, "bad_compressed_body",
                                     f"the {encoding} body is truncated")
            await step_aside()
    except zlib.error:
        raise RequestRefused(400, "bad_compressed_body",
                             f"the body is not valid {encoding} data") from None
    return b"".join(out)


class _Input:
    """A body read chunk by chunk, handed out in slices."""

    def __init__(self, read: Callable[[], Awaitable[bytes]]) -> None:
        self._read = read
        self._buffer = b""
        self._ended = False

    async def peek(self, n: int) -> bytes:
        """The next ``n`` bytes (fewer at the end of the body), left in place."""
        while len(self._buffer) < n and not self._ended:
            chunk = await self._read()
            self._ended = not chunk
            self._buffer += chunk
        return self._buffer[:n]

    async def take(self, n: int) -> bytes:
        """Up to ``n`` bytes (b"" at the end of the body)."""
        if not self._buffer:
            await self.peek(1)
        taken, self._buffer = self._buffer[:n], self._buffer[n:]
        return taken

    def put_back(self, data: bytes) -> None:
        self._buffer = data + self._buffer


def _looks_like_zlib(data: bytes) -> bool:
    # RFC 1950 header: compression method 8 and a header checksum divisible by 31.
    return len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0


async def read_body(request: web.BaseRequest, limit: int, timeout: float,
                    max_ratio: float = DEFAULT_MAX_RATIO) -> bytes:
    """The body, decompressed where it was sent compressed (and the route allows it);
    ``limit`` bounds both the bytes sent and the bytes they decompress to."""
    encoding = content_encoding(request)
    if encoding is None:
        return await read_raw(request, limit, timeout)
    return await _read_decoded(request, encoding, limit, timeout, max_ratio)


async def _read_decoded(request: web.BaseRequest, encoding: str, limit: int, timeout: float,
                        max_ratio: float) -> bytes:
    """A compressed body, decoded as it arrives (``decompress``), read within ``limit``
    bytes as sent and ``timeout``. The connection closes after a refusal that left some of
    the body unread (the middleware sees to it)."""
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    request.content.set_read_chunk_size(READ_CHUNK)
    sent = 0

    async def read() -> bytes:
        nonlocal sent
        chunk = await request.content.read(READ_CHUNK)
        sent += len(chunk)
        if sent > limit:
            raise _too_large(limit)
        return chunk

    try:
        async with asyncio.timeout(timeout):
            return await decompress(read, encoding, limit, max_ratio)
    except TimeoutError:
        raise _too_slow(timeout) from None


def check_json_charset(request: web.BaseRequest) -> None:
    """RequestRefused(415) when Content-Type names a charset other than UTF-8 (or ASCII)."""
    charset = request.charset
    if charset is not None and charset.strip().lower() not in JSON_CHARSETS:
        raise RequestRefused(415, "invalid_charset",
                             f"charset {_printable(charset)} is not supported; send JSON as "
                             f"UTF-8")


def parse_json(body: bytes) -> Any:
    """The JSON document, or RequestRefused(400) saying why it is not one.

    orjson is strict where Python's json is lax (NaN, invalid UTF-8, lone surrogates) and
    refuses nesting deeper than 1024 without recursing in Python, so a deep document is a
    clean 400, never a RecursionError.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestRefused(400, "invalid_json", f"the body is not valid JSON ({exc.msg} at "
                             f"line {exc.lineno} column {exc.colno})") from None


async def read_json(request: web.BaseRequest, limit: int, timeout: float) -> Any:
    """Charset checked, body read within ``limit`` bytes and ``timeout``, JSON parsed."""
    check_json_charset(request)
    return parse_json(await read_body(request, limit, timeout))
