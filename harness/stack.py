"""The whole stack on one machine: exporter, Prometheus, Alertmanager, a recording webhook, and
optionally the sandbox — from local binaries, with the repo's own configs, on free loopback ports
with temporary storage.

Use it from Python (tests, dashboards, drills)::

    from harness.stack import Stack, StackOptions, ScrapeTarget

    options = StackOptions(
        exporter_config=my_config,            # a dict; default: exporter/example.yaml
        scrape_interval="1s", evaluation_interval="1s",
        for_scale=0.02,                       # every for:/keep_firing_for: x0.02 (5m -> 6s)
        group_wait="1s", group_interval="1s", repeat_interval="1h",
        extra_targets=[ScrapeTarget("node", "127.0.0.1:9100")],
    )
    with Stack(options) as stack:             # returns once alerts flow end to end
        print(stack.describe())               # where each part listens, and its logs
        stack.prometheus.query("up")          # harness.prometheus.PrometheusServer
        stack.firing("WedSyncRedisDown")      # what Prometheus has firing now
        note = stack.webhook.wait_for(60, alertname="WedSyncRedisDown", status="firing")
    # everything is stopped (by PID) and its temporary files removed here

or from a shell: ``wedsync-stack up`` (``python -m harness up --help``), which prints the same
description and stops everything on Ctrl-C or SIGTERM.

What it does with the repo's configs:

- rules: ``alerts.build`` writes ``prometheus/rules/*.yml`` again into a temporary directory,
  with ``for:`` and ``keep_firing_for:`` multiplied by ``for_scale`` (windows inside
  expressions stay as they are). They are loaded once Prometheus has scraped the exporter, so
  that start-up is not mistaken for an outage. With the webhook, ``start()`` returns once the
  Watchdog's notification has arrived, i.e. when the whole alerting pipeline works;
- ``prometheus/prometheus.yml``: the scrape and evaluation intervals are replaced, the targets
  of jobs ``wedsync-exporter``, ``prometheus`` and ``alertmanager`` (and ``node``, with
  ``node_exporter=True``: Debian's ``prometheus-node-exporter``, watching this machine) point at
  the processes started here, an ``extra_targets`` entry with the name of another job of the
  file takes that job's place, other jobs of the file are left out (``supabase-metrics``
  among them), and the remaining ``extra_targets`` are added as jobs of their own. Prometheus
  keeps
  ``retention`` (35 days by default: the 30-day SLO window stays whole) and accepts remote
  write (k6);
- ``prometheus/alertmanager.yml``: routes, grouping and inhibitions are kept. With
  ``webhook=True`` (default) every receiver (pager, ticket, default, watchdog) is replaced by a
  webhook to the recording receiver at ``<webhook>/<receiver name>``, so tests see who would
  have been told; ``group_wait``/``group_interval``/``repeat_interval`` replace those of every
  route when given.

What the exporter is given: generated admin, ingest and deploy tokens and the stack's own
Alertmanager and Prometheus URLs (the deploy gate asks the one, the status page's uptime history
the other), in its environment (``WEDSYNC_ADMIN_TOKEN``, ``WEDSYNC_INGEST_TOKEN``,
``WEDSYNC_DEPLOY_TOKEN``, ``WEDSYNC_ALERTMANAGER_URL``, ``WEDSYNC_PROMETHEUS_URL``, which
``exporter/example.yaml`` references; a value in ``exporter_env`` wins). The tokens are
written to ``tokens_file`` (default ``<stack dir>/tokens.env``), readable only by the user, and
never printed (``harness.stack_tokens``); the file is removed when the stack stops.

The sandbox is optional and pluggable: pass any object with ``start()``, ``stop()`` and
``exporter_sections()`` (see ``SandboxPlugin``); it starts first, and the sections it returns
(e.g. ``auth``, ``realtime``, ``api`` targets pointing at it) replace those of the exporter's
config. Optional: ``prepare(exporter_url, ingest_token)`` is called before ``start()`` (to post
request timings to the exporter), ``exporter_env()`` adds exporter environment variables and
``describe()`` adds lines to the description. ``wedsync-stack up --sandbox`` takes it from
``harness.sandbox_platform.stack_plugin()``.

``progress`` (a callable taking one line) hears what the stack is doing while it starts.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import yaml

from alerts import build as rule_build
from alerts import durations
from alerts.monitoring import WATCHDOG
from harness.alertmanager import AlertmanagerServer
from harness.binaries import ManagedProcess
from harness.exporter import ExporterProcess
from harness.node_exporter import NodeExporterServer
from harness.ports import free_port
from harness.prometheus import PrometheusServer
from harness.stack_tokens import StackTokens
from harness.webhook import WebhookReceiver

REPO = Path(__file__).resolve().parent.parent
PROMETHEUS_CONFIG = REPO / "prometheus" / "prometheus.yml"
ALERTMANAGER_CONFIG = REPO / "prometheus" / "alertmanager.yml"
EXAMPLE_EXPORTER_CONFIG = REPO / "exporter" / "example.yaml"

ALERTMANAGER_URL_VARIABLE = "WEDSYNC_ALERTMANAGER_URL"
# exporter/example.yaml's prometheus.url (the status page's uptime history).
PROMETHEUS_URL_VARIABLE = "WEDSYNC_PROMETHEUS_URL"

EXPORTER_JOB = "wedsync-exporter"
PROMETHEUS_JOB = "prometheus"
ALERTMANAGER_JOB = "alertmanager"
NODE_JOB = "node"


@runtime_checkable
class SandboxPlugin(Protocol):
    """What the stack needs of the sandbox (or any service started before the exporter)."""

    def start(self) -> object:
        """Start serving (return when ready)."""
        ...

    def stop(self) -> None:
        """Stop and clean up."""
        ...

    def exporter_sections(self) -> dict[str, Any]:
        """Exporter config sections to use instead of the configured ones (e.g. ``auth``)."""
        ...


@dataclass(frozen=True)
class ScrapeTarget:
    """An extra scrape job: ``address`` is HOST:PORT."""

    job: str
    address: str
    metrics_path: str = "/metrics"

    @classmethod
    def parse(cls, text: str) -> ScrapeTarget:
        """``JOB=HOST:PORT`` or ``JOB=HOST:PORT/path``."""
        job, sep, rest = text.partition("=")
        if not sep or not job or ":" not in rest:
            raise ValueError(f"{text!r} is not JOB=HOST:PORT[/path]")
        address, slash, path = rest.partition("/")
        return cls(job, address, f"/{path}" if slash else "/metrics")


@dataclass
class StackOptions:
    """Everything a test or a person may change about the stack; defaults are production's."""

    exporter_config: dict[str, Any] | None = None
    exporter_env: dict[str, str] = field(default_factory=dict)
    scrape_interval: str = "15s"
    evaluation_interval: str = "15s"
    for_scale: float = 1.0
    group_wait: str | None = None
    group_interval: str | None = None
    repeat_interval: str | None = None
    retention: str = "35d"
    # How often Prometheus re-sends a firing alert (--rules.alert.resend-delay); None: twice
    # the evaluation interval, at most Prometheus' default of 1m.
    resend_delay: str | None = None
    extra_targets: list[ScrapeTarget] = field(default_factory=list)
    webhook: bool = True
    sandbox: SandboxPlugin | None = None
    # Start Debian's prometheus-node-exporter (this machine's host metrics) as job "node".
    node_exporter: bool = False
    # Past samples (OpenMetrics text ending in "# EOF") written into Prometheus' storage before
    # it starts: history rules did not record (last Saturday's peaks, for the capacity rules).
    backfill: str | None = None
    exporter_port: int | None = None
    prometheus_port: int | None = None
    alertmanager_port: int | None = None
    webhook_port: int | None = None
    # Where the generated tokens go (0600); None: tokens.env in the stack's temporary dir.
    tokens_file: Path | None = None
    progress: Callable[[str], None] | None = None


