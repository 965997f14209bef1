"""Your own alert settings without editing the code (as kubernetes-mixin's ``_config``).

An overrides file (YAML, or JSON, which is YAML too) given to ``python -m alerts build
--overrides FILE`` (or named by ``WEDSYNC_ALERTS_OVERRIDES``) changes the runbook base URL and,
per alert, the threshold and ``for:`` of other days and of wedding days::

    runbook_base_url: https://wiki.example.com/wedsync/runbooks
    alerts:
      WedSyncDatabaseConnectionsHigh:
        other_days: {threshold: 0.85, for: 15m}
        wedding_days: {threshold: 0.75}

Everything not named keeps the shipped value. A key or alert that does not exist, a threshold
for an alert whose expression has none, or a ``for:`` that is not a duration is refused with one
sentence saying what to change: a typo must not silently leave the shipped value in force.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from alerts import durations
from alerts.model import THRESHOLD, Alert, Timing

ENVIRONMENT = "WEDSYNC_ALERTS_OVERRIDES"
DAYS = ("other_days", "wedding_days")
TIMING_KEYS = ("threshold", "for")


class OverridesError(ValueError):
    """The overrides file cannot be used; the message says where and why."""


@dataclass(frozen=True)
class Overrides:
    """What a user changed; empty means the shipped rules."""

    runbook_base_url: str | None = None
    # Alert name -> day ("other_days" / "wedding_days") -> {"threshold": float, "for": str}.
    alerts: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)

    def check(self, alerts: Iterable[Alert]) -> None:
        """OverridesError unless every overridden alert and setting exists."""
        by_name = {a.name: a for a in alerts}
        for name, days in self.alerts.items():
            alert = by_name.get(name)
            if alert is None:
                raise OverridesError(f"alerts.{name}: there is no such alert; see docs/alerts.md "
                                     f"for their names")
            for day, settings in days.items():
                if day == "wedding_days" and alert.wedding_days is None:
                    raise OverridesError(
                        f"alerts.{name}.wedding_days: this alert has one timing for every day; "
                        f"override other_days")
                if "threshold" in settings and THRESHOLD not in alert.expr:
                    raise OverridesError(f"alerts.{name}.{day}.threshold: this alert's "
                                         f"expression has no threshold to change")

    def apply(self, alert: Alert) -> Alert:
        """``alert`` with its overridden timings."""
        days = self.alerts.get(alert.name)
        if not days:
            return alert
        changes: dict[str, Timing] = {}
        for day, settings in days.items():
            timing = getattr(alert, day)
            assert timing is not None  # check() refused a timing that does not exist
            changes[day] = Timing(settings.get("for", timing.for_),
                                  settings.get("threshold", timing.threshold))
        return dataclasses.replace(alert, **changes)  # type: ignore[arg-type]


def _timing(where: str, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict) or not raw:
        raise OverridesError(f"{where}: expected a mapping with threshold and/or for")
    unknown = sorted(set(raw) - set(TIMING_KEYS))
    if unknown:
        raise OverridesError(f"{where}: unknown key {unknown[0]!r}; expected threshold or for")
    out: dict[str, Any] = {}
    if "threshold" in raw:
        value = raw["threshold"]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise OverridesError(f"{where}.threshold: expected a number, got {value!r}")
        out["threshold"] = float(value)
    if "for" in raw:
        text = str(raw["for"])
        try:
            durations.seconds(text)
        except Exception:  # promql-parser raises its own errors for a bad duration
            raise OverridesError(f"{where}.for: {text!r} is not a duration; expected e.g. "
                                 f"30s, 5m, 1h") from None
        out["for"] = text
    return out


def parse(document: Any, source: str = "overrides") -> Overrides:
    """Overrides from a parsed document (the file's contents)."""
    if document is None:
        return Overrides()
    if not isinstance(document, dict):
        raise OverridesError(f"{source}: expected a mapping with runbook_base_url and/or alerts")
    unknown = sorted(set(document) - {"runbook_base_url", "alerts"})
    if unknown:
        raise OverridesError(f"{source}: unknown key {unknown[0]!r}; expected runbook_base_url "
                             f"or alerts")
    base = document.get("runbook_base_url")
    if base is not None and (not isinstance(base, str) or "://" not in base):
        raise OverridesError(f"{source}: runbook_base_url must be a URL such as "
                             f"https://wiki.example.com/runbooks")
    alerts: dict[str, dict[str, dict[str, Any]]] = {}
    for name, days in (document.get("alerts") or {}).items():
        if not isinstance(days, dict) or not days:
            raise OverridesError(f"alerts.{name}: expected other_days and/or wedding_days")
        for day, raw in days.items():
            if day not in DAYS:
                raise OverridesError(f"alerts.{name}: unknown key {day!r}; expected "
                                     f"other_days or wedding_days")
            alerts.setdefault(str(name), {})[day] = _timing(f"alerts.{name}.{day}", raw)
    return Overrides(base.rstrip("/") if base else None, alerts)


def load(path: str | os.PathLike[str]) -> Overrides:
    """The overrides in the YAML or JSON file at ``path``."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise OverridesError(f"cannot read overrides file {file}: {exc.strerror}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        raise OverridesError(f"overrides file {file} is not valid YAML or JSON") from None
    return parse(document, str(file))


def from_environment(environ: Mapping[str, str] | None = None) -> Overrides:
    """The overrides of the file ``WEDSYNC_ALERTS_OVERRIDES`` names (none when unset)."""
    path = (os.environ if environ is None else environ).get(ENVIRONMENT, "")
    return load(path) if path else Overrides()
