"""The ``wedsync-drill`` command (``python -m drill``).

    wedsync-drill run [--fault NAME] [--at 10s] [--fault-duration 20s] [--duration 60s] …
    wedsync-drill alertmanager-config --webhook-url URL [--replace] [--config FILE]

``run`` without ``--prometheus-url`` starts a stack of its own (exporter, Prometheus,
Alertmanager, a webhook receiver, the sandbox, a throwaway PostgreSQL and Redis) and stops it
afterwards; with ``--prometheus-url`` it drills a running stack (the harness, compose,
staging). Exit codes: 0 READY, 1 NOT READY, 2 wrong usage or a stack the drill cannot use.
"""

from __future__ import annotations

import argparse
import os
import sys

import yaml

from alerts import durations
from drill.alertmanager_config import teed_config
from drill.apis import APIError
from drill.faults import FAULTS, OWN_POSTGRES, OWN_REDIS, fault_named, parse_params
from drill.notifications import NotificationSource, ReceiverSource, RemoteSource, listening_receiver
from drill.own_stack import OwnStack
from drill.run import DrillError, Plan, expecting, run_drill
from drill.target import ATTACHED, Target
from drill.timing import PRODUCTION, TIMINGS, Timing
from harness.stack import ALERTMANAGER_CONFIG, StackOptions, alertmanager_config
from loadtests.cli import absolute_path
from loadtests.model import load_model
from loadtests.runner import missing_secrets, realtime_url_for

PROG = "wedsync-drill"
READY_CODE, NOT_READY_CODE, USAGE = 0, 1, 2
# (at, fault duration, load duration, resolve timeout) in seconds, per timing profile.
SCHEDULES = {"fast": (10.0, 20.0, 60.0, 120.0), "production": (120.0, 300.0, 900.0, 900.0)}


class UsageError(ValueError):
    """Wrong usage; the message says what to change."""


