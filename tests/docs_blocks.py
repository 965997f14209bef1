"""The fenced code blocks of README.md and docs/, and how each shell block is run as a test.

The convention (docs/architecture.md, "Documentation runs as tests"): a block's info string is
its language, then optional words that say how a shell block (``sh``, ``bash``, ``shell``)
is run:

- no word: run as written, to the end; it must exit 0;
- ``service``: it keeps running (the exporter, the stack): each command is started, checked
  until ready (``ready=URL[,URL]`` answer 200; ``ready-line=TEXT``: a line of its output starts
  with TEXT and every loopback URL it printed answers; else every loopback URL it printed
  answers and it printed nothing new for 2 s), and stopped with Ctrl-C;
- ``long``: a drill or load test longer than CI can afford: not run; the same document must
  give a shorter variant of the same command in a block that is run;
- ``during``: run to the end while the ``service`` block before it on the same page runs
  (a client of the service: ``curl``, ``wedsync-deploy-gate``); the service's test runs it;
- ``ci``: the test command CI itself runs (``.ci/run``); the suite does not run itself;
- ``illustration``: aimed at the user's own hosts (staging, ``<ref>.supabase.co``) or full of
  placeholders: shown, never run.

A block with a ``docker compose`` command runs ``docker compose … config`` instead of each one,
where a Compose client exists. Every other fence names its language (``text`` for output and
diagrams), so no shell block can hide in an unmarked fence.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHELL = frozenset({"sh", "bash", "shell"})
ROLES = frozenset({"service", "during", "long", "ci", "illustration"})
# Commands that keep running until Ctrl-C: a block holding one must say `service`.
SERVICE_COMMAND = re.compile(
    r"^(?:\w+=\S*\s+)*(?:\S*/)?(?:wedsync-stack\s+up|wedsync-sandbox|wedsync-exporter(?!\s+check-config)"
    r"|python3?\s+-m\s+(?:sandbox|harness\s+up|exporter(?!\s+check-config)))\b(?!.*\s--help)")
TMP_PATH = re.compile(r"(?<![\w.])/tmp/[\w.-]+")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>```+|~~~+)(?P<info>.*)$")
LISTEN_PORT = re.compile(r"--listen[= ]\S*:(\d{2,5})\b")
URL_PORT = re.compile(r"//[^/:\s]+:(\d{2,5})\b")


def documents() -> list[Path]:
    """README.md and every page under docs/."""
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


@dataclass(frozen=True)
class Block:
    """One fenced block of a document."""

    document: Path
    line: int  # 1-based line of the opening fence
    language: str
    words: tuple[str, ...]
    attributes: dict[str, str] = field(hash=False)
    text: str

    @property
    def name(self) -> str:
        return f"{self.document.relative_to(REPO)}:{self.line}"

    @property
    def is_shell(self) -> bool:
        return self.language in SHELL

    @property
    def role(self) -> str:
        """``run``, or the block's one role word."""
        roles = [word for word in self.words if word in ROLES]
        return roles[0] if roles else "run"

    def commands(self) -> list[str]:
        """The block's commands: continuation lines joined, blank and comment lines dropped."""
        commands: list[str] = []
        current = ""
        for line in self.text.splitlines():
            if not current and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if line.rstrip().endswith("\\"):
                current += line.rstrip()[:-1] + " "
                continue
            commands.append((current + line).strip())
            current = ""
        if current:
            commands.append(current.strip())
        return commands

    def compose_commands(self) -> list[str]:
        return [c for c in self.commands() if c.startswith("docker compose")]

    def ready_urls(self) -> list[str]:
        return [u for u in self.attributes.get("ready", "").split(",") if u]

    def ready_line(self) -> str | None:
        """``ready-line=running``: ready once a line of its output starts with this (for a
        command whose ports are free ones it prints, and that prints URLs while starting)."""
        return self.attributes.get("ready-line")

    def fixed_ports(self) -> set[int]:
        """The fixed ports the block listens on (``--listen``, ``ready=``): blocks that listen
        on the same port take turns. (A port it only talks to, such as a scrape target, is
        not one.)"""
        ready = " ".join(self.ready_urls())
        return {int(p) for p in LISTEN_PORT.findall(self.text) + URL_PORT.findall(ready)}

    def fixed_paths(self) -> set[str]:
        """Fixed files under /tmp the block names: blocks that name the same one take turns."""
        return set(TMP_PATH.findall(self.text))

    def keeps_running(self) -> list[str]:
        """Its commands that run until Ctrl-C (not sent to the background with ``&``)."""
        running = []
        for command in self.commands():
            code = re.split(r"\s#", command)[0].strip()  # the comment may say --help
            if code.endswith("&") and not code.endswith("&&"):
                continue
            if any(SERVICE_COMMAND.match(part.strip()) for part in re.split(r"&&|;|\|\|", code)):
                running.append(command)
        return running

    def creates_venv(self) -> bool:
        return "-m venv .venv" in self.text


