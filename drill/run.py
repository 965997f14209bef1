"""One drill from start to report.

The timeline: check the stack answers and has the rules; start watching; start k6; at
``at`` seconds inject the fault; ``fault_duration`` later mend it (always — also when anything
else fails or the drill is interrupted); wait for k6 to finish; then keep watching until every
alert the fault explains has resolved and the pager has been told (at most
``resolve_timeout``); then read the series for the charts, analyse, judge and write the report.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from drill import analysis, charts, report
from drill.apis import Alertmanager, APIError, Prometheus, get_json, status_of
from drill.faults import AlertMatch, Fault
from drill.injection import InjectionError, Injector, injector_for
from drill.target import Target
from drill.timing import Promise, component_promise, fault_promise
from drill.verdict import Evidence, judge
from drill.watch import Watcher, summarise_for_json
from exporter.human_time import duration_text
from loadtests.runner import RunError, RunSettings, public_url
from loadtests.runner import run as run_k6

EXPORTER_JOB = "wedsync-exporter"
# How far back the burn-rate promise looks for the SLI's history (the 1h tier's long window,
# with room to spare).
HISTORY_LOOKBACK = 7200.0


class DrillError(RuntimeError):
    """The drill cannot start; the message says what to fix."""


@dataclass(frozen=True)
class Plan:
    """What to rehearse: the fault and when, the load, and how long to wait for the all-clear."""

    fault: Fault
    params: dict[str, float] = field(default_factory=dict)
    at: float = 10.0
    fault_duration: float = 20.0
    profile: str = "smoke"
    load_duration: float = 60.0
    rate: int | None = None
    realtime_rate: int | None = None
    resolve_timeout: float = 120.0
    tolerance: float = 10.0
    inject_command: str | None = None
    recover_command: str | None = None
    exporter_job: str = EXPORTER_JOB
    out: Path = Path("reports")
    drill_id: str = ""

    def identified(self) -> Plan:
        """This plan with a drill id (``<fault>-<UTC time>-<4 hex>``) if it had none."""
        if self.drill_id:
            return self
        now = dt.datetime.now(dt.UTC)
        return replace(self, drill_id=f"drill-{self.fault.name}-{now:%Y%m%dT%H%M%SZ}-"
                                      f"{secrets.token_hex(2)}")


def expecting(fault: Fault, alerts: list[str]) -> Fault:
    """``fault`` with the detecting alerts a user names (for ``--fault command``)."""
    if not alerts:
        return fault
    return replace(fault, detecting=tuple(AlertMatch.parse(a) for a in alerts))


@dataclass
class Outcome:
    """A finished drill: its report document and files."""

    report: dict[str, Any]
    directory: Path
    json_path: Path
    html_path: Path

    @property
    def ready(self) -> bool:
        return bool(self.report["verdict"] == "READY")


COMMITTED_GROUP_INTERVAL = 300.0  # the pager routes' group_interval in alertmanager.yml


def preflight(target: Target, fault: Fault, prometheus: Prometheus) -> list[dict[str, Any]]:
    """Refuse to start against a stack that is not all there (DrillError says what is not);
    Prometheus' rules."""
    if not prometheus.ready():
        raise DrillError(f"Prometheus at {target.prometheus_url} is not ready")
    if target.alertmanager_url and not Alertmanager(target.alertmanager_url).ready():
        raise DrillError(f"Alertmanager at {target.alertmanager_url} is not ready")
    if target.exporter_url and status_of(f"{target.exporter_url}/-/healthy") != 200:
        raise DrillError(f"the exporter at {target.exporter_url} does not answer /-/healthy")
    try:
        rules = prometheus.rules()
    except APIError as error:
        raise DrillError(f"cannot read Prometheus' rules: {error}") from None
    loaded = {rule.get("name") for rule in rules if rule.get("type") == "alerting"}
    missing = sorted({m.name for m in fault.detecting} - loaded)
    if missing:
        raise DrillError(f"Prometheus has no alert rule {', '.join(missing)}: load "
                         f"prometheus/rules/*.yml into it first")
    return rules


def allowances_for(rules: list[dict[str, Any]], target: Target) -> dict[str, float]:
    """Per alert, seconds after recovery by which it is due to have resolved and paged so."""
    timing = target.timing
    group_interval = (timing.group_interval if timing.group_interval is not None
                      else COMMITTED_GROUP_INTERVAL)
    travel = (timing.probe_interval + timing.scrape_interval + 2 * timing.evaluation_interval
              + group_interval)
    return analysis.resolve_allowances(rules, travel)


