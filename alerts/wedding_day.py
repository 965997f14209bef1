"""Wedding-day mode in the rules: the day as a recorded series, and alerts expanded per day.

``wedsync:wedding_day:active`` is 1 on a wedding day and also when the exporter's
``wedsync_wedding_day`` gauge is missing (fail safe), else 0. ``wedsync:wedding_day:label``
carries the same fact as a label (``wedding_day="true"`` or ``"false"``, value 1) so that an
alert joins it onto its own labels without changing its value.

An alert of urgency "now" becomes one rule that joins the label on (same timing every day) or
two rules (a wedding-day and an other-day variant, each with its own threshold and ``for:``,
filtered on the day and labelled statically).
At midnight the label flips, which ends one alert and starts another; ``keep_firing_for`` (the
longest ``for:`` plus a margin) keeps the old one firing until the new one fires, and
Alertmanager does not group by ``wedding_day``, so the cause stays one notification group and
the pager is not triggered a second time. docs/alerts.md tells the whole story.
"""

from __future__ import annotations

from typing import Any

from alerts import durations
from alerts.model import Alert, Recording, Timing
from alerts.settings import BRIDGE, RUNBOOK_BASE_URL

ACTIVE = "wedsync:wedding_day:active"
LABEL = "wedsync:wedding_day:label"

RECORDINGS: tuple[Recording, ...] = (
    Recording(ACTIVE, "max(wedsync_wedding_day) or on () vector(1)",
              help="1 on a wedding day, and when wedsync_wedding_day is missing (fail safe); "
                   "else 0."),
    Recording(LABEL, "\n".join((
        f'label_replace({ACTIVE} == 1, "wedding_day", "true", "", "")',
        "or",
        f'label_replace({ACTIVE} == 0, "wedding_day", "false", "", "") + 1',
    )), help='Always 1; its label wedding_day ("true" or "false") is joined onto alerts.'),
)


def runbook_url(name: str, base: str = RUNBOOK_BASE_URL) -> str:
    """Where the runbook of alert ``name`` lives (under ``base``, the shipped one unless an
    overrides file says otherwise)."""
    return f"{base}/{name}.md"


def _indent(expr: str) -> str:
    return "\n".join(f"  {line}" for line in expr.strip().splitlines())


def joined(expr: str) -> str:
    """``expr`` with the day's wedding_day label joined on (value unchanged)."""
    return f"(\n{_indent(expr)}\n)\n* on () group_left (wedding_day) {LABEL}"


def filtered(expr: str, day: str) -> str:
    """``expr`` only on wedding days (``day`` "true") or only on other days ("false")."""
    wanted = 1 if day == "true" else 0
    return f"(\n{_indent(expr)}\n)\nand on ()\n{ACTIVE} == {wanted}"


def variants(alert: Alert) -> list[tuple[str | None, Timing]]:
    """(day, timing) per rule: day None means one rule for every day."""
    if alert.urgency == "later":
        return [(None, alert.other_days)]
    if alert.wedding_day_only:
        return [("true", alert.wedding_days or alert.other_days)]
    if alert.wedding_days is None or alert.wedding_days == alert.other_days:
        return [(None, alert.other_days)]
    return [("true", alert.wedding_days), ("false", alert.other_days)]


def keep_firing_for(alert: Alert) -> float:
    """Seconds a day-labelled rule keeps firing after its condition ends (0 for planning)."""
    if alert.urgency == "later":
        return 0.0
    longest = max(durations.seconds(timing.for_) for _, timing in variants(alert))
    return longest + durations.seconds(BRIDGE)


def rules(alert: Alert, extra_labels: dict[str, str], for_scale: float = 1.0,
          runbook_base: str = RUNBOOK_BASE_URL) -> list[dict[str, Any]]:
    """The Prometheus rules (as dicts, in file order) for one alert."""
    keep = keep_firing_for(alert)
    out: list[dict[str, Any]] = []
    for day, timing in variants(alert):
        expr = alert.expression(timing)
        day_label: dict[str, str] = {}
        if day is not None:
            # A static label, so that the two variants are distinct rules for promtool's lint.
            expr, day_label = filtered(expr, day), {"wedding_day": day}
        elif alert.urgency == "now":
            expr = joined(expr)
        rule: dict[str, Any] = {"alert": alert.name, "expr": expr}
        if durations.seconds(timing.for_) > 0:
            rule["for"] = durations.scaled(timing.for_, for_scale)
        if keep > 0:
            rule["keep_firing_for"] = durations.scaled(durations.text(keep), for_scale)
        rule["labels"] = {"severity": alert.severity, "category": alert.category,
                          **alert.labels, **day_label, **extra_labels}
        rule["annotations"] = {"summary": alert.summary, "description": alert.description,
                               "runbook_url": runbook_url(alert.name, runbook_base)}
        out.append(rule)
    return out
