"""The exporter's memory floor: the interpreter and the libraries it imports at start, alone.

    python -m bench.floor

A fresh interpreter imports exactly what ``python -m exporter`` imports before it reads its
configuration (``STARTUP``), one top-level library at a time in the order the exporter meets
them, and prints the resident size after each (what that library added, with the libraries
it pulls in that were not loaded yet) and the total. Nothing runs: no event loop, no probe, no
configuration. What an exporter holds above this after minutes of probing is its own state
(and libraries imported later, when a configuration needs them: pglast for query statements,
cryptography for an HTTPS target's certificate).

Last, the same for the stack the exporter is built on and nothing else (``STACK``: asyncio,
aiohttp's client and server, prometheus-client, psycopg 3, redis-py's asyncio client): what any
exporter on that stack holds before a line of its own code, its configuration, logging, or a
connection.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parent.parent
# What `python -m exporter` imports at start (tests/test_startup_imports.py holds the same).
STARTUP = ("exporter.cli", "exporter.service", "exporter.features")

_SCRIPT = """
import importlib, json, os, sys
for name in sys.argv[2].split(",") if len(sys.argv) > 2 and sys.argv[2] else ():
    sys.modules.setdefault(name, None)  # not installed by the exporter's own dependencies

def rss():
    for line in open(f"/proc/{os.getpid()}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024

steps = [("interpreter", rss(), sum(1 for m in sys.modules.values() if m is not None))]
for name in sys.argv[1].split(","):
    importlib.import_module(name)
    steps.append((name, rss(), sum(1 for m in sys.modules.values() if m is not None)))
top = sorted({n.split(".")[0] for n, m in sys.modules.items() if m is not None})

print(json.dumps({"steps": steps, "top": top}))
"""

# Top-level libraries first (each with what it pulls in), then the exporter's own modules.
LIBRARIES = ("asyncio", "uvloop", "yaml", "structlog", "jsonschema", "psycopg", "redis.asyncio",
             "aiohttp", "aiohttp.web", "prometheus_client", "limits", "orjson")
# The stack the exporter is built on, alone: its HTTP server and client, the exposition
# library, the PostgreSQL and the Redis client. Whatever the exporter does, it holds these.
STACK = ("asyncio", "aiohttp", "aiohttp.web", "prometheus_client", "psycopg", "redis.asyncio")


@dataclass(frozen=True)
class Floor:
    """Resident bytes and module counts after each import step (the last is the floor)."""

    steps: list[tuple[str, int, int]]
    imported: tuple[str, ...] = ()  # top-level modules loaded

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


def installed_by_extras() -> list[str]:
    """Top-level modules of installed distributions that the exporter's own dependencies do
    not bring in (only the test extras do): libraries may import them when they are there
    (structlog imports rich), so the floor of the README's ``pip install -e .`` leaves them
    out."""
    wanted: set[str] = set()
    todo: list[tuple[str, frozenset[str]]] = [("wedsync-observability", frozenset())]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, extras = todo.pop()
        if (canonical(name), extras) in seen:
            continue
        seen.add((canonical(name), extras))
        wanted.add(canonical(name))
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for requirement in map(Requirement, requires):
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": extra})
                                     for extra in ("", *extras)):
                todo.append((requirement.name, frozenset(requirement.extras)))
    return sorted(module for module, dists in metadata.packages_distributions().items()
                  if not any(canonical(dist) in wanted for dist in dists)
                  and module not in ("tests", "bench", "exporter") and module.isidentifier()
                  and module not in sys.stdlib_module_names)


def canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _imported(order: list[str], without_extras: bool) -> tuple[list[tuple[str, int, int]],
                                                                 tuple[str, ...]]:
    """Resident bytes and module counts after each import of ``order`` in a fresh
    interpreter (the one running this script), and the top-level modules loaded."""
    blocked = ",".join(installed_by_extras()) if without_extras else ""
    done = subprocess.run([sys.executable, "-c", _SCRIPT, ",".join(order), blocked], cwd=REPO,
                          capture_output=True, text=True, check=True)
    found = json.loads(done.stdout)
    return ([(name, int(rss), int(modules)) for name, rss, modules in found["steps"]],
            tuple(found["top"]))


def stack() -> Floor:
    """The interpreter and ``STACK`` alone, as README's install has them."""
    return Floor(*_imported(list(STACK), without_extras=True))


def measure(without_extras: bool = False) -> Floor:
    """The floor, measured in a fresh interpreter (the one running this script); with
    ``without_extras``, as an install without the test extras has it."""
    steps, top = _imported([*LIBRARIES, *STARTUP], without_extras)
    # The exporter's own modules (and anything they import that is not listed) in one line.
    own = steps[len(LIBRARIES) + 1:]
    steps = [*steps[:len(LIBRARIES) + 1], ("exporter (own modules)", own[-1][1], own[-1][2])]
    return Floor(steps, top)


def main() -> None:
    floor = measure()
    print("== Memory floor: a fresh interpreter importing what the exporter imports at start ==")
    for line in floor.lines():
        print(line)
    lean = measure(without_extras=True)
    missing = sorted(set(floor.imported) - set(lean.imported) - sys.stdlib_module_names)
    print(f"== The same without what only the test extras install ({', '.join(missing)} among "
          "what is imported), as README's pip install -e . has it ==")
    for line in lean.lines():
        print(line)
    alone = stack()
    print("== The stack the exporter is built on, alone (aiohttp, prometheus-client, psycopg 3, "
          "redis-py), as README's install has it ==")
    for line in alone.lines():
        print(line)


if __name__ == "__main__":
    main()
