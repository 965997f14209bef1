"""The ``wedsync-exporter`` command: run the exporter, or check a configuration file."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Coroutine
from typing import Any

from exporter import __version__
from exporter.components import REGISTRY
from exporter.config import ConfigError, load_config


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wedsync-exporter",
        description="Probe the WedSync platform's dependencies and serve the results to "
                    "Prometheus. Subcommand: check-config FILE.",
    )
    parser.add_argument("--config", required=True, help="configuration file (YAML)")
    parser.add_argument("--listen", help="HOST:PORT to serve on (overrides the config)")
    parser.add_argument("--version", action="version", version=__version__)
    return parser


def check_config(argv: list[str]) -> int:
    """``check-config FILE``: validate and say so; exit 1 with the reason if invalid."""
    parser = argparse.ArgumentParser(prog="wedsync-exporter check-config",
                                     description="Validate a configuration file and exit.")
    parser.add_argument("file")
    parser.add_argument("--connect", action="store_true",
                        help="also check every query's result columns against its database")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.file)
        # Construct every pool, probe and job as a start or reload would (no network): what
        # passes here also builds there.
        from exporter import features
        from exporter.build import check_buildable_now
        from exporter.ingestion.recorder import Ingestion
        from exporter.metrics.store import MetricStore

        check_buildable_now(config, job_factories=features.job_factories(
            Ingestion(MetricStore())))
    except ConfigError as exc:
        print(f"wedsync-exporter: {exc}", file=sys.stderr)
        return 1
    components = ", ".join(f"{c.name}={len(config.targets(c.name))}" for c in REGISTRY)
    if args.connect:
        from exporter.queries.describe import describe_queries

        problems, notes = asyncio.run(describe_queries(config))
        for line in notes:
            print(line)
        if problems:
            for line in problems:
                print(f"wedsync-exporter: {line}", file=sys.stderr)
            return 1
    print(f"{args.file}: configuration is valid ({components})")
    return 0


def run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` on uvloop where it is installed (it cuts the CPU each scrape costs by
    about a fifth — serving bytes is the exporter's hot path), else on asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["check-config"]:
        return check_config(argv[1:])
    args = _parser().parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"wedsync-exporter: {exc}", file=sys.stderr)
        return 1
    if args.listen and (":" not in args.listen or not args.listen.rsplit(":", 1)[1].isdigit()):
        print(f"wedsync-exporter: --listen {args.listen!r} is not HOST:PORT", file=sys.stderr)
        return 1

    from exporter.logs import configure
    from exporter.service import Service

    configure(config.log_level, config.log_format, config.secrets)
    service = Service(config, listen=args.listen)
    try:
        run_event_loop(service.run_forever())
    except ConfigError as exc:
        print(f"wedsync-exporter: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"wedsync-exporter: cannot serve on {service.listen}: {exc.strerror}",
              file=sys.stderr)
        return 1
    return 0
