"""``python -m alerts build [--out DIR] [--for-scale F]`` and ``python -m alerts check``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from alerts import build


def main(argv: list[str] | None = None) -> int:
    """Run the command; the exit code."""
    parser = argparse.ArgumentParser(prog="python -m alerts",
                                     description="Generate the Prometheus rule files.")
    commands = parser.add_subparsers(dest="command", required=True)
    build_cmd = commands.add_parser("build", help="write prometheus/rules/*.yml")
    build_cmd.add_argument("--out", type=Path, default=build.RULES_DIR,
                           help="directory to write into (default: prometheus/rules)")
    build_cmd.add_argument("--for-scale", type=float, default=1.0,
                           help="multiply every for: and keep_firing_for: (fast test stacks)")
    commands.add_parser("check", help="exit 1 if prometheus/rules differs from the code")
    args = parser.parse_args(argv)
    if args.command == "build":
        if args.for_scale <= 0:
            parser.error("--for-scale must be greater than 0")
        for path in build.write(args.out, args.for_scale):
            print(path)
        return 0
    stale = build.differences()
    if stale:
        print("out of date (run `python -m alerts build`): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0
