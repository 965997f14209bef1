"""``python -m alerts build [--out DIR] [--for-scale F] [--overrides FILE]`` and ``python -m
alerts check``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from alerts import build, reference
from alerts.overrides import ENVIRONMENT, OverridesError, from_environment, load


def main(argv: list[str] | None = None) -> int:
    """Run the command; the exit code."""
    parser = argparse.ArgumentParser(prog="python -m alerts",
                                     description="Generate the Prometheus rule files.")
    commands = parser.add_subparsers(dest="command", required=True)
    build_cmd = commands.add_parser(
        "build", help="write prometheus/rules/*.yml and the generated parts of docs/alerts.md")
    build_cmd.add_argument("--out", type=Path, default=build.RULES_DIR,
                           help="directory to write into (default: prometheus/rules)")
    build_cmd.add_argument("--for-scale", type=float, default=1.0,
                           help="multiply every for: and keep_firing_for: (fast test stacks)")
    build_cmd.add_argument("--overrides", type=Path,
                           help="YAML or JSON file of your runbook base URL, thresholds and "
                                f"for: (default: the file ${ENVIRONMENT} names, if set)")
    commands.add_parser("check", help="exit 1 if prometheus/rules or the generated parts of "
                                      "docs/alerts.md differ from the code")
    args = parser.parse_args(argv)
    if args.command == "build":
        if args.for_scale <= 0:
            parser.error("--for-scale must be greater than 0")
        if args.for_scale != 1.0 and args.out.resolve() == build.RULES_DIR.resolve():
            parser.error("scaled rules are for test stacks: write them elsewhere with --out")
        try:
            overrides = load(args.overrides) if args.overrides else from_environment()
            if overrides.alerts or overrides.runbook_base_url:
                if args.out.resolve() == build.RULES_DIR.resolve():
                    parser.error("prometheus/rules holds the shipped rules; write rules with "
                                 "your overrides elsewhere with --out and point Prometheus "
                                 "there")
                print(f"applying overrides from {args.overrides or 'the file $' + ENVIRONMENT}",
                      file=sys.stderr)
            paths = build.write(args.out, args.for_scale, overrides)
        except OverridesError as exc:
            print(f"python -m alerts: {exc}", file=sys.stderr)
            return 1
        for path in paths:
            print(path)
        # The docs describe the committed rules, not a scaled or overridden copy.
        if args.out == build.RULES_DIR and args.for_scale == 1.0:
            print(reference.write())
        return 0
    stale = build.differences()
    if reference.stale():
        stale.append(str(reference.DOC.relative_to(build.REPO)))
    if stale:
        print("out of date (run `python -m alerts build`): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0
