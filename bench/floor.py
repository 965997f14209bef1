"""The exporter's memory floor: the interpreter and the libraries it imports at start, alone.

    python -m bench.floor

A fresh interpreter imports exactly what ``python -m exporter`` imports before it reads its
configuration (``STARTUP``), one top-level library at a time in the order the exporter meets
them, and prints the resident size after each (what that library added, with the libraries
it pulls in that were not loaded yet) and the total. Nothing runs: no event loop, no probe, no
configuration. What an exporter holds above this after minutes of probing is its own state
(and libraries imported later, when a configuration needs them: pglast for query statements,
cryptography for an HTTPS target's certificate).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# What `python -m exporter` imports at start (tests/test_startup_imports.py holds the same).
STARTUP = ("exporter.cli", "exporter.service", "exporter.features")

_SCRIPT = """
import importlib, json, os, sys

def rss():
    for line in open(f"/proc/{os.getpid()}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024

steps = [("interpreter", rss(), len(sys.modules))]
for name in sys.argv[1].split(","):
    importlib.import_module(name)
    steps.append((name, rss(), len(sys.modules)))
print(json.dumps(steps))
"""

# Top-level libraries first (each with what it pulls in), then the exporter's own modules.
LIBRARIES = ("asyncio", "uvloop", "yaml", "structlog", "jsonschema", "psycopg", "redis.asyncio",
             "aiohttp", "aiohttp.web", "prometheus_client", "limits", "orjson")


@dataclass(frozen=True)
class Floor:
    """Resident bytes and module counts after each import step (the last is the floor)."""

    steps: list[tuple[str, int, int]]

    @property
    def rss(self) -> int:
        return self.steps[-1][1]

    @property
    def modules(self) -> int:
        return self.steps[-1][2]

    def lines(self) -> list[str]:
        out = []
        previous = None
        for name, rss, modules in self.steps:
            if previous is None:
                out.append(f"  {name:<22} {rss / 2**20:6.1f} MiB  {modules:4d} modules")
            else:
                out.append(f"  + {name:<20} {(rss - previous[1]) / 2**20:+6.1f} MiB  "
                           f"{modules - previous[2]:+4d} modules")
            previous = (name, rss, modules)
        out.append(f"  = floor {self.rss / 2**20:.1f} MiB ({self.rss / 1e6:.1f} MB), "
                   f"{self.modules} modules")
        return out


def measure() -> Floor:
    """The floor, measured in a fresh interpreter (the one running this script)."""
    order = [*LIBRARIES, *STARTUP]
    done = subprocess.run([sys.executable, "-c", _SCRIPT, ",".join(order)], cwd=REPO,
                          capture_output=True, text=True, check=True)
    steps = [(name, int(rss), int(modules)) for name, rss, modules in json.loads(done.stdout)]
    # The exporter's own modules (and anything they import that is not listed) in one line.
    own = steps[len(LIBRARIES) + 1:]
    steps = [*steps[:len(LIBRARIES) + 1], ("exporter (own modules)", own[-1][1], own[-1][2])]
    return Floor(steps)


def main() -> None:
    floor = measure()
    print("== Memory floor: a fresh interpreter importing what the exporter imports at start ==")
    for line in floor.lines():
        print(line)


if __name__ == "__main__":
    main()
