"""What HTTPS targets cost an exporter in memory: the same targets verified and not verified.

    python -m bench.tls_memory [--seconds 45]

Serves HTTPS on a loopback port with a self-signed certificate (made with openssl) and starts
two exporters side by side, each with an API target and two external targets on it: one
verifies the certificate (``ca_file``, as a production exporter verifies Supabase's), the
other does not (``tls_verify: false``). Both read the certificate's expiry. Prints each one's
resident size after ``--seconds`` next to the floor (``python -m bench.floor``). The ssl
module hands over a certificate it verified already decoded; only the exporter that does not
verify needs cryptography to decode it, and its extra memory is what that costs.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench import floor
from bench.measure import rss_bytes
from harness.certificates import self_signed, start_https_health
from harness.exporter import ExporterProcess


def serve_https(cert: Path, key: Path) -> int:
    """An HTTPS server answering /health in a thread of its own; its port."""
    ports: list[int] = []

    async def serve() -> None:
        _, port = await start_https_health(cert, key)
        ports.append(port)
        await asyncio.Event().wait()

    threading.Thread(target=asyncio.run, args=(serve(),), daemon=True).start()
    deadline = time.monotonic() + 10
    while not ports and time.monotonic() < deadline:
        time.sleep(0.05)
    if not ports:
        raise RuntimeError("the HTTPS server did not start")
    return ports[0]


def config(url: str, tls: dict[str, Any]) -> dict[str, Any]:
    return {
        "api": [{"name": "health", "url": url, **tls}],
        "external": [{"name": name, "url": url, **tls} for name in ("one", "two")],
        "components": {"essential": ["api"]},
        "log": {"level": "warning"},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=45.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wedsync-tls-memory-") as folder:
        cert, key = self_signed(Path(folder))
        url = f"https://127.0.0.1:{serve_https(cert, key)}/health"
        exporters = {"verified (ca_file)": ExporterProcess(config(url, {"ca_file": str(cert)})),
                     "not verified (tls_verify: false)":
                         ExporterProcess(config(url, {"tls_verify": False}))}
        try:
            for exporter in exporters.values():
                exporter.start()
                exporter.wait_ready(timeout=60)
            time.sleep(args.seconds)
            sizes = {}
            for name, exporter in exporters.items():
                text = exporter.metrics()
                expiries = sum(line.startswith("wedsync_tls_certificate_expiry_timestamp_seconds{")
                               for line in text.splitlines())
                assert exporter.process is not None
                sizes[name] = rss_bytes(exporter.process.pid)
                print(f"{name:<34} RSS {sizes[name] / 2**20:5.1f} MiB "
                      f"({sizes[name] / 1e6:.1f} MB), {expiries} certificate expiries read")
        finally:
            for exporter in exporters.values():
                exporter.stop()
    verified, unverified = sizes.values()
    print(f"decoding certificates without the ssl module's verification costs "
          f"{(unverified - verified) / 2**20:+.1f} MiB")
    lowest = floor.measure()
    print(f"floor (python -m bench.floor): {lowest.rss / 2**20:.1f} MiB; the verifying "
          f"exporter is {(verified - lowest.rss) / 2**20:.1f} MiB above it")


if __name__ == "__main__":
    main()
