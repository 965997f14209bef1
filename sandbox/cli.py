"""The ``wedsync-sandbox`` command (``python -m sandbox``): serve the stand-ins on one port."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import signal
import sys

from sandbox import STAND_IN_NOTICE
from sandbox.server import Sandbox
from sandbox.settings import (
    ENV_ANON_KEY,
    ENV_DATABASE_URL,
    ENV_INGEST_TOKEN,
    ENV_JWT_SECRET,
    ENV_PROBE_EMAIL,
    ENV_PROBE_PASSWORD,
    ENV_TIMINGS_INTERVAL,
    ENV_TIMINGS_URL,
    Settings,
    interval_seconds,
)
from sandbox.timings import public_url

BANNER = """\
================================================================================
  {notice}
  Serving on http://{host}:{port}
    Auth (GoTrue)     http://{host}:{port}/auth/v1      (apikey header required)
    Realtime          ws://{host}:{port}/realtime/v1/websocket?apikey=…&vsn=1.0.0 (or 2.0.0)
                      behaves like Realtime v{realtime_version}{tenant}
    WedSync API       http://{host}:{port}/api/health
    Fault control     http://{host}:{port}/_sandbox/faults   (no authentication: loopback only)
  Secrets come from {anon}, {email}, {password}, {jwt}; audit log from {db}.
{keys}  API request timings: {timings}
================================================================================"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wedsync-sandbox",
        description=STAND_IN_NOTICE + " Secrets come from environment variables only.")
    parser.add_argument("--listen", default="127.0.0.1:54321",
                        help="HOST:PORT to serve on (default 127.0.0.1:54321; port 0 picks one)")
    parser.add_argument("--report-timings", metavar="URL",
                        help=f"post the API's request timings to the exporter's ingestion "
                             f"endpoint, e.g. http://127.0.0.1:9847/api/system/metrics "
                             f"(default ${ENV_TIMINGS_URL}; off when neither is set); the "
                             f"ingest token comes from ${ENV_INGEST_TOKEN} only")
    parser.add_argument("--report-interval", metavar="SECONDS",
                        help=f"seconds between posts (default ${ENV_TIMINGS_INTERVAL} or 5)")
    return parser


def _keys_note(settings: Settings) -> str:
    """The generated API keys (public by design, like a project's anon key), for local use;
    keys that came from the environment are not repeated."""
    if os.environ.get(ENV_ANON_KEY):
        return ""
    return (f"  Anon key (generated, a JWT with role anon; public like Supabase's):\n"
            f"    {settings.anon_key}\n"
            f"  Publishable key: {settings.publishable_key}\n")


def _timings_note(settings: Settings) -> str:
    if not settings.timings_url:
        return f"not reported (set {ENV_TIMINGS_URL} or --report-timings)"
    token = "with" if settings.ingest_token else f"WITHOUT a token (set {ENV_INGEST_TOKEN})"
    return (f"posted to {public_url(settings.timings_url)} every "
            f"{settings.timings_interval:g} s, {token} the ingest token")


async def _serve(settings: Settings, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with Sandbox(settings, host, port) as box:
        print(BANNER.format(notice=STAND_IN_NOTICE, host=host, port=box.port, anon=ENV_ANON_KEY,
                            email=ENV_PROBE_EMAIL, password=ENV_PROBE_PASSWORD,
                            jwt=ENV_JWT_SECRET, db=ENV_DATABASE_URL,
                            realtime_version=settings.realtime_version,
                            tenant=(f", tenant {settings.realtime_tenant!r} from the Host name"
                                    if settings.realtime_tenant else ""),
                            keys=_keys_note(settings), timings=_timings_note(settings)),
              file=sys.stderr, flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = _parser().parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit():
        print(f"wedsync-sandbox: --listen {args.listen!r} is not HOST:PORT", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="level=%(levelname)s msg=%(message)r")
    try:
        settings = Settings.from_env()
        if args.report_timings is not None:
            settings = dataclasses.replace(settings, timings_url=args.report_timings)
        if args.report_interval is not None:
            settings = dataclasses.replace(settings, timings_interval=interval_seconds(
                args.report_interval, "--report-interval"))
    except ValueError as exc:
        print(f"wedsync-sandbox: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(settings, host.strip("[]"), int(port)))
    except OSError as exc:
        print(f"wedsync-sandbox: cannot serve on {args.listen}: {exc.strerror}", file=sys.stderr)
        return 1
    return 0
