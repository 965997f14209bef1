"""Every relative link in the README and the docs points at a file that exists, and the README's
two set-up commands are the ones the repo's scripts and CI run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import REPO

DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(#[^)]*)?\)")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(document: Path) -> None:
    for target, _ in LINK.findall(document.read_text()):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        assert (document.parent / target).exists(), f"{document.name} links to {target}"


def test_readme_gives_the_run_and_the_test_command_ci_uses() -> None:
    readme = (REPO / "README.md").read_text()
    assert ".venv/bin/wedsync-exporter --config exporter/example.yaml" in readme
    assert "bash scripts/test.sh" in readme
    assert "scripts/test.sh" in (REPO / ".ci" / "run").read_text()


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(REPO)))
def test_docs_stand_alone(document: Path) -> None:
    """A user has the repository and nothing beside it: no design file of another repository,
    no shared folder, no link that leaves the checkout."""
    text = document.read_text()
    for outside in ("DESIGN.md", "../shared", "REFERENCE.md", "STYLE.md"):
        assert outside not in text, f"{document.name} refers to {outside}, outside the repository"
    for target, _ in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue
        resolved = (document.parent / target).resolve()
        assert resolved.is_relative_to(REPO), f"{document.name} links outside the repo: {target}"
