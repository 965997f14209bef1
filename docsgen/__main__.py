"""``python -m docsgen build`` writes docs/reference/*.md; ``check`` fails if any is stale."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from docsgen import configuration, metrics

REPO = Path(__file__).resolve().parent.parent
DOCUMENTS: dict[str, Callable[[], str]] = {
    "metrics.md": metrics.render,
    "configuration.md": configuration.render,
}


def stale() -> list[str]:
    """Reference documents whose committed text differs from what the code generates."""
    folder = REPO / "docs" / "reference"
    return [name for name, render in DOCUMENTS.items()
            if not (folder / name).exists() or (folder / name).read_text() != render()]


def main(argv: list[str]) -> int:
    folder = REPO / "docs" / "reference"
    if argv[:1] == ["build"]:
        folder.mkdir(parents=True, exist_ok=True)
        for name, render in DOCUMENTS.items():
            (folder / name).write_text(render())
        print(f"wrote {', '.join(DOCUMENTS)} in {folder}")
        return 0
    if argv[:1] == ["check"]:
        if names := stale():
            print(f"stale: {', '.join(names)}; run python -m docsgen build", file=sys.stderr)
            return 1
        return 0
    print("usage: python -m docsgen build|check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
