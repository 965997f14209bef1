"""Reading request bodies safely: size, time, charset and compression all bounded.

aiohttp would decompress a body sent with ``Content-Encoding`` on the event loop as it
arrives — also for a request that is refused, and for a body nobody reads — so the server runs
with ``auto_decompress=False`` and bodies are decompressed here instead: only for routes that
accept compressed bodies (ingestion), only after the token was checked, in slices of
``SLICE`` bytes with the event loop handed back in between, and stopped as soon as the output
passes the size limit or the ratio limit. Every problem is a ``RequestRefused`` (4xx).
"""

from __future__ import annotations

import asyncio
import zlib
from typing import Any

import orjson
from aiohttp import hdrs, web

from exporter.web.refusal import RequestRefused

# Output produced per slice before the event loop is handed back (about 0.2 ms of CPU).
SLICE = 64 * 1024
# Compressed input handed to the decoder at a time.
INPUT_SLICE = 16 * 1024
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
    # Closing after a 413 spares reading (and discarding) the rest of a huge body.
    too_large = RequestRefused(413, "body_too_large", f"the body is larger than {limit} bytes",
                               close=True)
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            while True:
                chunk = await request.content.read(65536)
                if not chunk:
                    return b"".join(chunks)
                size += len(chunk)
                if size > limit:
                    raise too_large
                chunks.append(chunk)
    except TimeoutError:
        raise RequestRefused(408, "body_timeout", f"the body did not arrive within "
                             f"{timeout:g}s", close=True) from None


async def decompress(data: bytes, encoding: str, limit: int,
                     max_ratio: float = DEFAULT_MAX_RATIO) -> bytes:
    """``data`` decoded, in slices; RequestRefused past ``limit`` bytes or ``max_ratio``.

    A gzip body may hold several members one after another (RFC 1952); each is decoded in
    turn, under the same limits. The decoder is fed ``INPUT_SLICE`` bytes at a time: handed
    the whole body, zlib took about 1 ms per slice of output on a 1 MB body (it keeps the
    unread rest as a copy each time), where a slice should cost a fifth of that.
    """
    wbits = DECODERS[encoding]
    if encoding == "deflate" and not _looks_like_zlib(data):
        wbits = -zlib.MAX_WBITS  # raw deflate, as some clients send it
    decoder = zlib.decompressobj(wbits)
    view = memoryview(data)
    out: list[bytes] = []
    size = 0
    fed = 0  # bytes of ``data`` handed to a decoder so far
    pending: bytes | memoryview = b""
    try:
        while True:
            if not pending and fed < len(view):
                pending = view[fed:fed + INPUT_SLICE]
                fed += len(pending)
            chunk = decoder.decompress(pending, SLICE)
            pending = decoder.unconsumed_tail
            size += len(chunk)
            if size > limit:
                raise RequestRefused(413, "body_too_large",
                                     f"the body decompresses to more than {limit} bytes")
            consumed = fed - len(pending) - len(decoder.unused_data)
            if size > RATIO_FLOOR and size > max_ratio * max(1, consumed):
                raise RequestRefused(413, "compression_ratio",
                                     f"the body decompresses more than {max_ratio:g} times; "
                                     f"send it uncompressed or in smaller batches")
            out.append(chunk)
            if decoder.eof:
                end = fed - len(decoder.unused_data)  # where this stream ended in ``data``
                if wbits == DECODERS["gzip"] and view[end:end + 2] == b"\x1f\x8b":
                    decoder, fed, pending = zlib.decompressobj(wbits), end, b""
                    continue
                if end < len(view):
                    raise RequestRefused(400, "bad_compressed_body",
                                         f"the body has data after the end of its {encoding} "
                                         f"stream")
                break
            if not chunk and not pending and fed >= len(view):
                raise RequestRefused(400, "bad_compressed_body",
                                     f"the {encoding} body is truncated")
            await asyncio.sleep(0)
    except zlib.error:
        raise RequestRefused(400, "bad_compressed_body",
                             f"the body is not valid {encoding} data") from None
    return b"".join(out)


def _looks_like_zlib(data: bytes) -> bool:
    # RFC 1950 header: compression method 8 and a header checksum divisible by 31.
    return len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0


async def read_body(request: web.BaseRequest, limit: int, timeout: float,
                    max_ratio: float = DEFAULT_MAX_RATIO) -> bytes:
    """The body, decompressed where it was sent compressed (and the route allows it);
    ``limit`` bounds both the bytes sent and the bytes they decompress to."""
    encoding = content_encoding(request)
    raw = await read_raw(request, limit, timeout)
    if encoding is None:
        return raw
    return await decompress(raw, encoding, limit, max_ratio)


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
