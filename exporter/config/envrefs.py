"""Environment references in configuration strings: ``${VAR}``, ``${VAR:-default}``, ``${VAR:-}``.

``${VAR}`` must be set (an unset one is an error that names it); ``${VAR:-default}`` falls back
to the default when VAR is unset or empty; ``${VAR:-}`` may be empty. ``$${`` writes a literal
``${``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_REF = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}")


class UnsetVariableError(ValueError):
    """A ``${VAR}`` reference without a default whose variable is not set."""


@dataclass
class Expanded:
    """The configuration tree with references replaced, and where references stood."""

    tree: Any
    referenced_paths: set[tuple[str | int, ...]] = field(default_factory=set)


def path_text(path: tuple[str | int, ...]) -> str:
    """``database[0].dsn`` for ``("database", 0, "dsn")``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def expand_string(text: str, env: Mapping[str, str], path: tuple[str | int, ...] = ()) -> str:
    """``text`` with every reference replaced from ``env``."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name, has_default, default = match.group(1), match.group(2), match.group(3)
        value = env.get(name)
        if has_default is not None:
            return value if value else (default or "")
        if value is None:
            where = f" (at {path_text(path)})" if path else ""
            raise UnsetVariableError(
                f"environment variable {name} is not set{where}; set it or write "
                f"${{{name}:-default}}"
            )
        return value

    return _REF.sub(replace, text)


def expand(tree: Any, env: Mapping[str, str]) -> Expanded:
    """Expand every string in a parsed YAML tree."""
    result = Expanded(tree=None)

    def walk(node: Any, path: tuple[str | int, ...]) -> Any:
        if isinstance(node, str):
            if "${" in node:
                result.referenced_paths.add(path)
            return expand_string(node, env, path)
        if isinstance(node, list):
            return [walk(item, (*path, i)) for i, item in enumerate(node)]
        if isinstance(node, dict):
            return {key: walk(value, (*path, str(key))) for key, value in node.items()}
        return node

    result.tree = walk(tree, ())
    return result
