"""Watching the stack during a drill: a thread that polls Prometheus' alerts, Alertmanager's
alerts, the exporter's liveness and the fault's dashboard symptom, and keeps a timeline.

Times are the wall clock of the poll that first saw a change, so they are late by at most one
poll interval (half a second in a fast drill, one second otherwise). Polling errors are counted
and the run goes on: a component that stops answering is a finding, not a crash.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from drill.apis import Alertmanager, APIError, Prometheus, status_of

LabelKey = tuple[tuple[str, str], ...]


def key_of(labels: dict[str, str]) -> LabelKey:
    return tuple(sorted(labels.items()))


@dataclass
class Episode:
    """One stretch during which an alert was firing."""

    fired_at: float
    resolved_at: float | None = None
    # It was already firing when the watch began (fired_at is then the watch's start).
    before_watch: bool = False


@dataclass
class AlertTimeline:
    """What the watch saw of one alert (one label set)."""

    labels: dict[str, str]
    severity: str = ""
    summary: str = ""
    pending_since: float | None = None
    episodes: list[Episode] = field(default_factory=list)
    receivers: set[str] = field(default_factory=set)
    inhibited_by_seen: bool = False

    @property
    def firing(self) -> bool:
        return bool(self.episodes) and self.episodes[-1].resolved_at is None


@dataclass
class Observations:
    """Everything the watch collected."""

    started_at: float
    stopped_at: float | None = None
    alerts: dict[LabelKey, AlertTimeline] = field(default_factory=dict)
    symptom_seen: list[float] = field(default_factory=list)
    health_polls: int = 0
    health_failures: list[float] = field(default_factory=list)
    polling_errors: list[str] = field(default_factory=list)


class Watcher:
    """Polls in a background thread from ``start()`` until ``stop()``."""

    def __init__(self, prometheus: Prometheus, alertmanager: Alertmanager | None,
                 exporter_url: str | None, symptom: str | None, interval: float) -> None:
        self.prometheus = prometheus
        self.alertmanager = alertmanager
        self.health_url = f"{exporter_url.rstrip('/')}/-/healthy" if exporter_url else None
        self.symptom = symptom
        self.interval = interval
        self.observations = Observations(started_at=time.time())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="drill-watch", daemon=True)
        self._first = True

    def start(self) -> Watcher:
        self.observations.started_at = time.time()
        self._poll()  # the state at the start, before the run changes anything
        self._thread.start()
        return self

    def stop(self) -> Observations:
        """Stop polling (after one last poll) and return what was seen."""
        self._stop.set()
        self._thread.join(30)
        self._poll()
        self.observations.stopped_at = time.time()
        return self.observations

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._poll()

    def _poll(self) -> None:
        now = time.time()
        for step in (self._poll_prometheus, self._poll_alertmanager, self._poll_health,
                     self._poll_symptom):
            try:
                step(now)
            except APIError as error:
                if len(self.observations.polling_errors) < 100:
                    self.observations.polling_errors.append(f"{now:.1f} {error}")
        self._first = False

    def _timeline(self, labels: dict[str, str]) -> AlertTimeline:
        key = key_of(labels)
        if key not in self.observations.alerts:
            self.observations.alerts[key] = AlertTimeline(labels=dict(labels))
        return self.observations.alerts[key]

    def _poll_prometheus(self, now: float) -> None:
        firing: set[LabelKey] = set()
        for alert in self.prometheus.alerts():
            labels: dict[str, str] = alert["labels"]
            timeline = self._timeline(labels)
            timeline.severity = labels.get("severity", "")
            timeline.summary = alert.get("annotations", {}).get("summary", "")
            if alert["state"] == "pending":
                timeline.pending_since = timeline.pending_since or now
                continue
            if alert["state"] != "firing":
                continue
            firing.add(key_of(labels))
            if not timeline.firing:
                timeline.episodes.append(Episode(fired_at=now, before_watch=self._first))
        for key, timeline in self.observations.alerts.items():
            if timeline.firing and key not in firing:
                timeline.episodes[-1].resolved_at = now

    def _poll_alertmanager(self, _: float) -> None:
        if self.alertmanager is None:
            return
        for alert in self.alertmanager.alerts():
            timeline = self._timeline(alert["labels"])
            timeline.receivers.update(r["name"] for r in alert.get("receivers", []))
            if alert.get("status", {}).get("inhibitedBy"):
                timeline.inhibited_by_seen = True

    def _poll_health(self, now: float) -> None:
        if self.health_url is None:
            return
        self.observations.health_polls += 1
        if status_of(self.health_url) != 200:
            self.observations.health_failures.append(now)

    def _poll_symptom(self, now: float) -> None:
        if self.symptom and self.prometheus.query(self.symptom):
            self.observations.symptom_seen.append(now)


def summarise_for_json(observations: Observations) -> dict[str, Any]:
    """The raw watch facts worth keeping in the report."""
    return {"health_polls": observations.health_polls,
            "health_failures": len(observations.health_failures),
            "polling_errors": observations.polling_errors[:20]}
