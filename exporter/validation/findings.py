"""What a check finds, and how findings make an answer."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from exporter.components import REGISTRY

SEVERITIES: tuple[str, ...] = ("info", "warning", "error", "critical")
VALIDATION_TYPES: tuple[str, ...] = ("schema", "permissions", "performance", "security")
# Findings at these severities make an answer invalid; info and warning are advice.
INVALIDATING = frozenset({"error", "critical"})


@dataclass(frozen=True)
class Finding:
    """One issue: the check that found it (None for notes), how bad, what, and what to do."""

    check: str | None
    severity: str
    message: str
    recommendation: str

    def as_json(self) -> dict[str, Any]:
        return {"check": self.check, "severity": self.severity, "message": self.message,
                "recommendation": self.recommendation}


def note(message: str) -> Finding:
    """An info note that is not a finding of any check (e.g. nothing to check)."""
    return Finding(None, "info", message, "")


def worst(findings: Iterable[Finding]) -> str:
    """The highest severity among ``findings`` (info when there are none)."""
    return max((f.severity for f in findings), key=SEVERITIES.index, default="info")


def answer(findings: list[Finding]) -> dict[str, Any]:
    """The validation answer of DESIGN.md: valid, issues, recommendations, severity."""
    recommendations: list[str] = []
    for finding in findings:
        if finding.recommendation and finding.recommendation not in recommendations:
            recommendations.append(finding.recommendation)
    return {
        "valid": not any(f.severity in INVALIDATING for f in findings),
        "issues": [f.as_json() for f in findings],
        "recommendations": recommendations,
        "severity": worst(findings),
    }


# Validated without being a probed component: the platform's deploys (DESIGN.md: "every
# component, plus deployment").
DEPLOYMENT = "deployment"


def validated_components() -> tuple[str, ...]:
    """The components validation answers for (the registry's, less those declared not
    validated), plus ``deployment``."""
    return (*(c.name for c in REGISTRY if c.validated), DEPLOYMENT)
