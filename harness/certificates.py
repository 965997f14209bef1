"""Self-signed TLS certificates for loopback servers, made with the openssl command."""

from __future__ import annotations

import subprocess
from pathlib import Path


def self_signed(folder: Path, days: int = 30) -> tuple[Path, Path]:
    """A self-signed EC certificate for 127.0.0.1 (its own CA) and its key, in ``folder``."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", str(days), "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key
