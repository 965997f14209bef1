"""The stack in its high-availability shape, on one machine: two exporter replicas sharing state
through a Redis of the monitoring's own, two Prometheus (an HA pair, each with its own
``external_labels.replica``, dropped from alerts by ``alert_relabel_configs``), and three
Alertmanagers gossiping over loopback (``--cluster.listen-address``, ``--cluster.peer``), every
Prometheus sending to every Alertmanager — so that any one of each may die and a fault still
pages exactly once.

Use it like ``harness.stack.Stack`` (same ``StackOptions``; ``stack.exporter``,
``stack.prometheus`` and ``stack.alertmanager`` are the first of each)::

    with HAStack(StackOptions(scrape_interval="1s", ...), HAOptions(peer_timeout="2s")) as ha:
        ha.kill(ha.prometheuses[1])           # SIGKILL, by PID
        ha.webhook.wait_for(60, alertname="WedSyncRedisDown", status="firing")

or from a shell: ``wedsync-stack up --ha``.

Each Prometheus scrapes both exporters, both Prometheus (itself and its peer: that is how one
sees the other stop sending) and all three Alertmanagers. Exporter replica *i* asks
Alertmanager *i* for the deploy gate's firing alerts.
"""

from __future__ import annotations

import copy
import json
import signal
import string
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

from alerts import build as rule_build
from harness.alertmanager import AlertmanagerServer
from harness.binaries import ManagedProcess
from harness.exporter import ExporterProcess
from harness.ports import free_port
from harness.prometheus import PrometheusServer
from harness.redis import RedisServer
from harness.stack import (
    ALERTMANAGER_JOB,
    ALERTMANAGER_URL_VARIABLE,
    EXPORTER_JOB,
    PROMETHEUS_JOB,
    Stack,
    StackOptions,
    alertmanager_config,
    example_exporter_config,
    prometheus_config,
)
from harness.stack_tokens import StackTokens
from harness.webhook import WebhookReceiver

SHARED_STATE_VARIABLE = "WEDSYNC_SHARED_STATE_URL"
REPLICA_LABEL = "replica"
WATCHDOG_RECEIVER = "watchdog"


def group_wait_between_evaluations(group_wait: float, evaluation_interval: float) -> float:
    """``group_wait`` moved half an evaluation interval off the evaluations' grid when it sits
    on it (a whole multiple of the interval), for fast HA stacks.

    An Alertmanager group's flushes tick at its first alert's arrival + ``group_wait`` + whole
    ``group_interval``s. When both are multiples of the evaluation interval, every tick falls
    on the instant the next evaluation's alerts arrive. Under load the members' ticks then
    straddle an arrival: one member takes its snapshot (still firing) just before a resolution
    arrives, waits its place in the cluster, and finds that the first member has meanwhile
    sent "resolved" — so it sends its stale "firing": a second page
    (prometheus/alertmanager#2447). Half an interval off, no arrival is near a tick.
    """
    if evaluation_interval <= 0 or group_wait % evaluation_interval:
        return group_wait
    return group_wait + evaluation_interval / 2


@dataclass
class HAOptions:
    """The shape of the HA stack and its cluster timings."""

    exporters: int = 2
    prometheus: int = 2
    alertmanagers: int = 3
    # Each Alertmanager waits this long per place in the cluster before it notifies (checking
    # whether a peer already did): the failover delay when the first member is dead.
    peer_timeout: str = "15s"
    # How often members probe each other (None: Alertmanager's 1s). The members agree that a
    # killed one is gone some seven probes later; until then, and in the instant their views
    # differ, a page may go out twice (Alertmanager delivers at least once). Fast settings
    # shorten it so that the views agree well before a fault pages.
    probe_interval: str | None = None
    # How often the Watchdog is repeated to its receiver (None: as the file, or
    # StackOptions.repeat_interval); a short one shows it uninterrupted through the kills.
    watchdog_repeat: str | None = None
    # Shared-state settings for the exporters (``shared_state`` of their config).
    shared_state_refresh: str = "500ms"
    shared_state_lease: str = "15s"


def ha_prometheus_config(base: dict[str, Any], replica: str, targets: dict[str, list[str]]
                         ) -> dict[str, Any]:
    """``base`` (a single stack's Prometheus config) as one member of the HA pair: its own
    ``replica`` label, every job's ``targets``, every Alertmanager, the label dropped from
    alerts so that both members' copies of an alert are identical."""
    config = copy.deepcopy(base)
    config["global"]["external_labels"] = {REPLICA_LABEL: replica}
    config["alerting"] = {
        "alert_relabel_configs": [{"action": "labeldrop", "regex": REPLICA_LABEL}],
        "alertmanagers": [{"static_configs": [{"targets": list(targets[ALERTMANAGER_JOB])}]}],
    }
    for job in config["scrape_configs"]:
        if job["job_name"] in targets:
            job["static_configs"] = [{"targets": list(targets[job["job_name"]])}]
    return dict(config)


