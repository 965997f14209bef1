"""The order in which pytest-xdist hands out the tests, so that two workers finish together.

Most of the suite's time is a few long tests (a stack quiet for two minutes, drills, the
documented services). xdist (``--dist loadgroup --no-loadscope-reorder``, pyproject.toml) hands
out work units in collection order: a unit is one test, or every test of an ``xdist_group``.
Two rules:

- **Longest unit first** (the LPT rule): a two-minute test started last would keep one worker
  busy long after the other has finished. Durations come from ``tests/durations.json``, written
  from a JUnit report of a real run (``python -m tests.scheduling REPORT.xml``); a test not in
  it is guessed as the median of the recorded cases of its parametrized function (a docs
  block whose line moved still goes early), else 0 (after the known long ones).
- **A module with a module-scoped fixture is one unit.** Such a fixture (a drill stack, an HA
  stack, a k6 run) starts once per worker that runs any test of the module, and again whenever
  a worker leaves the module and comes back: keeping the module together on one worker starts
  it once. Other groups (docs blocks that take turns on a port) are named by their module with
  ``pytest.mark.xdist_group``.

Outside xdist the collection order is left alone.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DURATIONS = Path(__file__).resolve().parent / "durations.json"
# Shorter tests than this are not worth a line in durations.json (their order does not matter),
# unless another case of their parametrized function is longer.
RECORDED_FROM_SECONDS = 1.0


def known_durations() -> dict[str, float]:
    """Test node id → seconds (setup, call and teardown) of the last recorded run."""
    if not DURATIONS.exists():
        return {}
    return {str(k): float(v) for k, v in json.loads(DURATIONS.read_text()).items()}


def _file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def _function_of(nodeid: str) -> str:
    return nodeid.split("[", 1)[0]


def estimated(items: list[pytest.Item], known: dict[str, float]) -> dict[str, float]:
    """Each item's expected seconds: its recorded duration, else the median of the recorded
    cases of the same parametrized test function, else 0."""
    by_function: dict[str, list[float]] = defaultdict(list)
    for nodeid, seconds in known.items():
        if "[" in nodeid:
            by_function[_function_of(nodeid)].append(seconds)
    guesses = {name: statistics.median(values) for name, values in by_function.items()}
    return {item.nodeid: known.get(item.nodeid, guesses.get(_function_of(item.nodeid), 0.0))
            for item in items}


def _uses_module_fixture(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(definitions and definitions[-1].scope in ("module", "class")
               for definitions in info.name2fixturedefs.values())


def group_by_module_fixture(items: list[pytest.Item]) -> None:
    """Mark every test of a module that has a module- or class-scoped fixture with that
    module's xdist group (unless the test names a group of its own)."""
    modules = {_file_of(item.nodeid) for item in items if _uses_module_fixture(item)}
    for item in items:
        path = _file_of(item.nodeid)
        if path in modules and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(path))


def unit_of(item: pytest.Item) -> str:
    """The work unit xdist's loadgroup scheduler makes of the item."""
    names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                    for m in item.iter_markers("xdist_group")})
    return "@" + "_".join(names) if names else item.nodeid


def longest_first(items: list[pytest.Item], known: dict[str, float]) -> None:
    """Reorder ``items`` in place: units by their total expected seconds, longest first; the
    tests of a unit together, in their collection order."""
    seconds = estimated(items, known)
    totals: dict[str, float] = defaultdict(float)
    first_seen: dict[str, int] = {}
    for index, item in enumerate(items):
        unit = unit_of(item)
        totals[unit] += seconds[item.nodeid]
        first_seen.setdefault(unit, index)
    order = {id(item): index for index, item in enumerate(items)}
    items.sort(key=lambda item: (-totals[unit_of(item)], first_seen[unit_of(item)],
                                 order[id(item)]))


def arrange(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Group and order ``items`` for xdist's workers; nothing outside xdist."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    group_by_module_fixture(items)
    longest_first(items, known_durations())


# --- refreshing durations.json from a run's JUnit report ---------------------------------------


def _nodeid(classname: str, name: str) -> str:
    """``tests.test_x.TestY`` + ``test_z[p]`` → ``tests/test_x.py::TestY::test_z[p]``."""
    parts = classname.split(".")
    for cut in range(len(parts), 0, -1):
        path = "/".join(parts[:cut]) + ".py"
        if (REPO / path).exists():
            return "::".join([path, *parts[cut:], name])
    return f"{classname}::{name}"


def durations_from_junit(reports: list[Path]) -> dict[str, float]:
    """Seconds per test from JUnit reports (pytest --junitxml), the longest of several runs."""
    found: dict[str, float] = {}
    for report in reports:
        for case in ET.parse(report).getroot().iter("testcase"):
            # Under --dist loadgroup a grouped test's id ends with @<group> (after any
            # parameters, which may hold an @ of their own).
            name = case.get("name", "")
            if name.rfind("@") > name.rfind("]"):
                name = name[:name.rfind("@")]
            nodeid = _nodeid(case.get("classname", ""), name)
            seconds = float(case.get("time", 0))
            found[nodeid] = max(seconds, found.get(nodeid, 0.0))
    return found


def main(argv: list[str]) -> int:
    """``python -m tests.scheduling REPORT.xml [...]``: rewrite tests/durations.json."""
    if not argv:
        print("usage: python -m tests.scheduling REPORT.xml [REPORT.xml ...]", file=sys.stderr)
        return 2
    found = durations_from_junit([Path(a) for a in argv])
    # Every case of a parametrized function that has a long one, so that its short cases
    # (a docs block that is only shown) are not guessed long.
    long_functions = {_function_of(k) for k, v in found.items()
                      if "[" in k and v >= RECORDED_FROM_SECONDS}
    kept = {k: round(v, 1) for k, v in sorted(found.items())
            if v >= RECORDED_FROM_SECONDS or _function_of(k) in long_functions}
    DURATIONS.write_text(json.dumps(kept, indent=1) + "\n")
    print(f"{len(kept)} tests written to {DURATIONS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
