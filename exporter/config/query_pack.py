"""The built-in queries (the wedding pack), kept in ``wedding_pack.yaml`` in the very shape of a
configured query, so that they are validated, documented and run exactly like an SRE's own."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

PACK_FILE = Path(__file__).with_name("wedding_pack.yaml")


@cache
def builtin_queries() -> dict[str, dict[str, Any]]:
    """The built-in queries by name, each a ``queries`` entry of the configuration."""
    loaded = yaml.safe_load(PACK_FILE.read_text(encoding="utf-8"))
    return dict(loaded)


BUILTIN_NAMES: tuple[str, ...] = tuple(builtin_queries())
