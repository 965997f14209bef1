"""``wedsync-deploy-gate``: ask the exporter's deploy gate from a pipeline step.

    wedsync-deploy-gate --url https://exporter:9847            # check (the default)
    wedsync-deploy-gate override --url … --reason "…" [--duration 30m] [--by NAME]
    wedsync-deploy-gate end-override --url …

Exit codes (check): 0 allowed, 1 blocked, 2 wrong usage (bad arguments, no token),
3 no usable answer (the exporter cannot be reached, refuses the token, or answers something
other than the gate's 200 or 423) — a pipeline treats every non-zero code as "do not deploy".
For override and end-override: 0 done, 1 refused by the exporter (the reason is printed), 2 and
3 as above.

The token comes from ``--token``, ``--token-file`` or the environment (``WEDSYNC_DEPLOY_TOKEN``
for check, ``WEDSYNC_ADMIN_TOKEN`` for the override commands), so it need not appear on a
pipeline's command line. The URL may come from ``WEDSYNC_EXPORTER_URL``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from exporter.human_time import duration_text, until_text

ALLOWED, BLOCKED, USAGE, NO_ANSWER = 0, 1, 2, 3
DONE, REFUSED = 0, 1
PATH = "/api/system/deploy-gate"
URL_VARIABLE = "WEDSYNC_EXPORTER_URL"
TOKEN_VARIABLES = {"check": "WEDSYNC_DEPLOY_TOKEN", "override": "WEDSYNC_ADMIN_TOKEN",
                   "end-override": "WEDSYNC_ADMIN_TOKEN"}
COMMANDS = tuple(TOKEN_VARIABLES)
PROG = "wedsync-deploy-gate"


class UsageError(Exception):
    """The command was called wrongly; the message says how to call it."""


class NoAnswer(Exception):
    """No usable answer from the exporter; the message says what happened."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Ask the WedSync exporter whether it is safe to deploy now. "
                               "Exit 0 allowed, 1 blocked, 2 wrong usage, 3 no usable answer.")
    commands = parser.add_subparsers(dest="command", metavar="{check,override,end-override}")
    check = commands.add_parser("check", help="is it safe to deploy now? (the default)")
    override = commands.add_parser("override", help="open an emergency override (admin token)")
    end = commands.add_parser("end-override", help="end the emergency override (admin token)")
    for sub in (parser, check, override, end):
        sub.add_argument("--url", default=argparse.SUPPRESS,
                         help=f"the exporter's base URL (or ${URL_VARIABLE})")
        sub.add_argument("--token", default=argparse.SUPPRESS,
                         help="bearer token (prefer --token-file or the environment)")
        sub.add_argument("--token-file", default=argparse.SUPPRESS,
                         help="file holding the bearer token")
        sub.add_argument("--timeout", type=float, default=argparse.SUPPRESS,
                         help="seconds to wait for the answer (default 10)")
    check.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                       help="print the gate's JSON answer instead of sentences")
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print the gate's JSON answer instead of sentences")
    override.add_argument("--reason", required=True,
                          help="why the deploy cannot wait (logged with the override)")
    override.add_argument("--duration", default="30m", help="how long, e.g. 30m (default 30m)")
    override.add_argument("--by", help="who opens it (logged)")
    return parser


