"""Logging: one line per event (logfmt or JSON), with every known secret masked.

The redactor knows every secret value the configuration holds (tokens, keys, passwords, DSNs)
and masks them, and any ``user:password@`` in a URL, in every field of every log line.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

MASK = "***"
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@/\s]+@", re.I)
_KEY_PARAMS = re.compile(r"(?P<key>[?&](?:apikey|api_key|token|access_token|key|password)=)[^&\s]+",
                         re.I)


class Redactor:
    """Masks known secrets and URL passwords in text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        self.update(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        """Replace the set of known secrets (longest first, so no secret is half-masked)."""
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
        return _KEY_PARAMS.sub(lambda m: f"{m['key']}{MASK}", text)


REDACTOR = Redactor()

# Control characters (C0, DEL, C1) and line separators written as visible escapes: a NUL or an
# ANSI sequence from a client's text (an override reason, a header) must not reach a terminal
# or split a log line.
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}
_CONTROL.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t",
                 0x2028: "\\u2028", 0x2029: "\\u2029"})


def escape_controls(text: str) -> str:
    """``text`` with control characters as visible escapes (``\\x1b``, ``\\n``)."""
    return text.translate(_CONTROL)


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = escape_controls(REDACTOR(value))
        elif value is not None and not isinstance(value, int | float | bool):
            event[key] = escape_controls(REDACTOR(str(value)))
    return event


def configure(level: str = "info", fmt: str = "logfmt", secrets: Iterable[str] = ()) -> None:
    """Set up structlog (and route the standard library's logging through the same redactor)."""
    REDACTOR.update(secrets)
    renderer: Any = (structlog.processors.JSONRenderer() if fmt == "json"
                     else structlog.processors.LogfmtRenderer(
                         key_order=["ts", "level", "event"], drop_missing=True))
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
            _redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]),
        # Resolve sys.stderr when a logger is made, not now, so a replaced stream (a test's
        # capture, a daemon's redirect) is followed rather than written to after it closed.
        logger_factory=lambda *_: structlog.PrintLogger(sys.stderr),
        cache_logger_on_first_use=False,
    )
    # Libraries (aiohttp, asyncio, psycopg) log through the standard library: keep them quiet
    # unless something is wrong, and masked like everything else.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_RedactingFormatter("level=%(levelname)s logger=%(name)s msg=%(message)r"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING if level != "debug" else logging.DEBUG)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


class _RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return escape_controls(REDACTOR(super().format(record)))