def example_exporter_config() -> dict[str, Any]:
    """exporter/example.yaml as a dict (its ${VAR} references are resolved by the exporter)."""
    return dict(yaml.safe_load(EXAMPLE_EXPORTER_CONFIG.read_text()))


def prometheus_config(options: StackOptions, rule_dir: Path, addresses: dict[str, str]
                      ) -> dict[str, Any]:
    """prometheus/prometheus.yml with this stack's intervals, rules and addresses."""
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    config["global"]["scrape_interval"] = options.scrape_interval
    config["global"]["evaluation_interval"] = options.evaluation_interval
    # A scrape may not take longer than its interval.
    timeout = config["global"].get("scrape_timeout", "10s")
    if durations.seconds(timeout) > durations.seconds(options.scrape_interval):
        config["global"]["scrape_timeout"] = options.scrape_interval
    config["rule_files"] = [str(rule_dir / "*.yml")]
    config["alerting"]["alertmanagers"] = [
        {"static_configs": [{"targets": [addresses[ALERTMANAGER_JOB]]}]}]
    extra = {target.job: target for target in options.extra_targets}
    jobs = []
    for job in config["scrape_configs"]:
        name = job["job_name"]
        if name in addresses:
            jobs.append({**job, "static_configs": [{"targets": [addresses[name]]}]})
        elif name in extra:
            # A job of the file (e.g. a peer exporter) pointed at what the caller runs.
            target = extra.pop(name)
            jobs.append({**job, "metrics_path": target.metrics_path,
                         "static_configs": [{"targets": [target.address]}]})
        # Any other job of the file scrapes something this stack does not run: left out.
    for target in extra.values():
        jobs.append({"job_name": target.job, "metrics_path": target.metrics_path,
                     "static_configs": [{"targets": [target.address]}]})
    config["scrape_configs"] = jobs
    return dict(config)


