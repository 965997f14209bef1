"""``python -m dashboards build [--out DIR]`` and ``python -m dashboards check``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dashboards import build


def main(argv: list[str] | None = None) -> int:
    """Run the command; the exit code."""
    parser = argparse.ArgumentParser(prog="python -m dashboards",
                                     description="Generate the Grafana dashboards.")
    commands = parser.add_subparsers(dest="command", required=True)
    build_cmd = commands.add_parser("build", help="write grafana/dashboards/*.json")
    build_cmd.add_argument("--out", type=Path, default=build.DASHBOARDS_DIR,
                           help="directory to write into (default: grafana/dashboards)")
    commands.add_parser("check", help="exit 1 if grafana/dashboards differs from the code")
    args = parser.parse_args(argv)
    if args.command == "build":
        for path in build.write(args.out):
            print(path)
        return 0
    stale = build.differences()
    if stale:
        print("out of date (run `python -m dashboards build`): " + ", ".join(stale),
              file=sys.stderr)
        return 1
    return 0
