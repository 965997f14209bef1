"""The stack harness: `wedsync-stack up` prints where each part listens and stops everything on
Ctrl-C; extra scrape targets; a pluggable service (the sandbox's slot); clean failure."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts import durations
from harness.metrics_endpoint import MetricsEndpoint
from harness.redis import RedisServer
from harness.stack import ScrapeTarget, Stack, StackOptions, prometheus_config
from harness.webhook import WebhookReceiver
from tests.support import eventually, exporter_config

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def listening(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, int(port))) == 0


def test_stack_up_prints_where_each_part_listens_and_stops_everything_on_ctrl_c(
        tmp_path: Path) -> None:
    # With --sandbox, the stand-in Auth, Realtime and API are started first and probed.
    extra = MetricsEndpoint("wedsync_harness_extra_target 1\n").start()
    config = tmp_path / "exporter.yaml"
    config.write_text(yaml.safe_dump(exporter_config()))
    process = subprocess.Popen(
        [sys.executable, "-m", "harness", "up", "--config", str(config), "--scrape-interval",
         "1s", "--evaluation-interval", "1s", "--for-scale", "0.05", "--group-wait", "1s",
         "--group-interval", "1s", "--target", f"extra={extra.address}", "--sandbox"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines: list[str] = []
        assert process.stdout is not None
        while not lines or lines[-1] != "running; Ctrl-C stops everything":
            line = process.stdout.readline()
            assert line, "wedsync-stack exited early:\n" + "".join(lines)
            lines.append(line.rstrip("\n"))
        urls = {m[1]: m[2] for m in (re.match(r"(\w+)\s+(http://\S+)", x) for x in lines) if m}
        assert set(urls) == {"exporter", "prometheus", "alertmanager", "webhook"}
        for url in urls.values():
            assert listening(url)
        rule_dir = Path(re.search(r"^rules\s+(\S+)", "\n".join(lines), re.M)[1])
        assert sorted(p.name for p in rule_dir.glob("*.yml")) == [
            "capacity.yml", "components.yml", "monitoring.yml", "slo.yml", "uptime.yml",
            "wedding-day.yml"]

        def query(expr: str) -> list[Any]:
            url = f"{urls['prometheus']}/api/v1/query?query={urllib.parse.quote(expr)}"
            with urllib.request.urlopen(url, timeout=10) as answer:
                return list(json.load(answer)["data"]["result"])

        eventually(lambda: query('up{job="extra"} == 1'), timeout=20,
                   message="the extra target was never scraped")
        sandbox_url = re.search(r"^sandbox api\s+(http://\S+)", "\n".join(lines), re.M)[1]
        eventually(lambda: len(query(
            'wedsync_up{component=~"auth|realtime|api"} == 1')) == 3, timeout=20,
            message="the sandbox's Auth, Realtime and API were not all probed up")
        with urllib.request.urlopen(f"{urls['prometheus']}/api/v1/status/flags") as answer:
            flags = json.load(answer)["data"]
        # Prometheus prints 35d as "5w": at least 35 days keeps the 30-day SLO window whole.
        assert durations.seconds(flags["storage.tsdb.retention.time"]) >= 35 * 86400
        # The Watchdog came through Prometheus and Alertmanager before "running" was printed.
        with urllib.request.urlopen(f"{urls['webhook']}/notifications") as answer:
            notes = json.load(answer)
        assert any(n["receiver"] == "watchdog" for n in notes)

        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
        rest = process.stdout.read()
        assert rest.strip().endswith("stopped")
        for url in [*urls.values(), sandbox_url]:
            assert not listening(url), f"{url} still answers after the stack stopped"
        assert not rule_dir.exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        extra.stop()


def test_stack_up_refuses_a_malformed_target_with_a_clear_message() -> None:
    done = subprocess.run([sys.executable, "-m", "harness", "up", "--target", "no-address"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "--target: 'no-address' is not JOB=HOST:PORT[/path]" in done.stderr


class RedisPlugin:
    """A service plugged in where the sandbox goes: started first, probed by the exporter."""

    def __init__(self) -> None:
        self.redis = RedisServer()
        self.stopped = False

    def start(self) -> RedisPlugin:
        self.redis.start()
        return self

    def stop(self) -> None:
        self.redis.cleanup()
        self.stopped = True

    def exporter_sections(self) -> dict[str, Any]:
        return {"redis": [{"name": "plugged", "url": self.redis.url()}]}

    def urls(self) -> dict[str, str]:
        return {"redis": f"redis://127.0.0.1:{self.redis.port}"}


def test_a_plugged_service_starts_first_is_probed_and_stops_with_the_stack() -> None:
    plugin = RedisPlugin()
    options = StackOptions(exporter_config=exporter_config(), scrape_interval="1s",
                           evaluation_interval="1s", for_scale=0.05, group_wait="1s",
                           group_interval="1s", webhook=False, sandbox=plugin)
    with Stack(options) as stack:
        assert stack.prometheus is not None
        assert "sandbox redis" in stack.describe()
        eventually(lambda: stack.prometheus.query(
            'wedsync_up{component="redis",target="plugged"} == 1'), timeout=20,
            message="the exporter never probed the plugged service")
        assert not plugin.stopped
    assert plugin.stopped


def test_a_stack_that_cannot_start_stops_what_it_started() -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        stack = Stack(StackOptions(exporter_config=exporter_config(), alertmanager_port=taken))
        with pytest.raises(RuntimeError):
            stack.start()
        assert stack.exporter is not None and stack.exporter.process is None
        assert not listening(stack.exporter.url)
        assert not stack.dir.exists()


def test_scrape_targets_parse_from_the_command_line_form() -> None:
    assert ScrapeTarget.parse("node=127.0.0.1:9100") == ScrapeTarget("node", "127.0.0.1:9100")
    assert ScrapeTarget.parse("k6=127.0.0.1:6565/m") == ScrapeTarget("k6", "127.0.0.1:6565",
                                                                      "/m")
    with pytest.raises(ValueError):
        ScrapeTarget.parse("127.0.0.1:9100")


def test_the_webhook_receiver_records_notifications_and_refuses_what_is_not_one() -> None:
    with WebhookReceiver() as webhook:
        note = {"receiver": "pager", "status": "firing", "groupKey": "{}:{alertname=\"X\"}",
                "alerts": [{"labels": {"alertname": "X"}, "status": "firing"}]}
        request = urllib.request.Request(f"{webhook.url}/pager", data=json.dumps(note).encode(),
                                         method="POST")
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert answer.status == 200
        bad = urllib.request.Request(f"{webhook.url}/pager", data=b"{not json", method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(bad, timeout=5)
        assert refused.value.code == 400
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{webhook.url}/other", timeout=5)
        assert missing.value.code == 404
        with urllib.request.urlopen(f"{webhook.url}/notifications", timeout=5) as answer:
            listed = json.load(answer)
        assert [(n["receiver"], n["path"]) for n in listed] == [("pager", "/pager")]
        [recorded] = webhook.notifications(alertname="X")
        assert (recorded.receiver, recorded.status, recorded.alertnames()) == (
            "pager", "firing", {"X"})
        assert webhook.wait_for(1, receiver="pager") == recorded
        with pytest.raises(TimeoutError, match="no notification"):
            webhook.wait_for(0.2, receiver="ticket")


def test_the_prometheus_config_keeps_the_repo_jobs_and_swaps_only_their_addresses(
        tmp_path: Path) -> None:
    options = StackOptions(scrape_interval="1s", evaluation_interval="1s", extra_targets=[
        ScrapeTarget("node", "127.0.0.1:9100"), ScrapeTarget("k6", "127.0.0.1:6565", "/m")])
    addresses = {"wedsync-exporter": "127.0.0.1:1", "prometheus": "127.0.0.1:2",
                 "alertmanager": "127.0.0.1:3"}
    config = prometheus_config(options, tmp_path, addresses)
    jobs = {j["job_name"]: (j["static_configs"][0]["targets"], j.get("metrics_path"))
            for j in config["scrape_configs"]}
    assert jobs == {"wedsync-exporter": (["127.0.0.1:1"], None),
                    "prometheus": (["127.0.0.1:2"], None),
                    "alertmanager": (["127.0.0.1:3"], None),
                    "node": (["127.0.0.1:9100"], "/metrics"), "k6": (["127.0.0.1:6565"], "/m")}
    assert config["global"] == {"scrape_interval": "1s", "scrape_timeout": "1s",
                                "evaluation_interval": "1s"}
    assert config["rule_files"] == [str(tmp_path / "*.yml")]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "127.0.0.1:3"]