def _route_timings(route: dict[str, Any], options: StackOptions, root: bool) -> None:
    for key in ("group_wait", "group_interval", "repeat_interval"):
        value = getattr(options, key)
        if value is not None and (root or key in route):
            route[key] = value
    for child in route.get("routes", []):
        _route_timings(child, options, root=False)


def alertmanager_config(options: StackOptions, webhook_url: str | None) -> dict[str, Any]:
    """prometheus/alertmanager.yml with this stack's timings and, optionally, every receiver
    sent to the recording webhook."""
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    _route_timings(config["route"], options, root=True)
    if webhook_url:
        receivers = []
        for receiver in config["receivers"]:
            integrations = [c for key, value in receiver.items() if key.endswith("_configs")
                            for c in value]
            send_resolved = all(c.get("send_resolved", True) for c in integrations)
            receivers.append({"name": receiver["name"], "webhook_configs": [
                {"url": f"{webhook_url}/{receiver['name']}", "send_resolved": send_resolved}]})
        config["receivers"] = receivers
    return dict(config)


class Stack:
    """The exporter, Prometheus, Alertmanager, a webhook receiver and optionally the sandbox."""

    def __init__(self, options: StackOptions | None = None) -> None:
        self.options = options or StackOptions()
        if self.options.for_scale <= 0:
            raise ValueError("for_scale must be greater than 0")
        self.dir = Path(tempfile.mkdtemp(prefix="wedsync-stack-"))
        self.rule_dir = self.dir / "rules"
        self.webhook: WebhookReceiver | None = None
        self.exporter: ExporterProcess | None = None
        self.prometheus: PrometheusServer | None = None
        self.alertmanager: AlertmanagerServer | None = None
        self.node_exporter: NodeExporterServer | None = None
        self.sandbox: SandboxPlugin | None = self.options.sandbox
        self.tokens: StackTokens | None = None
        self.tokens_file: Path | None = None
        self._started: list[Any] = []

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> Stack:
        """Start every part (sandbox, webhook, exporter, Alertmanager, Prometheus) and wait until
        each answers; on any failure stop what was started and raise."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _say(self, line: str) -> None:
        if self.options.progress is not None:
            self.options.progress(line)

    def _start(self) -> None:
        options = self.options
        exporter_port = options.exporter_port or free_port()
        exporter_url = f"http://127.0.0.1:{exporter_port}"
        self.tokens = StackTokens.generate(options.exporter_env)
        if self.sandbox is not None:
            prepare = getattr(self.sandbox, "prepare", None)
            if callable(prepare):
                prepare(exporter_url, self.tokens.ingest)
            self._say("starting the sandbox")
            self._started.append(self.sandbox)
            self.sandbox.start()
        webhook_url = None
        if options.webhook:
            self.webhook = WebhookReceiver(options.webhook_port).start()
            self._started.append(self.webhook)
            webhook_url = self.webhook.url
        self.rule_dir.mkdir()
        # Alertmanager's port is chosen now so that the exporter (its deploy gate) knows it.
        self.alertmanager = AlertmanagerServer(alertmanager_config(options, webhook_url),
                                               port=options.alertmanager_port)
        self._started.append(self.alertmanager)

        # Prometheus' port too: the exporter's status page reads its uptime history there.
        prometheus_port = options.prometheus_port or free_port()
        exporter_config = copy.deepcopy(options.exporter_config or example_exporter_config())
        environment = {**self.tokens.environment(),
                       ALERTMANAGER_URL_VARIABLE: self.alertmanager.url,
                       PROMETHEUS_URL_VARIABLE: f"http://127.0.0.1:{prometheus_port}"}
        if self.sandbox is not None:
            exporter_config.update(self.sandbox.exporter_sections())
            extra_env = getattr(self.sandbox, "exporter_env", None)
            if callable(extra_env):
                environment.update(extra_env())
        environment.update(options.exporter_env)
        self.tokens_file = self.tokens.write(options.tokens_file or self.dir / "tokens.env",
                                             exporter_url)
        self._say(f"starting the exporter on {exporter_url}")
        self.exporter = ExporterProcess(exporter_config, env=environment, port=exporter_port)
        self._started.append(self.exporter)
        self.exporter.start()

        self._say(f"starting Alertmanager on {self.alertmanager.url}")
        self.alertmanager.start()

        addresses = {EXPORTER_JOB: f"127.0.0.1:{self.exporter.port}",
                     PROMETHEUS_JOB: f"127.0.0.1:{prometheus_port}",
                     ALERTMANAGER_JOB: f"127.0.0.1:{self.alertmanager.port}"}
        if options.node_exporter:
            self.node_exporter = NodeExporterServer()
            self._started.append(self.node_exporter)
            self._say(f"starting node_exporter on {self.node_exporter.url}")
            self.node_exporter.start()
            addresses[NODE_JOB] = self.node_exporter.address
        self._say(f"starting Prometheus on http://127.0.0.1:{prometheus_port}")
        self.prometheus = PrometheusServer(
            prometheus_config(options, self.rule_dir, addresses), port=prometheus_port,
            retention=options.retention,
            extra_args=[f"--rules.alert.resend-delay={self.resend_delay()}"])
        self._started.append(self.prometheus)
        if options.backfill:
            self._say("backfilling Prometheus' storage")
            self.prometheus.backfill(options.backfill)
        self.prometheus.start()
        self._say(f"waiting for Prometheus' first scrape of the exporter "
                  f"(scrape interval {options.scrape_interval})")
        self._load_rules()
        if self.webhook is not None:
            self._say(f"waiting for the Watchdog to come through Alertmanager to the webhook "
                      f"(up to about {self.resend_delay()} more)")
            self.wait_until_alerting()

    def _load_rules(self) -> None:
        """Write the rules and reload Prometheus once it has scraped the exporter: before the
        first scrape (Prometheus waits ~5 s for discovery) every "absent" rule would fire, and
        a scaled-down for: would page about start-up itself. A reload makes Prometheus
        rediscover Alertmanager (~5 s), and alerts it sends meanwhile are dropped; the short
        resend delay sends them again soon after."""
        assert self.prometheus is not None
        self.wait_for_scrape()
        rule_build.write(self.rule_dir, self.options.for_scale)
        request = urllib.request.Request(f"{self.prometheus.url}/-/reload", method="POST")
        with urllib.request.urlopen(request, timeout=30):
            pass
        wanted = {g.name for f in rule_build.RULE_FILES for g in f.groups}
        deadline = time.monotonic() + 30
        while {g["name"] for g in self.prometheus.api("rules")["groups"]} != wanted:
            if time.monotonic() > deadline:
                raise RuntimeError("Prometheus did not load the rules; log:\n"
                                   + self.prometheus.logs())
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop everything this stack started (newest first) and remove its temporary files;
        a part that fails to stop does not keep the others running."""
        failure: BaseException | None = None
        while self._started:
            part = self._started.pop()
            try:
                if isinstance(part, ManagedProcess):
                    part.cleanup()
                else:
                    part.stop()
            except Exception as error:  # stop the rest; raise the first failure afterwards
                failure = failure or error
            if isinstance(part, ExporterProcess):
                shutil.rmtree(part.dir, ignore_errors=True)
        if self.tokens_file is not None:
            # The tokens die with the exporter that accepted them.
            self.tokens_file.unlink(missing_ok=True)
            self.tokens_file = None
        shutil.rmtree(self.dir, ignore_errors=True)
        if failure is not None:
            raise failure

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def resend_delay(self) -> str:
        """--rules.alert.resend-delay for this stack's Prometheus."""
        if self.options.resend_delay is not None:
            return self.options.resend_delay
        twice = 2 * durations.seconds(self.options.evaluation_interval)
        return durations.text(min(twice, 60.0))

    # --- for the people and programs using it ----------------------------------------------------
    def urls(self) -> dict[str, str]:
        """Where each part listens."""
        out: dict[str, str] = {}
        if self.exporter:
            out["exporter"] = self.exporter.url
        if self.prometheus:
            out["prometheus"] = self.prometheus.url
        if self.alertmanager:
            out["alertmanager"] = self.alertmanager.url
        if self.webhook:
            out["webhook"] = self.webhook.url
        if self.node_exporter:
            out["node_exporter"] = self.node_exporter.url
        urls = getattr(self.sandbox, "urls", None)
        if callable(urls):
            out.update({f"sandbox {name}": url for name, url in urls().items()})
        return out

    def describe(self) -> str:
        """A few lines saying where each part listens, for people."""
        notes = {
            "exporter": "/metrics, /api/system/health, /",
            "prometheus": "remote write: /api/v1/write",
            "alertmanager": "",
            "webhook": "GET /notifications lists what Alertmanager sent",
            "node_exporter": "this machine's host metrics, job node",
        }
        lines = [f"{name:<13} {url}" + (f"   ({notes[name]})" if notes.get(name) else "")
                 for name, url in self.urls().items()]
        if self.tokens_file is not None:
            lines.append(f"{'tokens':<13} {self.tokens_file}   (readable only by you: "
                         f"set -a; . {self.tokens_file}; set +a)")
        describe = getattr(self.sandbox, "describe", None)
        if callable(describe):
            lines += describe().splitlines()
        lines.append(f"{'rules':<13} {self.rule_dir}   (for: x{self.options.for_scale:g})")
        if self.prometheus:
            lines.append(f"{'storage':<13} {self.prometheus.dir / 'data'}   "
                         f"(retention {self.options.retention})")
        logs = [p.log_path for p in (self.exporter, self.prometheus, self.alertmanager) if p]
        lines += [f"{'log':<13} {path}" for path in logs]
        return "\n".join(lines)

    def wait_for_scrape(self, job: str = EXPORTER_JOB, timeout: float = 30.0) -> None:
        """Wait until Prometheus has scraped ``job`` successfully."""
        assert self.prometheus is not None, "the stack is not started"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.prometheus.query(f'up{{job="{job}"}} == 1'):
                return
            time.sleep(0.2)
        raise TimeoutError(f"Prometheus did not scrape job {job} within {timeout}s")

    def wait_until_alerting(self, timeout: float = 120.0) -> None:
        """Wait until the Watchdog's notification has come through Prometheus and Alertmanager
        to the webhook: from then on a fault is timed from a pipeline that works (Prometheus
        needs a few seconds after start before it sends its first alerts)."""
        assert self.webhook is not None, "the stack runs without the webhook receiver"
        self.webhook.wait_for(timeout, alertname=WATCHDOG)

    def firing(self, alertname: str | None = None) -> list[dict[str, Any]]:
        """Alerts Prometheus has firing now (GET /api/v1/alerts)."""
        assert self.prometheus is not None, "the stack is not started"
        alerts = self.prometheus.api("alerts")["alerts"]
        return [a for a in alerts if a["state"] == "firing"
                and (alertname is None or a["labels"].get("alertname") == alertname)]