def _token(args: argparse.Namespace, command: str) -> str:
    if getattr(args, "token", None):
        return str(args.token).strip()
    if getattr(args, "token_file", None):
        try:
            return Path(args.token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UsageError(f"cannot read --token-file {args.token_file}: {exc.strerror}") \
                from None
    variable = TOKEN_VARIABLES[command]
    token = os.environ.get(variable, "").strip()
    if not token:
        raise UsageError(f"no token: pass --token-file FILE, set ${variable} or pass --token")
    return token


def _url(args: argparse.Namespace) -> str:
    url = str(getattr(args, "url", None) or os.environ.get(URL_VARIABLE, "")).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"--url (or ${URL_VARIABLE}) must be the exporter's http:// or "
                         f"https:// base URL")
    return url


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an unexpected answer: following it would send the token elsewhere."""

    def redirect_request(self, *_: Any, **__: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def _ask(method: str, url: str, token: str, timeout: float, body: Any = None) -> Answer:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Accept": "application/json",
        **({"Content-Type": "application/json"} if data is not None else {})})
    try:
        with _OPENER.open(request, timeout=timeout) as answer:
            status, raw = answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (OSError, ValueError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise NoAnswer(f"the exporter at {url} could not be reached ({reason})") from None
    if 300 <= status < 400:
        raise NoAnswer(f"the exporter answered with a redirect (HTTP {status}), which is not "
                       f"followed with the token; pass the exporter's own URL")
    try:
        return Answer(status, json.loads(raw))
    except ValueError:
        raise NoAnswer(f"the exporter answered HTTP {status} with a body that is not JSON") \
            from None


def _error_text(answer: Answer) -> str:
    if isinstance(answer.body, dict) and isinstance(answer.body.get("error"), str):
        return str(answer.body["error"])
    return "no reason given"


def _gate_answer(answer: Answer) -> tuple[bool, list[str]]:
    """(allowed, reasons) from a well-formed gate answer; NoAnswer for anything else."""
    body = answer.body
    expected = {200: True, 423: False}.get(answer.status)
    if expected is None:
        raise NoAnswer(f"the exporter answered HTTP {answer.status}: {_error_text(answer)}")
    if (not isinstance(body, dict) or body.get("allowed") is not expected
            or not isinstance(body.get("reasons"), list)
            or not all(isinstance(r, str) for r in body["reasons"])
            or (not expected and not body["reasons"])):
        raise NoAnswer(f"the exporter's HTTP {answer.status} answer is not a deploy-gate answer")
    return expected, list(body["reasons"])


def _print_check(answer: Answer, allowed: bool, reasons: list[str]) -> None:
    body = answer.body
    if allowed and isinstance(body.get("override"), dict) and body["override"].get(
            "overridden_reasons"):
        print("Deploy allowed by an emergency override.")
    elif allowed:
        print("Deploy allowed: no blocking condition found.")
    else:
        print("Deploy BLOCKED:")
        for reason in reasons:
            print(f"  - {reason}")
        if isinstance(body.get("retry_after"), int):
            print(f"Blocked {_when(body)} at the earliest; ask again then.")
    override = body.get("override")
    if isinstance(override, dict):
        print(f"Emergency override open {_expires(override.get('expires_at'))} "
              f"(by {override.get('by') or 'an admin'}): {override.get('reason')}")
        for reason in override.get("overridden_reasons") or []:
            print(f"  - overridden: {reason}")
    missing = body.get("not_monitored")
    if isinstance(missing, list) and missing:
        names = ", ".join(str(name) for name in missing)
        print(f"Not monitored: {names} (essential, but no target is configured, so this gate "
              f"cannot see {'it' if len(missing) == 1 else 'them'}).")
    for warning in body.get("warnings") or []:
        print(f"Warning: {warning}")


def _expires(expires_at: Any) -> str:
    """"until 14:30 UTC, in 20 min" from the override's ISO time (as given if unreadable)."""
    try:
        moment = datetime.fromisoformat(str(expires_at).replace("Z", "+00:00"))
    except ValueError:
        return f"until {expires_at}"
    return until_text(moment.astimezone(UTC), datetime.now(UTC), "UTC")


def _when(body: dict[str, Any]) -> str:
    """"until 00:00 Europe/London, in 20 h 12 min" (or "for 1 min" without retry_at)."""
    seconds = int(body["retry_after"])
    try:
        moment = datetime.fromisoformat(str(body["retry_at"]))
        zone = str(body["timezone"])
    except (KeyError, ValueError):
        return f"for {duration_text(seconds)}"
    return until_text(moment, moment - timedelta(seconds=seconds), zone)


def check(args: argparse.Namespace) -> int:
    """Ask the gate; 0 allowed, 1 blocked, 3 no usable answer."""
    answer = _ask("GET", f"{_url(args)}{PATH}", _token(args, "check"), args.timeout)
    allowed, reasons = _gate_answer(answer)
    if getattr(args, "json", False):
        print(json.dumps(answer.body, indent=2))
    else:
        _print_check(answer, allowed, reasons)
    return ALLOWED if allowed else BLOCKED


def override(args: argparse.Namespace) -> int:
    """Open an emergency override; 0 opened, 1 refused, 3 no usable answer."""
    body = {"reason": args.reason, "duration": args.duration,
            **({"by": args.by} if args.by else {})}
    answer = _ask("POST", f"{_url(args)}{PATH}/override", _token(args, "override"),
                  args.timeout, body)
    return _report(answer, 201, "Override opened")


def end_override(args: argparse.Namespace) -> int:
    """End the emergency override; 0 ended (or none was open), 1 refused, 3 no answer."""
    answer = _ask("DELETE", f"{_url(args)}{PATH}/override", _token(args, "end-override"),
                  args.timeout)
    if answer.status == 200 and isinstance(answer.body, dict) and not answer.body.get("ended"):
        print("No override was open.")
        return DONE
    return _report(answer, 200, "Override ended")


def _report(answer: Answer, success: int, done: str) -> int:
    if answer.status == success and isinstance(answer.body, dict):
        override = answer.body.get("override") or {}
        until = f" ({_expires(override.get('expires_at'))})" if success == 201 else ""
        print(f"{done}: {override.get('reason')}{until}.")
        return DONE
    if 400 <= answer.status < 500:
        print(f"{PROG}: refused (HTTP {answer.status}): {_error_text(answer)}", file=sys.stderr)
        return REFUSED
    raise NoAnswer(f"the exporter answered HTTP {answer.status}: {_error_text(answer)}")


RUNNERS = {"check": check, "override": override, "end-override": end_override}


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 for --help
        return int(exc.code or 0)
    command = args.command or "check"
    args.timeout = getattr(args, "timeout", 10.0)
    try:
        return RUNNERS[command](args)
    except UsageError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return USAGE
    except NoAnswer as exc:
        print(f"{PROG}: no usable answer, so do not deploy: {exc}", file=sys.stderr)
        return NO_ANSWER