def _peers(member: AlertmanagerServer) -> list[Any]:
    with urllib.request.urlopen(f"{member.url}/api/v2/status", timeout=5) as answer:
        return list(json.load(answer)["cluster"]["peers"])


def _watchdog_repeat(config: dict[str, Any], repeat: str) -> None:
    for route in config["route"].get("routes", []):
        if route.get("receiver") == WATCHDOG_RECEIVER:
            route["repeat_interval"] = repeat


class HAStack(Stack):
    """Two exporters, two Prometheus, three clustered Alertmanagers, the shared-state Redis and
    the recording webhook."""

    def __init__(self, options: StackOptions | None = None, ha: HAOptions | None = None) -> None:
        super().__init__(options)
        self.ha = ha or HAOptions()
        self.exporters: list[ExporterProcess] = []
        self.prometheuses: list[PrometheusServer] = []
        self.alertmanagers: list[AlertmanagerServer] = []
        self.shared_redis: RedisServer | None = None

    def _start(self) -> None:
        options, ha = self.options, self.ha
        exporter_ports = [options.exporter_port or free_port()] + [
            free_port() for _ in range(ha.exporters - 1)]
        exporter_urls = [f"http://127.0.0.1:{port}" for port in exporter_ports]
        self.tokens = StackTokens.generate(options.exporter_env)
        if self.sandbox is not None:
            prepare = getattr(self.sandbox, "prepare", None)
            if callable(prepare):
                prepare(exporter_urls[0], self.tokens.ingest)
            self._say("starting the sandbox")
            self._started.append(self.sandbox)
            self.sandbox.start()
        webhook_url = None
        if options.webhook:
            self.webhook = WebhookReceiver(options.webhook_port).start()
            self._started.append(self.webhook)
            webhook_url = self.webhook.url
        self.rule_dir.mkdir()

        self._say("starting the shared-state Redis (the monitoring's own)")
        self.shared_redis = RedisServer()
        self._started.append(self.shared_redis)
        self.shared_redis.start()

        am_config = alertmanager_config(options, webhook_url)
        if ha.watchdog_repeat is not None:
            _watchdog_repeat(am_config, ha.watchdog_repeat)
        web_ports = [options.alertmanager_port or free_port()] + [
            free_port() for _ in range(ha.alertmanagers - 1)]
        gossip = [f"127.0.0.1:{free_port()}" for _ in range(ha.alertmanagers)]
        for index, port in enumerate(web_ports):
            member = AlertmanagerServer(
                am_config, port=port, cluster_port=int(gossip[index].rpartition(":")[2]),
                peers=[g for other, g in enumerate(gossip) if other != index],
                peer_timeout=ha.peer_timeout, probe_interval=ha.probe_interval)
            self.alertmanagers.append(member)
            self._started.append(member)
        self.alertmanager = self.alertmanagers[0]

        exporter_config = copy.deepcopy(options.exporter_config or example_exporter_config())
        base_env = dict(self.tokens.environment())
        if self.sandbox is not None:
            exporter_config.update(self.sandbox.exporter_sections())
            extra_env = getattr(self.sandbox, "exporter_env", None)
            if callable(extra_env):
                base_env.update(extra_env())
        exporter_config["shared_state"] = {
            **(exporter_config.get("shared_state") or {}),
            "url": f"${{{SHARED_STATE_VARIABLE}}}", "refresh": ha.shared_state_refresh,
            "lease": ha.shared_state_lease}
        base_env[SHARED_STATE_VARIABLE] = self.shared_redis.url()
        self.tokens_file = self.tokens.write(options.tokens_file or self.dir / "tokens.env",
                                             exporter_urls[0])
        for index, port in enumerate(exporter_ports):
            am = self.alertmanagers[index % len(self.alertmanagers)]
            env = {**base_env, ALERTMANAGER_URL_VARIABLE: am.url, **options.exporter_env}
            exporter = ExporterProcess(exporter_config, env=env, port=port)
            self.exporters.append(exporter)
            self._started.append(exporter)
        for exporter in self.exporters:
            self._say(f"starting an exporter replica on {exporter.url}")
            exporter.start(wait=False)
        for exporter in self.exporters:
            exporter.wait_started(exporter.start_timeout)
        self.exporter = self.exporters[0]

        self._say("starting the Alertmanager cluster on "
                  + " ".join(am.url for am in self.alertmanagers))
        for member in self.alertmanagers:
            member.start(wait=False)
        for member in self.alertmanagers:
            member.wait_started(member.start_timeout)

        prometheus_ports = [options.prometheus_port or free_port()] + [
            free_port() for _ in range(ha.prometheus - 1)]
        targets = {EXPORTER_JOB: [f"127.0.0.1:{p}" for p in exporter_ports],
                   PROMETHEUS_JOB: [f"127.0.0.1:{p}" for p in prometheus_ports],
                   ALERTMANAGER_JOB: [f"127.0.0.1:{p}" for p in web_ports]}
        single = {job: addresses[0] for job, addresses in targets.items()}
        base = prometheus_config(options, self.rule_dir, single)
        for index, port in enumerate(prometheus_ports):
            replica = string.ascii_lowercase[index]
            server = PrometheusServer(
                ha_prometheus_config(base, replica, targets), port=port,
                retention=options.retention,
                extra_args=[f"--rules.alert.resend-delay={self.resend_delay()}"])
            self.prometheuses.append(server)
            self._started.append(server)
        self._say("starting Prometheus " + " and ".join(p.url for p in self.prometheuses))
        for server in self.prometheuses:
            server.start(wait=False)
        for server in self.prometheuses:
            server.wait_started(server.start_timeout)
        self.prometheus = self.prometheuses[0]
        self._say("waiting for both Prometheus' first scrapes of the exporters")
        self._load_rules()
        if self.webhook is not None:
            self._say("waiting for the Watchdog to come through the cluster to the webhook")
            self.wait_until_alerting()

    def _load_rules(self) -> None:
        """As for one Prometheus (see ``Stack._load_rules``), on every member."""
        for server in self.prometheuses:
            self._wait_for_scrape_on(server)
        rule_build.write(self.rule_dir, self.options.for_scale)
        wanted = {g.name for f in rule_build.RULE_FILES for g in f.groups}
        for server in self.prometheuses:
            request = urllib.request.Request(f"{server.url}/-/reload", method="POST")
            with urllib.request.urlopen(request, timeout=30):
                pass
        for server in self.prometheuses:
            deadline = time.monotonic() + 30
            while {g["name"] for g in server.api("rules")["groups"]} != wanted:
                if time.monotonic() > deadline:
                    raise RuntimeError("Prometheus did not load the rules; log:\n"
                                       + server.logs())
                time.sleep(0.1)

    def _wait_for_scrape_on(self, server: PrometheusServer, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        wanted = len(self.exporters)
        while time.monotonic() < deadline:
            if len(server.query(f'up{{job="{EXPORTER_JOB}"}} == 1')) >= wanted:
                return
            time.sleep(0.2)
        raise TimeoutError(f"{server.url} did not scrape every exporter within {timeout}s")

    # --- for tests and drills ---------------------------------------------------------------------
    def kill(self, part: ManagedProcess) -> None:
        """SIGKILL one part of the stack (by its PID) and reap it: no clean shutdown."""
        if part.process is not None and part.process.poll() is None:
            part.process.send_signal(signal.SIGKILL)
            part.process.wait(10)

    def wait_for_cluster(self, timeout: float = 60.0) -> float:
        """Wait until every live Alertmanager counts exactly the live members as its peers;
        the seconds it took."""
        started = time.monotonic()
        live = [m for m in self.alertmanagers
                if m.process is not None and m.process.poll() is None]
        while time.monotonic() - started < timeout:
            if all(len(_peers(member)) == len(live) for member in live):
                return time.monotonic() - started
            time.sleep(0.1)
        raise TimeoutError(f"the Alertmanager cluster did not settle on {len(live)} members "
                           f"within {timeout}s")

    def firing_anywhere(self, alertname: str) -> list[dict[str, Any]]:
        """Alerts named ``alertname`` firing in any live Prometheus."""
        found: list[dict[str, Any]] = []
        for server in self.prometheuses:
            if server.process is None or server.process.poll() is not None:
                continue
            alerts = server.api("alerts")["alerts"]
            found += [a for a in alerts if a["state"] == "firing"
                      and a["labels"].get("alertname") == alertname]
        return found

    def urls(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for index, exporter in enumerate(self.exporters):
            out[f"exporter {string.ascii_lowercase[index]}"] = exporter.url
        for index, server in enumerate(self.prometheuses):
            out[f"prometheus {string.ascii_lowercase[index]}"] = server.url
        for index, member in enumerate(self.alertmanagers):
            out[f"alertmanager {index + 1}"] = member.url
        if self.shared_redis is not None:
            out["shared state"] = f"redis://127.0.0.1:{self.shared_redis.port}"
        if self.webhook:
            out["webhook"] = self.webhook.url
        urls = getattr(self.sandbox, "urls", None)
        if callable(urls):
            out.update({f"sandbox {name}": url for name, url in urls().items()})
        return out

    def describe(self) -> str:
        lines = [f"{name:<15} {url}" for name, url in self.urls().items()]
        if self.tokens_file is not None:
            lines.append(f"{'tokens':<15} {self.tokens_file}   (readable only by you: "
                         f"set -a; . {self.tokens_file}; set +a)")
        lines.append(f"{'rules':<15} {self.rule_dir}   (for: x{self.options.for_scale:g})")
        logs = [p.log_path for p in (*self.exporters, *self.prometheuses, *self.alertmanagers)]
        lines += [f"{'log':<15} {path}" for path in logs]
        return "\n".join(lines)