def _info(info: str) -> tuple[str, tuple[str, ...], dict[str, str]]:
    parts = info.split()
    if not parts:
        return "", (), {}
    words = tuple(p for p in parts[1:] if "=" not in p)
    attributes = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
    return parts[0], words, attributes


def blocks_of(document: Path) -> list[Block]:
    """Every fenced block of ``document``, indented ones (inside list items) included."""
    lines = document.read_text().splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            line = lines[j]
            body.append(line[indent:] if line[:indent].strip() == "" else line)
            j += 1
        language, words, attributes = _info(opening["info"].strip())
        found.append(Block(document, i + 1, language, words, attributes,
                           "\n".join(body) + "\n"))
        i = j + 1
    return found


def all_blocks() -> list[Block]:
    return [block for document in documents() for block in blocks_of(document)]


def shell_blocks() -> list[Block]:
    return [block for block in all_blocks() if block.is_shell]


def compose_config_command(command: str) -> str:
    """``docker compose [global options] SUBCOMMAND …`` → the same with ``config --quiet``:
    what Compose makes of the files, profiles and variables, without starting anything."""
    words = shlex.split(command, comments=True)[2:]
    kept: list[str] = []
    with_value = {"--profile", "-f", "--file", "--env-file", "-p", "--project-name",
                  "--project-directory"}
    while words and words[0].startswith("-"):
        flag = words.pop(0)
        kept.append(flag)
        if flag in with_value and words:
            kept.append(words.pop(0))
    return shlex.join(["docker", "compose", *kept, "config", "--quiet"])


def program_of(command: str) -> str:
    """The program and its subcommand (``wedsync-drill run``), leading variables left out:
    what makes a short variant one of a long block."""
    words = [w for w in shlex.split(command, comments=True) if not re.match(r"^\w+=", w)]
    if words[:2] in (["python", "-m"], ["python3", "-m"]):
        words = words[2:]
    if len(words) > 1 and not words[1].startswith("-"):
        return f"{words[0]} {words[1]}"
    return words[0] if words else ""


def shell_units(text: str) -> list[str]:
    """``text`` split into the complete commands a user would paste one at a time (a line,
    its continuation lines, or a multi-line ``case``/``if``/loop), comment-only lines dropped;
    ``bash -n`` decides where a command is complete."""
    units: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current.append(line)
        joined = "\n".join(current)
        if line.rstrip().endswith("\\"):
            continue
        check = subprocess.run(["bash", "-n", "-c", joined], capture_output=True, text=True)
        # An open here-document parses, with a warning: the command goes on to its delimiter.
        if check.returncode == 0 and "here-document" not in check.stderr:
            units.append(joined)
            current = []
    if current:
        units.append("\n".join(current))
    return units


def checked_script(units: list[str]) -> str:
    """A script that runs the commands in one shell, as typed, and stops at the first one that
    exits non-zero, naming it (as ``-e`` would, but per command a user types: in
    ``gate; echo "exit $?"`` the gate may say no)."""
    parts = ["set -o pipefail"]
    for number, unit in enumerate(units, 1):
        first = unit.splitlines()[0].replace("'", "")[:120]
        parts.append(f"{unit}\n__status=$?; if [ $__status -ne 0 ]; then echo "
                     f"'docs test: command {number} exited non-zero: {first}' >&2; "
                     f"exit $__status; fi")
    return "\n".join(parts) + "\n"
