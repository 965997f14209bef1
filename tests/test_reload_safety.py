"""A configuration that validates but cannot be built is refused everywhere — by check-config,
at start-up (one line, no traceback) and on reload (SIGHUP or POST /-/reload), where the old
probes keep running and wedsync_config_last_reload_successful says 0. Rate-limit state and
the log level follow reloads."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import (
    SHARED_PG_DSN,
    SHARED_REDIS_URL,
    eventually,
    exporter_config,
    in_process_exporter,
    value,
    wait_metrics,
)

ADMIN = "admin-token-for-reload-tests"
# Each passes the schema; neither can be built into a probe.
UNBUILDABLE: dict[str, tuple[dict[str, Any], str]] = {
    "redis url without a scheme": (
        {"redis": [{"name": "cache", "url": "127.0.0.1:6379"}]},
        "redis[0].url: the URL must start with one of redis://, rediss://, unix://"),
    "auth url with port 99999": (
        {"auth": [{"name": "main", "url": "http://127.0.0.1:99999/auth/v1"}]},
        "auth[0].url: the URL's port must be a number from 1 to 65535"),
}


def _post_reload(url: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(f"{url}/-/reload", method="POST",
                                     headers={"Authorization": f"Bearer {ADMIN}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _runs(text: str) -> float:
    return value(text, "wedsync_probe_runs_total", component="database",
                 target="primary") or 0.0


@pytest.mark.parametrize("case", list(UNBUILDABLE))
def test_check_config_refuses_what_cannot_be_built(tmp_path: Path, case: str) -> None:
    sections, message = UNBUILDABLE[case]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(exporter_config(**sections)))
    done = subprocess.run([sys.executable, "-m", "exporter", "check-config", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr == f"wedsync-exporter: config error at {message}\n"


@pytest.mark.parametrize("case", list(UNBUILDABLE))
def test_starting_with_it_is_one_line_not_a_traceback(tmp_path: Path, case: str) -> None:
    sections, message = UNBUILDABLE[case]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(exporter_config(**sections)))
    done = subprocess.run([sys.executable, "-m", "exporter", "--config", str(path),
                           "--listen", "127.0.0.1:0"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1
    assert done.stderr == f"wedsync-exporter: config error at {message}\n"


@pytest.mark.parametrize("how", ["SIGHUP", "POST /-/reload"])
@pytest.mark.parametrize("case", list(UNBUILDABLE))
def test_a_reload_into_it_keeps_the_old_probes_running(make_exporter, case: str,
                                                        how: str) -> None:
    good = exporter_config(database=[{"name": "primary", "dsn": "${PG_DSN}"}],
                           redis=[{"name": "cache", "url": "${REDIS_URL}"}],
                           tokens={"admin": "${ADMIN_TOKEN}"})
    exporter = make_exporter(good, env={"PG_DSN": SHARED_PG_DSN, "REDIS_URL": SHARED_REDIS_URL,
                                        "ADMIN_TOKEN": ADMIN})
    wait_metrics(exporter, lambda t: _runs(t) >= 1)
    sections, message = UNBUILDABLE[case]
    exporter.write_config({**good, **sections})
    if how == "SIGHUP":
        exporter.signal(signal.SIGHUP)
    else:
        status, answer = _post_reload(exporter.url)
        assert status == 400
        assert answer == {"reloaded": False, "message": f"config error at {message}"}
    text = wait_metrics(exporter, lambda t: value(
        t, "wedsync_config_last_reload_successful") == 0)
    before = _runs(text)
    # Probing goes on with the old configuration: runs keep rising, results stay fresh.
    text = wait_metrics(exporter, lambda t: _runs(t) >= before + 2, timeout=15)
    assert value(text, "wedsync_up", component="database", target="primary") == 1
    assert value(text, "wedsync_up", component="redis", target="cache") == 1
    eventually(lambda: message in exporter.logs() and "reload refused" in exporter.logs())
    # Once the file is fixed, a reload succeeds again.
    exporter.write_config(good)
    assert _post_reload(exporter.url)[0] == 200
    assert value(exporter.metrics(), "wedsync_config_last_reload_successful") == 1


def test_a_library_refusing_a_value_at_build_time_is_refused_the_same_way(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Whatever check-config cannot foresee: a probe constructor raising. The reload is
    # refused with the reason, the old probes run on.
    asyncio.run(asyncio.wait_for(_library_refusal(monkeypatch, tmp_path), 60))


async def _library_refusal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from exporter.probes.redis import RedisProbe

    path = tmp_path / "config.yaml"
    config = exporter_config(redis=[{"name": "cache", "url": SHARED_REDIS_URL}])
    path.write_text(yaml.safe_dump(config))
    async with in_process_exporter(config) as exporter:
        service = exporter.service
        service.config = type(service.config)(**{**service.config.__dict__,
                                                 "source": str(path)})
        old = service.runtime

        def broken(*_: Any, **__: Any) -> None:
            raise ValueError("the driver refused this value")

        monkeypatch.setattr(RedisProbe, "__init__", broken)
        path.write_text(yaml.safe_dump({**config, "redis": [
            {"name": "cache", "url": SHARED_REDIS_URL},
            {"name": "queue", "url": SHARED_REDIS_URL}]}))
        ok, message = await service.reload()
        assert not ok
        assert message == ("config error: the configuration cannot be built: the driver "
                           "refused this value")
        assert service.runtime is old and service.runtime.scheduler is not None
        assert service.store.get("wedsync_config_last_reload_successful") == 0
        runs = service.store.get("wedsync_probe_runs_total",
                                 {"component": "redis", "target": "cache"}) or 0
        for _ in range(50):
            await asyncio.sleep(0.1)
            if (service.store.get("wedsync_probe_runs_total",
                                  {"component": "redis", "target": "cache"}) or 0) > runs:
                break
        else:
            raise AssertionError("the old redis probe stopped running")


def _health(url: str) -> int:
    request = urllib.request.Request(f"{url}/api/system/health",
                                     headers={"Authorization": f"Bearer {ADMIN}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def test_rate_limits_survive_reloads_and_changed_limits_apply(make_exporter) -> None:
    config = exporter_config(tokens={"admin": "${ADMIN_TOKEN}"},
                             rate_limits={"health": "3/minute", "reload": "100/minute"})
    exporter = make_exporter(config, env={"ADMIN_TOKEN": ADMIN})
    assert [_health(exporter.url) for _ in range(4)] == [200, 200, 200, 429]
    assert _post_reload(exporter.url)[0] == 200
    assert _health(exporter.url) == 429  # a reload hands out no fresh allowance
    exporter.write_config({**config, "rate_limits": {"health": "5/minute",
                                                     "reload": "100/minute"}})
    assert _post_reload(exporter.url)[0] == 200
    # The raised limit applies at once, counting the three already used.
    assert [_health(exporter.url) for _ in range(3)] == [200, 200, 429]
    exporter.write_config({**config, "rate_limits": {"health": "2/minute",
                                                     "reload": "100/minute"}})
    assert _post_reload(exporter.url)[0] == 200
    assert _health(exporter.url) == 429


def test_the_reload_limit_applies_across_reloads(make_exporter) -> None:
    config = exporter_config(tokens={"admin": "${ADMIN_TOKEN}"},
                             rate_limits={"reload": "2/minute"})
    exporter = make_exporter(config, env={"ADMIN_TOKEN": ADMIN})
    assert [_post_reload(exporter.url)[0] for _ in range(3)] == [200, 200, 429]


def test_the_log_level_follows_a_reload(make_exporter) -> None:
    config = exporter_config(tokens={"admin": "${ADMIN_TOKEN}"},
                             log={"level": "warning", "format": "logfmt"})
    exporter = make_exporter(config, env={"ADMIN_TOKEN": ADMIN})
    assert _post_reload(exporter.url)[0] == 200
    assert "event=reloaded" not in exporter.logs()  # info is below warning
    exporter.write_config({**config, "log": {"level": "info", "format": "logfmt"}})
    assert _post_reload(exporter.url)[0] == 200
    eventually(lambda: "event=reloaded" in exporter.logs())