def _sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


def _still_due(prometheus: Prometheus, target: Target, fault: Fault, injected_at: float,
               recovered_at: float, allowances: dict[str, float], tolerance: float) -> bool:
    """Whether something the fault set off is still to clear within its time: an alert it
    explains pending or firing, or a page for it not yet resolved."""
    now = time.time()
    active = [a["labels"]["alertname"] for a in prometheus.alerts() if fault.explains(a["labels"])]
    if any(now < recovered_at + allowances.get(name, 0.0) + tolerance for name in active):
        return True
    pages = analysis.incidents(target.notifications.notifications(), target.pager_receiver)
    open_pages = [p for p in pages if p.resolved_at is None and p.opened_at >= injected_at
                  and any(fault.explains(a) for a in p.alerts)]
    longest = max(allowances.values(), default=0.0)
    return bool(open_pages) and now < recovered_at + longest + tolerance


def _wait_for_all_clear(prometheus: Prometheus, target: Target, plan: Plan,
                        injected_at: float | None, recovered_at: float | None,
                        allowances: dict[str, float], deadline: float, interval: float) -> None:
    """Wait until the fault's alerts and pages have cleared, or are overdue, or the deadline."""
    if injected_at is None or recovered_at is None:
        return
    while time.time() < deadline:
        try:
            if not _still_due(prometheus, target, plan.fault, injected_at, recovered_at,
                              allowances, plan.tolerance):
                return
        except APIError:
            pass  # the watch records it; keep waiting
        time.sleep(interval)


class LoadRun:
    """k6 in a background thread (loadtests' runner)."""

    def __init__(self, settings: RunSettings, environment: dict[str, str]) -> None:
        self.settings = settings
        self.environment = environment
        self.summary: dict[str, Any] | None = None
        self.summary_path: str | None = None
        self.error: str | None = None
        self.thread = threading.Thread(target=self._run, name="drill-k6", daemon=True)

    def _run(self) -> None:
        try:
            outcome = run_k6(self.settings, self.environment)
        except (RunError, OSError) as error:
            self.error = f"the load test could not run: {error}"
            return
        self.summary = outcome.summary
        self.summary_path = str(outcome.run_dir / "summary.json")


def _wedding_day(prometheus: Prometheus, at: float) -> bool | None:
    try:
        value = prometheus.scalar("max(wedsync:wedding_day:active)", at)
    except APIError:
        return None
    return None if value is None else value >= 1


def _history(prometheus: Prometheus, slo: str, before: float, step: float) -> float:
    """Seconds of SLI data before ``before`` (inf when it reaches past the lookback)."""
    start = before - HISTORY_LOOKBACK
    try:
        result = prometheus.query_range(f'slo:sli_total:rate5m{{slo="{slo}"}} > 0', start,
                                        before, max(step, HISTORY_LOOKBACK / 1000))
    except APIError:
        return math.inf
    if not result or not result[0]["values"]:
        return 0.0
    first = float(result[0]["values"][0][0])
    return math.inf if first <= start + step else before - first


def promise_for(prometheus: Prometheus, target: Target, plan: Plan, detection_alert: str | None,
                times: analysis.DrillTimes) -> Promise | None:
    """The promised time to page for this fault on this stack, at the run's day and share."""
    fault, injected = plan.fault, times.injected_at
    if injected is None or not fault.detecting:
        return None
    wedding_day = _wedding_day(prometheus, injected)
    day = True if wedding_day is None else wedding_day  # the rules fail safe the same way
    if fault.slos:
        # The share the fault was told to fail (every request's timing counts, the health
        # probe's too, so the real share is a little lower: the promise errs on the early side).
        history = _history(prometheus, fault.slos[0], injected,
                           target.timing.evaluation_interval)
        return fault_promise(fault, plan.params, day, target.timing, history)
    name = detection_alert or fault.detecting[0].name
    try:
        return component_promise(name, day, target.timing, fault.hangs)
    except (KeyError, ValueError):
        return None  # an alert this repo does not define (a user's --expect-alert)


