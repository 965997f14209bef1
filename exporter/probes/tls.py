"""TLS client contexts for the HTTP-speaking probes, one per set of settings.

A verifying context holds its own copy of every trusted CA (about 140 system CAs: 0.8 MiB
resident), so every target with the same settings shares one, and a context that does not
verify loads none. A context is made anew when its CA file changes on disk (a rotated CA is
picked up by the next reload, as before), and a context once handed out is never changed.
"""

from __future__ import annotations

import os
import ssl
from functools import lru_cache

Stamp = tuple[int, int, int] | None


def _stamp(path: str | None) -> Stamp:
    """What tells one version of a CA file (or directory) from the next; None if absent."""
    if not path:
        return None
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_ino, status.st_size, status.st_mtime_ns


@lru_cache(maxsize=16)
def _context(verify: bool, ca_file: str, stamp: Stamp) -> ssl.SSLContext:
    del stamp  # part of the cache key only
    if not verify:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=ca_file or None)


def tls_context(verify: bool, ca_file: str = "") -> ssl.SSLContext:
    """Verifying (system CAs, or ``ca_file``) or not verifying at all (``tls_verify: false``),
    shared with every other target of the same settings."""
    if not verify:
        return _context(False, "", None)
    defaults = ssl.get_default_verify_paths()
    source = ca_file or defaults.cafile or defaults.capath
    return _context(True, ca_file, _stamp(source))
