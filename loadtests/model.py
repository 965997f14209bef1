"""The wedding-day load model as the Python side sees it: read from ``k6/profiles.json``, the
same file the k6 script builds its scenarios and thresholds from, so the two cannot disagree."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from loadtests import MODEL_FILE


@dataclass(frozen=True)
class Model:
    """The mix, the Realtime scenario's name and the profiles."""

    mix: dict[str, int]
    realtime_scenario: str
    profiles: dict[str, dict[str, Any]]
    thresholds: dict[str, list[Any]]
    paths: dict[str, str]

    @property
    def scenarios(self) -> tuple[str, ...]:
        """Every scenario: the HTTP mix in weight order, then Realtime."""
        return (*self.mix, self.realtime_scenario)

    def weight(self, scenario: str) -> float | None:
        """A mix scenario's share of the HTTP iterations (0-1); None for Realtime."""
        weight = self.mix.get(scenario)
        return None if weight is None else weight / sum(self.mix.values())

    def test_type(self, profile: str) -> str:
        """The ``load_test_results.test_type`` of a profile (soak is ``endurance``)."""
        return str(self.profiles[profile]["test_type"])


@cache
def load_model() -> Model:
    """The model in ``k6/profiles.json``."""
    raw = json.loads(MODEL_FILE.read_text())
    return Model(mix=dict(raw["mix"]), realtime_scenario=raw["realtime_scenario"],
                 profiles=dict(raw["profiles"]), thresholds=dict(raw["thresholds"]),
                 paths=dict(raw["paths"]))