def _sandbox_timings(target: Target) -> dict[str, Any] | None:
    if not target.sandbox_url:
        return None
    try:
        return dict(get_json(f"{target.sandbox_url.rstrip('/')}/_sandbox/timings"))
    except APIError:
        return None


def run_drill(target: Target, plan: Plan, say: Callable[[str], None] = print) -> Outcome:
    """Run one drill against ``target`` and write its report."""
    plan = plan.identified()
    fault = plan.fault
    prometheus = Prometheus(target.prometheus_url)
    alertmanager = Alertmanager(target.alertmanager_url) if target.alertmanager_url else None
    # Absolute once: k6 and the injection commands run in other directories.
    directory = plan.out.absolute() / plan.drill_id
    directory.mkdir(parents=True, exist_ok=True)
    try:
        injector = injector_for(fault, plan.params, target.own, target.sandbox_url,
                                plan.inject_command, plan.recover_command,
                                directory / "commands.log")
    except ValueError as error:
        raise DrillError(str(error)) from None
    allowances = allowances_for(preflight(target, fault, prometheus), target)

    poll = min(1.0, target.timing.evaluation_interval / 2)
    watcher = Watcher(prometheus, alertmanager, target.exporter_url, fault.symptom, poll)
    overrides = {"DURATION": f"{int(plan.load_duration)}s"}
    if plan.rate is not None:
        overrides["RATE"] = str(plan.rate)
    if plan.realtime_rate is not None:
        overrides["REALTIME_RATE"] = str(plan.realtime_rate)
    load = LoadRun(RunSettings(profile=plan.profile, base_url=target.base_url,
                               realtime_url=target.realtime_url, results=directory / "k6",
                               testid=plan.drill_id, prometheus_url=target.prometheus_url,
                               overrides=overrides, timeout=plan.load_duration + 120),
                   {**os.environ, **target.k6_environment})

    started_at = time.time()
    watcher.start()
    say(f"{plan.drill_id}: load ({plan.profile}, {duration_text(plan.load_duration)}) started; "
        f"fault {fault.name} at +{duration_text(plan.at)} for "
        f"{duration_text(plan.fault_duration)}")
    load_started_at = time.time()
    load.thread.start()
    errors: list[str] = []
    killed: list[str] = []
    kill = None
    if target.kill_one_of_each is not None:
        kill_parts = target.kill_one_of_each

        def kill() -> str:
            killed.append(kill_parts())
            return killed[-1]
    injected_at, recovered_at = _timeline(injector, plan, load_started_at, errors, say, kill)
    load.thread.join()
    load_ended_at = time.time()
    if load.error:
        errors.append(load.error)
    say(f"{plan.drill_id}: load finished; waiting for the all-clear")
    _wait_for_all_clear(prometheus, target, plan, injected_at, recovered_at, allowances,
                        load_ended_at + plan.resolve_timeout, poll)
    time.sleep(poll)  # one more poll sees the last resolution
    observations = watcher.stop()
    times = analysis.DrillTimes(started_at=started_at, load_started_at=load_started_at,
                                load_ended_at=load_ended_at, finished_at=time.time(),
                                injected_at=injected_at, recovered_at=recovered_at)
    document = _analyse(target, plan, prometheus, observations, load, times, errors,
                        injector.describe(), directory, allowances)
    if target.kill_one_of_each is not None:
        document["ha"] = {"killed": killed, "watchdog_every_seconds": target.watchdog_every,
                          "watchdog_longest_gap_seconds": document.get("watchdog_gap")}
    document.pop("watchdog_gap", None)
    json_path, html_path = report.write(document, directory)
    say(document["headline"])
    return Outcome(document, directory, json_path, html_path)


def _timeline(injector: Injector, plan: Plan, load_started_at: float, errors: list[str],
              say: Callable[[str], None], kill: Callable[[], str] | None = None
              ) -> tuple[float | None, float | None]:
    """Inject at the planned time and always mend; (injected_at, recovered_at). With ``kill``
    (the HA stack), one of each part of the monitoring dies right after the injection."""
    if plan.fault.name == "none":
        return None, None
    injected_at = recovered_at = None
    try:
        _sleep_until(load_started_at + plan.at)
        injector.inject()
        injected_at = time.time()
        say(f"fault injected: {injector.describe()}")
        if kill is not None:
            try:
                say(kill())
            except OSError as error:
                errors.append(f"the monitoring's parts could not be killed: {error}")
        _sleep_until(injected_at + plan.fault_duration)
    except InjectionError as error:
        errors.append(f"the fault could not be injected: {error}")
    finally:
        if injected_at is not None:
            try:
                injector.recover()
                recovered_at = time.time()
                say("fault mended")
            except InjectionError as error:
                errors.append(f"the fault could not be mended: {error}")
    return injected_at, recovered_at


