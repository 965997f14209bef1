"""A healthy `wedsync-stack up --sandbox` stays quiet — only the Watchdog — and hands the person
who started it working tokens, never showing them.

Run exactly as docs/alerts.md documents the shortened settings: the stack starts its own
PostgreSQL (reference schema, seed rows) and Redis, the sandbox posts its API's request timings,
and the exporter gets generated tokens and the stack's own Alertmanager URL.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from alerts import build as rule_build
from alerts.model import Alert
from alerts.notification_time import for_seconds
from harness.quietness import noise

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow

FOR_SCALE = 0.05
SHORT = ["--scrape-interval", "1s", "--evaluation-interval", "1s", "--for-scale", f"{FOR_SCALE:g}",
         "--group-wait", "1s", "--group-interval", "1s"]
# A silence rule waits for `time() - <last time something happened> > N` inside its expression.
SILENCE = re.compile(r"time\(\) - (?:max\()?(\w+)\)? > (\d+)")
# Beyond this an expression window makes the test too long for CI (the bench runs the rest).
LONGEST_FEASIBLE_WINDOW = 150
# Prometheus' rule evaluation and Alertmanager's group_wait after a condition holds (1 s each),
# with room for a loaded machine.
MARGIN_SECONDS = 10


def alerts() -> list[Alert]:
    return [alert for file in rule_build.RULE_FILES for group in file.groups
            for alert in group.alerts]


def silence_rules() -> dict[str, tuple[str, float]]:
    """Alert name → (the timestamp metric it watches, seconds of silence its expression needs)."""
    found = {}
    for alert in alerts():
        match = SILENCE.search(alert.expr)
        if match:
            found[alert.name] = (match[1], float(match[2]))
    return found


def seconds_to_fire(name: str) -> float:
    """Silence in the expression plus the wedding-day for: (the seed rows make today one),
    scaled as the stack scales it."""
    [alert] = [a for a in alerts() if a.name == name]
    return silence_rules()[name][1] + for_seconds(alert, wedding_day=True, for_scale=FOR_SCALE)


def quiet_seconds() -> tuple[str, float]:
    """The slowest silence rule that fits in a CI run, and how long the test watches."""
    feasible = {name: seconds_to_fire(name) for name, (_, window) in silence_rules().items()
                if window <= LONGEST_FEASIBLE_WINDOW}
    slowest = max(feasible, key=feasible.__getitem__)
    return slowest, feasible[slowest] + MARGIN_SECONDS


def get(url: str, token: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def query(prometheus: str, expr: str) -> list[Any]:
    status, body = get(f"{prometheus}/api/v1/query?query={urllib.parse.quote(expr)}")
    assert status == 200
    return list(body["data"]["result"])


def read_tokens(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def test_the_silence_rules_are_known_and_the_slowest_is_too_slow_for_ci() -> None:
    # If a new silence rule appears, the quiet test below must be reconsidered.
    rules = silence_rules()
    assert rules == {
        "WedSyncProbeResultsStale": ("wedsync_probe_last_success_timestamp_seconds", 120.0),
        "WedSyncIngestionSilent": ("wedsync_ingest_last_event_timestamp_seconds", 600.0)}
    assert quiet_seconds()[0] == "WedSyncProbeResultsStale"


def test_a_healthy_sandbox_stack_stays_quiet_and_its_tokens_work_without_being_shown(
        tmp_path: Path) -> None:
    """Quiet for longer than the slowest silence rule that CI can wait for needs to fire.

    Silence rules fire when something stops happening: their expressions hold a window of
    their own that ``--for-scale`` does not shorten. ``WedSyncIngestionSilent`` waits for 600 s
    without a request timing (then 5 min x 0.05 = 15 s of ``for:``): ten minutes is too long for
    CI, so that rule's input is checked directly instead — the last accepted timing stays a
    few seconds old throughout — and its ``absent()`` branch, which needs no window, would
    fire within its 15 s ``for:``. The slowest silence rule left is
    ``WedSyncProbeResultsStale``: 120 s without a successful probe plus 2 min x 0.05 = 6 s of
    ``for:`` on a wedding day (the seed rows put weddings on today). So the stack is watched
    for 126 s plus 10 s of evaluation and group_wait margin, during which nothing but the
    Watchdog may fire or be sent. ``bench/quiet_stack.py`` runs the production settings for
    30 minutes.
    """
    slowest, watch = quiet_seconds()
    assert slowest == "WedSyncProbeResultsStale" and 130 <= watch <= 150
    tokens_path = tmp_path / "tokens.env"
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "harness", "up", "--sandbox", *SHORT, "--tokens-file",
         str(tokens_path)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    try:
        assert process.stdout is not None
        lines: list[str] = []
        first_line_after: float | None = None
        while not lines or lines[-1] != "running; Ctrl-C stops everything":
            line = process.stdout.readline()
            assert line, "wedsync-stack exited early:\n" + "".join(lines)
            first_line_after = first_line_after or time.monotonic() - started
            lines.append(line.rstrip("\n"))
        output = "\n".join(lines)
        # Progress while it starts, not a minute of silence.
        assert first_line_after is not None and first_line_after < 10, first_line_after
        assert sum(line.startswith("... ") for line in lines) >= 4
        urls = {m[1]: m[2] for m in (re.match(r"(\w+)\s+(http://\S+)", x) for x in lines) if m}
        prometheus, webhook, exporter = urls["prometheus"], urls["webhook"], urls["exporter"]

        # The tokens: in a file only the user may read, whose path was printed.
        assert str(tokens_path) in output
        assert stat.S_IMODE(tokens_path.stat().st_mode) == 0o600
        tokens = read_tokens(tokens_path)
        assert tokens["WEDSYNC_EXPORTER_URL"] == exporter
        secrets = [tokens[f"WEDSYNC_{kind}_TOKEN"] for kind in ("ADMIN", "INGEST", "DEPLOY")]
        assert len(set(secrets)) == 3 and all(len(s) >= 32 for s in secrets)

        # Its own PostgreSQL and Redis, set up as production is where the checks look.
        assert re.search(r"^postgres\s+127\.0\.0\.1:(\d+)", output, re.M)
        port = int(re.search(r"^postgres\s+127\.0\.0\.1:(\d+)", output, re.M)[1])
        assert port != 5432
        assert re.search(r"^redis\s+127\.0\.0\.1:(\d+)", output, re.M)[1] != "6379"

        # The health API and the deploy gate work with the tokens.
        assert get(f"{exporter}/api/system/health")[0] == 401
        status, health = get(f"{exporter}/api/system/health", tokens["WEDSYNC_ADMIN_TOKEN"])
        # Every essential component is up (a probe slowed by a busy test machine may read
        # "degraded" by latency alone; nothing failed and nothing is critical).
        assert status == 200 and health["overall_status"] in ("healthy", "degraded"), health
        essential = ("database", "auth", "realtime", "redis", "api")
        assert all(health["components"][c]["status"] in ("healthy", "degraded")
                   and health["components"][c]["last_error"] is None for c in essential), health
        assert health["not_monitored"] == [], health
        status, gate = get(f"{exporter}/api/system/deploy-gate",
                           tokens["WEDSYNC_DEPLOY_TOKEN"])
        # Today has seeded weddings, so the gate blocks for that reason alone: it could ask
        # the stack's Alertmanager and found nothing critical.
        assert status == 423 and len(gate["reasons"]) == 1, gate
        assert "wedding day" in gate["reasons"][0]

        # Quiet: nothing but the Watchdog fires or is sent, and timings keep arriving.
        deadline = time.monotonic() + watch
        while True:
            found = noise(prometheus, webhook)
            assert found.quiet, f"the healthy stack was not quiet: {found}"
            [age] = query(prometheus,
                          "time() - max(wedsync_ingest_last_event_timestamp_seconds)")
            assert float(age["value"][1]) < 30, "the sandbox stopped posting request timings"
            assert query(prometheus, "wedsync_wedding_day == 1"), "the weddings query failed"
            if time.monotonic() >= deadline:
                break
            time.sleep(5)
        # Every probed target is up: the five essential components' and the pooler's and
        # queues' the platform adds.
        assert not query(prometheus, "wedsync_up == 0")
        assert int(query(prometheus, "count(wedsync_up == 1)")[0]["value"][1]) >= 5
        # Its database has the seed rows (weddings around today): the stack's own, not 5432's.
        assert query(prometheus, 'wedsync_weddings{window="today"} > 0')
        assert not query(prometheus, 'wedsync_validation_findings{severity=~"error|critical"}'
                                     ' > 0'), "validation finds errors in the sandbox platform"

        # The gate sees the stack's own Alertmanager: a critical alert there blocks it.
        alertmanager = urls["alertmanager"]
        alert = [{"labels": {"alertname": "WedSyncQuietTestProbe", "severity": "critical"}}]
        request = urllib.request.Request(f"{alertmanager}/api/v2/alerts", method="POST",
                                         data=json.dumps(alert).encode(),
                                         headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=10).close()
        status, gate = get(f"{exporter}/api/system/deploy-gate",
                           tokens["WEDSYNC_DEPLOY_TOKEN"])
        assert status == 423 and any("WedSyncQuietTestProbe" in r for r in gate["reasons"])

        # The documented way to use the file: load it and run the gate's command.
        done = subprocess.run(
            ["bash", "-c", f'set -a; . "{tokens_path}"; set +a; '
                           f'"{sys.executable}" -m exporter.deploy_gate'],
            capture_output=True, text=True, timeout=60, cwd=REPO,
            env={k: v for k, v in os.environ.items() if not k.startswith("WEDSYNC_")})
        assert done.returncode == 1 and "WedSyncQuietTestProbe" in done.stdout, done

        # No token in any log (they go with the stack) or in anything printed.
        logs = [Path(p).read_text(errors="replace")
                for p in re.findall(r"^log\s+(\S+)", output, re.M)]
        assert len(logs) == 3
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0
        output += process.stdout.read()
        assert not tokens_path.exists(), "the tokens outlived the stack"
        for secret in secrets:
            assert secret not in output and not any(secret in log for log in logs)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
