"""The ``wedsync-loadtest`` command (``python -m loadtests``).

    wedsync-loadtest run [--profile smoke] [--base-url URL] [--prometheus-url URL] [--baseline F]
    wedsync-loadtest verdict SUMMARY
    wedsync-loadtest compare SUMMARY BASELINE

Exit codes. run: k6's own (0 passed, 99 thresholds crossed, 107 script error, …), or 1 when k6
passed but the comparison with ``--baseline`` found a regression; verdict: 0 PASS, 1 FAIL;
compare: 0 no regression, 1 regression. Every command: 2 for wrong usage or unreadable input.
``ANON_KEY`` and ``API_TOKEN`` come from the environment only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from loadtests.baseline import DEFAULT_TOLERANCE, BaselineError, compare
from loadtests.history import DATABASE_URL_VARIABLE, HistoryError, record
from loadtests.model import load_model
from loadtests.runner import (
    RunError,
    RunSettings,
    find_k6,
    missing_secrets,
    new_testid,
    realtime_url_for,
    run,
)
from loadtests.summary import SummaryError, load_summary
from loadtests.verdict import render

PROG = "wedsync-loadtest"
PASSED, FAILED, USAGE = 0, 1, 2
DEFAULT_BASE_URL = "http://127.0.0.1:54321"  # the sandbox's default address
DEFAULT_RESULTS = "loadtests/results"
# Flags that set a variable the k6 script reads.
OVERRIDES = {"rate": "RATE", "duration": "DURATION", "realtime_rate": "REALTIME_RATE",
             "max_iteration_seconds": "MAX_ITERATION_SECONDS"}


class UsageError(ValueError):
    """Wrong usage; the message says what to change."""


def absolute_path(text: str) -> Path:
    """A path argument made absolute once, against the directory the command was started in.

    k6 runs inside the run's directory, so a relative path handed on would be read from there
    (argparse applies this to string defaults too)."""
    return Path(text).expanduser().absolute()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="WedSync wedding-day load tests (k6): run a profile, judge a run "
                               "against the SLOs, compare it with a baseline.")
    commands = parser.add_subparsers(dest="command", required=True)
    model = load_model()

    go = commands.add_parser("run", help="run a profile with k6 and print the verdict")
    go.add_argument("--profile", default=os.environ.get("PROFILE") or "smoke",
                    choices=sorted(model.profiles), help="load profile (default smoke)")
    go.add_argument("--base-url", default=os.environ.get("BASE_URL") or DEFAULT_BASE_URL,
                    help="the API's base URL (default $BASE_URL or the local sandbox)")
    go.add_argument("--realtime-url", default=os.environ.get("REALTIME_URL") or None,
                    help="Realtime's URL, e.g. wss://<ref>.supabase.co/realtime/v1 (default "
                         "$REALTIME_URL or /realtime/v1 beside the base URL)")
    go.add_argument("--rate", help="iterations a minute of the whole HTTP mix at full level")
    go.add_argument("--duration", help="length of the profile's main stage, e.g. 10s, 30m")
    go.add_argument("--realtime-rate", help="Realtime sessions a minute at full level")
    go.add_argument("--max-iteration-seconds",
                    help="how long an iteration may take before k6 runs out of VUs")
    go.add_argument("--paths", type=absolute_path,
                    help="JSON file mapping endpoint keys to the real API's paths")
    go.add_argument("--prometheus-url",
                    help="Prometheus to remote-write to (needs --web.enable-remote-write-"
                         "receiver), e.g. http://prometheus:9090")
    go.add_argument("--testid", help="the run's testid label (default PROFILE-TIME-RANDOM)")
    go.add_argument("--results", type=absolute_path, default=DEFAULT_RESULTS,
                    help="directory for the run's files (default loadtests/results)")
    go.add_argument("--baseline", type=absolute_path, help="a saved summary.json to compare with")
    go.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                    help="p95 slowdown allowed against the baseline (default 0.10)")
    go.add_argument("--record-history", action="store_true",
                    help=f"insert the run into load_test_results at ${DATABASE_URL_VARIABLE}")
    go.add_argument("--k6", type=absolute_path,
                    help="the k6 binary (default: next to this Python, then PATH)")
    go.add_argument("--timeout", type=float,
                    help="stop k6 (as Ctrl-C does) after this many seconds")

    judge = commands.add_parser("verdict", help="print the verdict of a summary")
    judge.add_argument("summary", type=absolute_path,
                       help="a run's summary.json, or k6's end-of-test JSON")

    diff = commands.add_parser("compare", help="compare a run with a saved baseline")
    diff.add_argument("summary", type=absolute_path)
    diff.add_argument("baseline", type=absolute_path)
    diff.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                      help="p95 slowdown allowed (default 0.10 = 10%%)")
    return parser


def _paths_override(path: Path) -> str:
    """API_PATHS from a JSON file, checked against the known endpoint keys."""
    try:
        paths = json.loads(path.read_text())
    except OSError as exc:
        raise UsageError(f"cannot read --paths {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"--paths {path} is not JSON: {exc.msg}") from None
    known = load_model().paths
    if not isinstance(paths, dict):
        raise UsageError(f"--paths {path} must be a JSON object of endpoint key -> path")
    for key, value in paths.items():
        if key not in known:
            raise UsageError(f"--paths {path}: unknown endpoint {key!r}; known: "
                             f"{', '.join(known)}")
        if not isinstance(value, str) or not value.startswith("/"):
            raise UsageError(f"--paths {path}: {key} must be a path starting with /")
    return json.dumps(paths)


def _settings(args: argparse.Namespace) -> RunSettings:
    if not 0 <= args.tolerance <= 10:
        raise UsageError("--tolerance is a share, e.g. 0.10 for 10%")
    missing = missing_secrets(os.environ)
    if missing:
        raise UsageError(f"set {' and '.join(missing)} in the environment (never on the "
                         f"command line): the anon key for Realtime and an access token for "
                         f"the API; see docs/loadtests.md")
    overrides = {variable: str(getattr(args, flag)) for flag, variable in OVERRIDES.items()
                 if getattr(args, flag) is not None}
    if args.paths is not None:
        overrides["API_PATHS"] = _paths_override(args.paths)
    return RunSettings(profile=args.profile, base_url=args.base_url.rstrip("/"),
                       realtime_url=args.realtime_url or realtime_url_for(args.base_url),
                       results=args.results, testid=args.testid or new_testid(args.profile),
                       prometheus_url=args.prometheus_url, overrides=overrides,
                       k6=find_k6(args.k6), timeout=args.timeout)


def _run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    baseline = load_summary(args.baseline) if args.baseline is not None else None
    print(f"{PROG}: running profile {settings.profile} as testid {settings.testid}; k6 output "
          f"in {settings.run_dir / 'k6.log'}", flush=True)
    outcome = run(settings)
    print(outcome.verdict, end="")
    print(f"summary: {outcome.run_dir / 'summary.json'}")
    code = outcome.exit_code if outcome.exit_code else (
        FAILED if outcome.summary["verdict"] == "FAIL" else PASSED)
    if baseline is not None:
        comparison = compare(outcome.summary, baseline, args.tolerance)
        print(comparison.render(), end="")
        if comparison.regressed and code == PASSED:
            code = FAILED
    if args.record_history:
        database_url = os.environ.get(DATABASE_URL_VARIABLE, "")
        if not database_url:
            print(f"{PROG}: --record-history needs ${DATABASE_URL_VARIABLE}; run not recorded",
                  file=sys.stderr)
        else:
            try:
                print(f"recorded in load_test_results as {record(outcome.summary, database_url)}")
            except HistoryError as exc:
                print(f"{PROG}: {exc}", file=sys.stderr)
    return code


def _verdict(args: argparse.Namespace) -> int:
    summary = load_summary(args.summary)
    print(render(summary), end="")
    return PASSED if summary["verdict"] == "PASS" else FAILED


def _compare(args: argparse.Namespace) -> int:
    comparison = compare(load_summary(args.summary), load_summary(args.baseline),
                         args.tolerance)
    print(comparison.render(), end="")
    return FAILED if comparison.regressed else PASSED


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = _parser().parse_args(argv)
    commands = {"run": _run, "verdict": _verdict, "compare": _compare}
    try:
        return commands[args.command](args)
    except (UsageError, RunError, SummaryError, BaselineError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return USAGE