def _analyse(target: Target, plan: Plan, prometheus: Prometheus,
             observations: Any, load: LoadRun, times: analysis.DrillTimes, errors: list[str],
             injector: str, directory: Path, allowances: dict[str, float]
             ) -> dict[str, Any]:
    fault = plan.fault
    notifications = target.notifications.notifications()
    detection_alert = None
    promise = None
    if times.injected_at is not None:
        preliminary = analysis.detection_of(observations, fault, times,
                                            analysis.Pages(target.pager_receiver))
        detection_alert = preliminary.alert
        promise = promise_for(prometheus, target, plan, detection_alert, times)
    pages = analysis.pages_of(notifications, target.pager_receiver, fault, times,
                              expected_to_page=promise is not None)
    detection = analysis.detection_of(observations, fault, times, pages, allowances)
    detection.promise = promise
    slos = analysis.slo_results(prometheus, fault, times)
    load_result = analysis.load_result(load.summary, load.summary_path, fault)
    exporter = analysis.exporter_health(prometheus, observations, times, plan.exporter_job,
                                        target.exporter_matchers)
    watchdog_gap = (analysis.longest_watchdog_gap(notifications, times)
                    if target.watchdog_every is not None else None)
    alerts = analysis.alert_rows(observations, fault, times)
    evidence = Evidence(fault=fault, injected=times.injected_at is not None,
                        drill_errors=errors, detection=detection, pages=pages, slos=slos,
                        load=load_result, exporter=exporter, tolerance_seconds=plan.tolerance,
                        watchdog_every=target.watchdog_every, watchdog_gap=watchdog_gap)
    judged = judge(evidence)
    chart_data = charts.collect(prometheus, times, target.timing.scrape_interval,
                                target.timing.evaluation_interval, plan.drill_id)
    chart_list = charts.draw(directory, chart_data, alerts, pages.during_drill, times)
    return {
        "format": report.FORMAT, "drill_id": plan.drill_id, **judged,
        "started_at": times.started_at, "finished_at": times.finished_at,
        "duration_seconds": round(times.finished_at - times.started_at, 1),
        "target": {"mode": target.mode, "prometheus": public_url(target.prometheus_url),
                   "alertmanager": public_url(target.alertmanager_url or "") or None,
                   "exporter": public_url(target.exporter_url or "") or None,
                   "api": public_url(target.base_url),
                   "notifications": target.notifications.describe(),
                   "pager_receiver": target.pager_receiver},
        "settings": {**target.timing.to_json(), "profile": plan.profile,
                     "load_duration_seconds": plan.load_duration, "fault_at_seconds": plan.at,
                     "fault_duration_seconds": plan.fault_duration,
                     "tolerance_seconds": plan.tolerance,
                     "wedding_day": _wedding_day(prometheus, times.injected_at
                                                 or times.load_ended_at)},
        "fault": {"name": fault.name, "title": fault.title, "params": plan.params,
                  "injector": injector, "injected_at": times.injected_at,
                  "injected_offset_seconds": times.offset(times.injected_at),
                  "recovered_at": times.recovered_at,
                  "recovered_offset_seconds": times.offset(times.recovered_at),
                  "detecting_alerts": [m.describe() for m in fault.detecting],
                  "related_alerts": [m.describe() for m in fault.related],
                  "slos_broken_by_design": list(fault.slos),
                  "k6_thresholds_crossed_by_design": list(fault.k6_metrics),
                  "errors": errors},
        "detection": analysis.to_json(detection),
        "alerts": alerts,
        "pages": analysis.to_json(pages),
        "slos": analysis.to_json(slos),
        "load": analysis.to_json(load_result),
        "exporter": analysis.to_json(exporter),
        "sandbox_timings": _sandbox_timings(target),
        "charts": chart_list,
        "watch": summarise_for_json(observations),
        "watchdog_gap": None if watchdog_gap is None else round(watchdog_gap, 1),
    }
