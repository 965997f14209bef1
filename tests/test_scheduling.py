"""The suite's scheduling under xdist (tests/scheduling.py): a module-scoped fixture starts once,
and the longest recorded work is handed out first."""

from __future__ import annotations

import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.scheduling import REPO, _nodeid, durations_from_junit, estimated

ADDOPTS = shlex.split(tomllib.loads((REPO / "pyproject.toml").read_text())
                      ["tool"]["pytest"]["ini_options"]["addopts"])

MODULE = '''
import os, pytest

@pytest.fixture(scope="module")
def started():
    with open(os.environ["SETUPS"], "a") as log:
        log.write("{name} " + os.environ["PYTEST_XDIST_WORKER"] + "\\n")

@pytest.mark.parametrize("n", range(4))
def test_one(started, n):
    pass
'''


def test_a_module_fixture_starts_once_on_two_workers(tmp_path: Path) -> None:
    """Without the groups each worker would start the module's fixture (and, as tests
    alternate between modules, start it again)."""
    assert {"--dist", "loadgroup", "--no-loadscope-reorder"} <= set(ADDOPTS)
    (tmp_path / "conftest.py").write_text(
        "import pytest\nfrom tests import scheduling\n\n"
        "@pytest.hookimpl(tryfirst=True)\n"
        "def pytest_collection_modifyitems(config, items):\n"
        "    scheduling.arrange(config, items)\n")
    for name in ("a", "b"):
        (tmp_path / f"test_{name}.py").write_text(MODULE.replace("{name}", name))
    setups = tmp_path / "setups.txt"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", *ADDOPTS, "-p", "no:cacheprovider",
         "-q", str(tmp_path)], cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "SETUPS": str(setups)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "8 passed" in done.stdout
    started = sorted(line.split()[0] for line in setups.read_text().splitlines())
    assert started == ["a", "b"], setups.read_text()


def test_durations_come_from_a_junit_report_and_a_moved_case_keeps_its_functions_median(
        tmp_path: Path) -> None:
    report = tmp_path / "report.xml"
    report.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="tests.test_docs_commands" '
        'name="test_documented_shell_block[README.md:30]@docs-port-9847" time="42.0"/>'
        '<testcase classname="tests.test_docs_commands" '
        'name="test_documented_shell_block[docs/drill.md:15]" time="46.0"/>'
        '<testcase classname="tests.test_docs_commands" '
        'name="test_documented_shell_block[docs/a@b.md:1]" time="2.0"/>'
        '</testsuite></testsuites>')
    found = durations_from_junit([report])
    block = "tests/test_docs_commands.py::test_documented_shell_block"
    assert found == {f"{block}[README.md:30]": 42.0, f"{block}[docs/drill.md:15]": 46.0,
                     f"{block}[docs/a@b.md:1]": 2.0}
    assert _nodeid("tests.test_rules", "test_x") == "tests/test_rules.py::test_x"

    class Item:
        def __init__(self, nodeid: str) -> None:
            self.nodeid = nodeid

    guesses = estimated([Item(f"{block}[README.md:31]"), Item("tests/test_x.py::test_new")],
                        found)  # type: ignore[list-item]
    assert guesses == {f"{block}[README.md:31]": 42.0, "tests/test_x.py::test_new": 0.0}