def seconds(text: str) -> float:
    """``90``, ``90s``, ``1m30s`` → seconds (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        try:
            value = durations.seconds(text)
        except (ValueError, TypeError):
            raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 30s or 2m"
                                             ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative")
    return value


def _run_parser(commands: argparse._SubParsersAction) -> None:
    go = commands.add_parser(
        "run", help="rehearse a wedding day: load, a fault, the pager; write the report",
        description="Run a k6 profile against the target, inject the fault at the given time, "
                    "watch Prometheus and Alertmanager, and write report.json and report.html "
                    "(READY or NOT READY). See docs/drill.md.")
    what = go.add_argument_group("the drill")
    what.add_argument("--fault", default="none", choices=sorted(FAULTS),
                      help="what to break (default none)")
    what.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                      help="a fault parameter: rate=0.05 (api-errors), delay_ms=250 "
                           "(realtime-slow)")
    what.add_argument("--at", type=seconds, help="inject this long after the load starts "
                                                 "(default 10s fast, 2m otherwise)")
    what.add_argument("--fault-duration", type=seconds,
                      help="how long the fault lasts (default 20s fast, 5m otherwise)")
    what.add_argument("--profile", default="smoke", choices=sorted(load_model().profiles),
                      help="k6 profile (default smoke)")
    what.add_argument("--duration", type=seconds,
                      help="the profile's main stage (default 60s fast, 15m otherwise)")
    what.add_argument("--rate", type=int, help="k6 HTTP-mix iterations a minute")
    what.add_argument("--realtime-rate", type=int, help="k6 Realtime sessions a minute")
    what.add_argument("--resolve-timeout", type=seconds,
                      help="how long to wait after the load for the all-clear "
                           "(default 2m fast, 15m otherwise)")
    what.add_argument("--tolerance", type=seconds, default=10.0,
                      help="lateness allowed beyond the promised time to page (default 10s)")
    what.add_argument("--out", type=absolute_path, default="reports",
                      help="directory for the drill's directory (default reports/)")
    what.add_argument("--drill-id", help="name of the drill (default drill-FAULT-TIME-RANDOM)")

    own = go.add_argument_group("a stack of the drill's own (when --prometheus-url is absent)")
    own.add_argument("--timing", choices=sorted(TIMINGS), default="fast",
                     help="fast (about 1 s intervals, for: x0.03) or production (the shipped "
                          "settings)")
    own.add_argument("--ha", action="store_true",
                     help="the high-availability stack (two exporters, two Prometheus, three "
                          "clustered Alertmanagers): during the fault the drill also kills one "
                          "of each, and the verdict requires one page, its resolution and the "
                          "Watchdog uninterrupted")
    own.add_argument("--weddings-today", type=int, default=40,
                     help="weddings dated today in the drill's database; 0 rehearses an "
                          "ordinary day unless it is Saturday (default 40)")

    attached = go.add_argument_group("a running stack (harness, compose, staging)")
    attached.add_argument("--prometheus-url", help="drill this stack's Prometheus")
    attached.add_argument("--alertmanager-url")
    attached.add_argument("--exporter-url")
    attached.add_argument("--base-url", help="the API the load goes to")
    attached.add_argument("--realtime-url", help="Realtime (default beside --base-url)")
    attached.add_argument("--sandbox-url", help="the sandbox, if the target is one (its "
                                                "fault controls break it)")
    source = attached.add_mutually_exclusive_group()
    source.add_argument("--notifications-url",
                        help="a recording receiver's GET /notifications (wedsync-stack's "
                             "webhook)")
    source.add_argument("--webhook-listen", metavar="HOST:PORT",
                        help="listen for Alertmanager's notifications here (see "
                             "alertmanager-config)")
    attached.add_argument("--pager-receiver", default="pager",
                          help="the receiver that pages (default pager)")
    attached.add_argument("--exporter-job", default="wedsync-exporter")
    attached.add_argument("--probe-interval", type=seconds, default=PRODUCTION.probe_interval)
    attached.add_argument("--probe-timeout", type=seconds, default=PRODUCTION.probe_timeout)
    attached.add_argument("--scrape-interval", type=seconds,
                          default=PRODUCTION.scrape_interval)
    attached.add_argument("--evaluation-interval", type=seconds,
                          default=PRODUCTION.evaluation_interval)
    attached.add_argument("--group-wait", type=seconds,
                          help="the pager route's group_wait (default: the committed routes', "
                               "5s for critical alerts, 15s for burn-rate pages)")
    attached.add_argument("--report-interval", type=seconds, default=PRODUCTION.report_interval,
                          help="how often the API posts its timings (default 5s)")
    attached.add_argument("--inject-command", help="with --fault command: breaks the target")
    attached.add_argument("--recover-command", help="with --fault command: mends it")
    attached.add_argument("--expect-alert", action="append", default=[],
                          metavar='NAME[{label="value"}]',
                          help="with --fault command: an alert that should detect it")


def _config_parser(commands: argparse._SubParsersAction) -> None:
    config = commands.add_parser(
        "alertmanager-config",
        help="print an Alertmanager config that also sends every notification to the drill",
        description="Print prometheus/alertmanager.yml (or --config) with a webhook to the "
                    "drill's receiver added to every receiver (<url>/<receiver name>), so a "
                    "drill against compose or staging sees exactly what each receiver was "
                    "sent. --replace sends to the drill only (no real page).")
    config.add_argument("--webhook-url", required=True,
                        help="where the drill listens, as Alertmanager reaches it, e.g. "
                             "http://drill-host:9099")
    config.add_argument("--config", type=absolute_path, default=ALERTMANAGER_CONFIG)
    config.add_argument("--replace", action="store_true",
                        help="replace the receivers instead of adding the webhook")


def parser() -> argparse.ArgumentParser:
    """The command line."""
    main = argparse.ArgumentParser(prog=PROG, description="The WedSync wedding-day drill.")
    commands = main.add_subparsers(dest="command", required=True)
    _run_parser(commands)
    _config_parser(commands)
    return main


def _plan(args: argparse.Namespace, timing_name: str) -> Plan:
    at, fault_duration, load_duration, resolve = SCHEDULES[timing_name]
    fault = expecting(fault_named(args.fault), args.expect_alert)
    if args.fault != "command" and (args.inject_command or args.expect_alert):
        raise UsageError("--inject-command and --expect-alert go with --fault command")
    plan = Plan(fault=fault, params=parse_params(fault, args.param),
                at=at if args.at is None else args.at,
                fault_duration=fault_duration if args.fault_duration is None
                else args.fault_duration,
                profile=args.profile,
                load_duration=load_duration if args.duration is None else args.duration,
                rate=args.rate, realtime_rate=args.realtime_rate,
                resolve_timeout=resolve if args.resolve_timeout is None
                else args.resolve_timeout,
                tolerance=args.tolerance, inject_command=args.inject_command,
                recover_command=args.recover_command, exporter_job=args.exporter_job,
                out=args.out, drill_id=args.drill_id or "")
    if plan.fault.name != "none" and plan.at + plan.fault_duration > plan.load_duration:
        raise UsageError(f"the fault ({plan.at:g} s + {plan.fault_duration:g} s) must end "
                         f"within the load ({plan.load_duration:g} s): raise --duration")
    return plan


def _attached_target(args: argparse.Namespace) -> tuple[Target, object | None]:
    if not args.base_url:
        raise UsageError("--base-url is needed with --prometheus-url: where the load goes")
    missing = missing_secrets(os.environ)
    if missing:
        raise UsageError(f"set {' and '.join(missing)} in the environment (never on the "
                         f"command line) for the load test; see docs/loadtests.md")
    receiver = None
    notifications: NotificationSource
    if args.webhook_listen:
        receiver = listening_receiver(args.webhook_listen)
        notifications = ReceiverSource(receiver)
    elif args.notifications_url:
        notifications = RemoteSource(args.notifications_url)
    else:
        raise UsageError("give --notifications-url (a wedsync-stack) or --webhook-listen "
                         "(compose, staging): the drill must see what Alertmanager sent")
    timing = Timing("attached", probe_interval=args.probe_interval,
                    probe_timeout=args.probe_timeout, scrape_interval=args.scrape_interval,
                    evaluation_interval=args.evaluation_interval, for_scale=1.0,
                    group_wait=args.group_wait, group_interval=None, repeat_interval=None,
                    report_interval=args.report_interval)
    target = Target(mode=ATTACHED, prometheus_url=args.prometheus_url,
                    alertmanager_url=args.alertmanager_url, exporter_url=args.exporter_url,
                    base_url=args.base_url.rstrip("/"),
                    realtime_url=args.realtime_url or realtime_url_for(args.base_url),
                    notifications=notifications, timing=timing, sandbox_url=args.sandbox_url,
                    k6_environment={name: os.environ[name] for name in ("ANON_KEY",
                                                                        "API_TOKEN")},
                    pager_receiver=args.pager_receiver)
    return target, receiver


def _run(args: argparse.Namespace) -> int:
    if args.prometheus_url:
        if args.ha:
            raise UsageError("--ha starts an HA stack of the drill's own; it cannot be combined "
                             "with --prometheus-url")
        plan = _plan(args, "production")
        if plan.fault.acts_on in (OWN_REDIS, OWN_POSTGRES):
            raise UsageError(f"{plan.fault.name}: the drill stops or pauses only servers it "
                             "started itself; against a running stack, break them with "
                             "--fault command --inject-command …")
        target, receiver = _attached_target(args)
        try:
            outcome = run_drill(target, plan)
        finally:
            if receiver is not None:
                receiver.stop()  # type: ignore[attr-defined]
    else:
        plan = _plan(args, args.timing)
        own = OwnStack(TIMINGS[args.timing], args.weddings_today, ha=args.ha)
        print(f"{PROG}: starting a{'n HA' if args.ha else ''} stack of its own "
              f"({args.timing} intervals)", flush=True)
        try:
            target = own.start()
        except (RuntimeError, TimeoutError, OSError) as error:
            print(f"{PROG}: could not start the stack: {error}", file=sys.stderr)
            return USAGE
        try:
            print(own.describe(), flush=True)
            outcome = run_drill(target, plan)
        finally:
            own.stop()
    print(f"report: {outcome.html_path}\n        {outcome.json_path}")
    return READY_CODE if outcome.ready else NOT_READY_CODE


def _alertmanager_config(args: argparse.Namespace) -> int:
    url = args.webhook_url.rstrip("/")
    if args.replace:
        config = alertmanager_config(StackOptions(), url)
        if args.config != ALERTMANAGER_CONFIG:
            raise UsageError("--replace works on the committed prometheus/alertmanager.yml")
    else:
        try:
            source = yaml.safe_load(args.config.read_text())
        except OSError as error:
            raise UsageError(f"cannot read {args.config}: {error.strerror}") from None
        config = teed_config(source, url)
    sys.stdout.write(yaml.safe_dump(config, sort_keys=False))
    return READY_CODE


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parser().parse_args(argv)
    commands = {"run": _run, "alertmanager-config": _alertmanager_config}
    try:
        return commands[args.command](args)
    except (UsageError, DrillError, APIError, ValueError) as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return USAGE
