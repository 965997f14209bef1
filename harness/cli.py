"""``wedsync-stack up``: the whole stack on this machine until Ctrl-C (``python -m harness``)."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import yaml

from harness.ha_stack import HAOptions, HAStack
from harness.stack import ScrapeTarget, Stack, StackOptions


def sandbox_plugin() -> Any:
    """The sandbox's stack plugin (``harness.sandbox_platform.stack_plugin()``), with a
    PgBouncer and demo queues in front of the PostgreSQL and Redis it starts, if it starts its
    own (``harness.pooler_and_queues.WithPoolerAndQueues``)."""
    from harness.pooler_and_queues import WithPoolerAndQueues

    return WithPoolerAndQueues(_stack_plugin())


def _stack_plugin() -> Any:
    try:
        module = importlib.import_module("harness.sandbox_platform")
    except ModuleNotFoundError:
        raise SystemExit("--sandbox: this checkout has no sandbox "
                         "(harness/sandbox_platform.py)") from None
    factory = getattr(module, "stack_plugin", None)
    if factory is None:
        raise SystemExit("--sandbox: harness/sandbox_platform.py has no stack_plugin() for "
                         "the stack")
    return factory()


def parser() -> argparse.ArgumentParser:
    """The command line."""
    main = argparse.ArgumentParser(
        prog="wedsync-stack", description="Run the WedSync monitoring stack on this machine.")
    commands = main.add_subparsers(dest="command", required=True)
    up = commands.add_parser(
        "up", help="start exporter, Prometheus, Alertmanager and a webhook receiver",
        description="Start the stack on free loopback ports with temporary storage, print "
                    "where each part listens, and stop everything on Ctrl-C or SIGTERM.")
    up.add_argument("--config", type=Path,
                    help="exporter config file (default: exporter/example.yaml)")
    up.add_argument("--scrape-interval", default="15s", help="default: 15s")
    up.add_argument("--evaluation-interval", default="15s", help="default: 15s")
    up.add_argument("--for-scale", type=float, default=1.0,
                    help="multiply every for: and keep_firing_for: (e.g. 0.05 for drills)")
    up.add_argument("--group-wait", help="replace group_wait of every route")
    up.add_argument("--group-interval", help="replace group_interval of every route")
    up.add_argument("--repeat-interval", help="replace repeat_interval of every route")
    up.add_argument("--retention", default="35d", help="Prometheus retention (default: 35d)")
    up.add_argument("--target", action="append", default=[], metavar="JOB=HOST:PORT[/path]",
                    help="an extra scrape target (repeatable)")
    up.add_argument("--no-webhook", action="store_true",
                    help="keep the real receivers (PagerDuty, Slack) instead of the recorder")
    up.add_argument("--sandbox", action="store_true",
                    help="also start a stand-in platform of the stack's own (PostgreSQL, Redis "
                         "and the sandbox's Auth, Realtime and API) and probe it")
    up.add_argument("--node-exporter", action="store_true",
                    help="also start node_exporter (Debian's prometheus-node-exporter) on a free "
                         "loopback port as job node: this machine's CPU, memory, disk and "
                         "network for the host alerts and the Capacity dashboard")
    up.add_argument("--tokens-file", type=Path,
                    help="write the exporter's generated tokens here, readable only by you "
                         "(default: tokens.env in the stack's temporary directory); removed "
                         "when the stack stops")
    up.add_argument("--ha", action="store_true",
                    help="the high-availability shape: two exporter replicas sharing state "
                         "through a Redis of their own, two Prometheus (replica a and b) and "
                         "three Alertmanagers clustered over loopback (docs/scaling.md)")
    up.add_argument("--peer-timeout", default="15s",
                    help="with --ha: Alertmanager's --cluster.peer-timeout (default: 15s)")
    for name in ("exporter", "prometheus", "alertmanager", "webhook"):
        up.add_argument(f"--{name}-port", type=int, help=f"fixed port for the {name}")
    return main


def options_from(args: argparse.Namespace) -> StackOptions:
    """StackOptions from parsed arguments."""
    exporter_config = None
    if args.config is not None:
        exporter_config = yaml.safe_load(args.config.read_text())
    try:
        targets = [ScrapeTarget.parse(text) for text in args.target]
    except ValueError as error:
        raise SystemExit(f"--target: {error}") from None
    if args.for_scale <= 0:
        raise SystemExit("--for-scale must be greater than 0")
    return StackOptions(
        exporter_config=exporter_config, scrape_interval=args.scrape_interval,
        evaluation_interval=args.evaluation_interval, for_scale=args.for_scale,
        group_wait=args.group_wait, group_interval=args.group_interval,
        repeat_interval=args.repeat_interval, retention=args.retention,
        extra_targets=targets, webhook=not args.no_webhook,
        sandbox=sandbox_plugin() if args.sandbox else None,
        node_exporter=args.node_exporter,
        exporter_port=args.exporter_port, prometheus_port=args.prometheus_port,
        alertmanager_port=args.alertmanager_port, webhook_port=args.webhook_port,
        tokens_file=args.tokens_file.resolve() if args.tokens_file else None,
        progress=progress)


def progress(line: str) -> None:
    """One line of what the stack is doing while it starts."""
    print(f"... {line}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run ``up`` until Ctrl-C or SIGTERM; the exit code."""
    args = parser().parse_args(argv)
    options = options_from(args)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stack = (HAStack(options, HAOptions(peer_timeout=args.peer_timeout)) if args.ha
             else Stack(options))
    try:
        progress("starting the stack (about a minute)")
        stack.start()
    except (RuntimeError, TimeoutError, OSError) as error:
        print(f"wedsync-stack: could not start the stack: {error}", file=sys.stderr)
        return 1
    try:
        print(stack.describe(), flush=True)
        print("running; Ctrl-C stops everything", flush=True)
        stop.wait()
    finally:
        stack.stop()
        print("stopped", flush=True)
    return 0
