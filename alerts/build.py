"""Turns the rule definitions into the files under prometheus/rules/.

``render(for_scale)`` gives {file name: YAML text}; ``for_scale`` shortens every ``for:``,
``keep_firing_for:`` and group ``interval`` (never the windows inside expressions) for fast
test stacks. The committed files are ``render(1.0)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from alerts import capacity, components, durations, monitoring, slo, wedding_day
from alerts.metric_names import metric_names
from alerts.model import Alert, Group, Recording, RuleFile
from alerts.overrides import Overrides
from alerts.settings import GENERATED_HEADER, RUNBOOK_BASE_URL, SOURCE_LABEL
from exporter.catalogue import exposed_metric_names

REPO = Path(__file__).resolve().parent.parent
RULES_DIR = REPO / "prometheus" / "rules"

RULE_FILES: tuple[RuleFile, ...] = (
    RuleFile("wedding-day.yml", (Group("wedsync-wedding-day", recordings=wedding_day.RECORDINGS),)),
    RuleFile("slo.yml", slo.groups()),
    RuleFile("components.yml", components.groups()),
    RuleFile("monitoring.yml", monitoring.groups()),
    RuleFile("capacity.yml", capacity.groups()),
    RuleFile("uptime.yml", (Group("wedsync-components-uptime",
                                  recordings=components.UPTIME_RECORDINGS, interval="5m"),)),
)


def all_alerts() -> list[Alert]:
    """Every alert definition, in file order."""
    return [a for f in RULE_FILES for g in f.groups for a in g.alerts]


def all_recordings() -> list[Recording]:
    """Every recording rule, in file order."""
    return [r for f in RULE_FILES for g in f.groups for r in g.recordings]


def recorded_names() -> frozenset[str]:
    """The names recording rules define."""
    return frozenset(r.record for r in all_recordings())


def reads_exporter(expr: str) -> bool:
    """Whether ``expr`` reads the exporter's metrics, directly or through recording rules."""
    by_name: dict[str, list[str]] = {}
    for recording in all_recordings():
        by_name.setdefault(recording.record, []).append(recording.expr)
    exposed = exposed_metric_names()
    seen: set[str] = set()
    todo = list(metric_names(expr))
    while todo:
        name = todo.pop()
        if name in exposed:
            return True
        if name in by_name and name not in seen:
            seen.add(name)
            for body in by_name[name]:
                todo.extend(metric_names(body))
    return False


def _group(group: Group, for_scale: float, overrides: Overrides) -> dict[str, Any]:
    out: dict[str, Any] = {"name": group.name}
    if group.interval:
        # A fast test stack compresses a group's own interval as it compresses for: (the
        # 5-minute uptime group evaluates every 6 s at the harness' 0.02).
        out["interval"] = durations.scaled(group.interval, for_scale)
    rules: list[dict[str, Any]] = []
    for recording in group.recordings:
        rule: dict[str, Any] = {"record": recording.record, "expr": recording.expr}
        if recording.labels:
            rule["labels"] = dict(recording.labels)
        rules.append(rule)
    for written in group.alerts:
        alert = overrides.apply(written)
        extra = dict([SOURCE_LABEL]) if reads_exporter(alert.expression(alert.other_days)) else {}
        rules.extend(wedding_day.rules(alert, extra, for_scale,
                                       overrides.runbook_base_url or RUNBOOK_BASE_URL))
    out["rules"] = rules
    return out


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks, so expressions read as written."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def render(for_scale: float = 1.0, overrides: Overrides | None = None) -> dict[str, str]:
    """{file name: YAML text} of every rule file (with a user's ``overrides`` applied)."""
    overrides = overrides or Overrides()
    overrides.check(all_alerts())
    out = {}
    for rule_file in RULE_FILES:
        document = {"groups": [_group(g, for_scale, overrides) for g in rule_file.groups]}
        body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=1_000_000,
                         allow_unicode=True)
        out[rule_file.name] = GENERATED_HEADER + body
    return out


def write(directory: Path = RULES_DIR, for_scale: float = 1.0,
          overrides: Overrides | None = None) -> list[Path]:
    """Write every rule file into ``directory``; the paths written."""
    texts = render(for_scale, overrides)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in texts.items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written


def differences(directory: Path = RULES_DIR) -> list[str]:
    """Rule files in ``directory`` that differ from what ``render()`` gives (or are extra)."""
    wanted = render()
    found = {p.name for p in directory.glob("*.yml")}
    out = [name for name, text in wanted.items()
           if not (directory / name).exists() or (directory / name).read_text() != text]
    out += sorted(found - set(wanted))
    return out
