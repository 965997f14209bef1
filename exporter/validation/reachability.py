"""Auth, Realtime and API checks: reachable and within latency thresholds.

Judged from the results the probes keep (``runtime.states``), so validation adds no load and
does not depend on how each prober works.
"""

from __future__ import annotations

from exporter.config.model import Target
from exporter.status import TargetState
from exporter.validation.findings import Finding, note


def checks_of(component: str) -> list[tuple[str, str]]:
    """(check, default severity) of a probed component."""
    return [(f"{component}_unreachable", "critical"), (f"{component}_latency_high", "warning")]


def validate_probed(component: str, targets: tuple[Target, ...],
                    states: dict[tuple[str, str], TargetState]) -> list[Finding]:
    """Findings from the last probe of each target of ``component``."""
    if not targets:
        return [note(f"no {component} target is configured; nothing to check")]
    findings = []
    for target in targets:
        state = states.get((component, target.name))
        if state is None or state.up is None:
            findings.append(note(f"{component} target {target.name} has not been probed yet"))
            continue
        if not state.up:
            findings.append(Finding(
                f"{component}_unreachable", "critical",
                f"{target.name}: {component} is unreachable ({state.last_error or 'no answer'})",
                f"Check that {component} runs and that the exporter can reach it."))
            continue
        latency = state.latency or 0.0
        limits = target.thresholds
        for limit, severity in ((limits.critical, "error"), (limits.degraded, "warning")):
            if limit is not None and latency > limit:
                findings.append(Finding(
                    f"{component}_latency_high", severity,
                    f"{target.name}: {component} answered in {latency * 1000:.0f} ms, above "
                    f"the {'critical' if severity == 'error' else 'degraded'} threshold of "
                    f"{limit * 1000:.0f} ms",
                    f"Find what slows {component} down before peak load."))
                break
    return findings
