"""Which receivers and group_wait an alert's labels get in prometheus/alertmanager.yml.

A small reading of the routing tree (equality matchers and ``continue``, which is all the
committed config uses) for docs and timing figures; the tests check routing with amtool.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CONFIG = Path(__file__).resolve().parent.parent / "prometheus" / "alertmanager.yml"


@dataclass(frozen=True)
class Delivery:
    """A receiver and the group_wait of the route that sends to it."""

    receiver: str
    group_wait: str


def _matches(route: dict[str, Any], labels: dict[str, str]) -> bool:
    for matcher in route.get("matchers", []):
        name, _, value = matcher.partition("=")
        if "~" in name or name.endswith("!"):
            raise ValueError(f"only equality matchers are understood here: {matcher}")
        if labels.get(name.strip()) != value.strip().strip('"'):
            return False
    return True


def _walk(route: dict[str, Any], labels: dict[str, str], wait: str) -> list[Delivery]:
    wait = route.get("group_wait", wait)
    found: list[Delivery] = []
    for child in route.get("routes", []):
        if _matches(child, labels):
            found += _walk({**child, "receiver": child.get("receiver", route["receiver"])},
                           labels, wait)
            if not child.get("continue", False):
                return found
    return found or [Delivery(route["receiver"], wait)]


def deliveries(labels: dict[str, str], config: Path = CONFIG) -> list[Delivery]:
    """Where an alert with ``labels`` goes, in routing order."""
    tree = yaml.safe_load(config.read_text())["route"]
    return _walk(tree, labels, tree.get("group_wait", "30s"))
