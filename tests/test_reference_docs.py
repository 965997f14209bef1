"""The references under docs/reference/ are generated from code and kept fresh."""

from __future__ import annotations

from docsgen.__main__ import DOCUMENTS, stale
from exporter.catalogue import FAMILIES


def test_reference_documents_match_the_code() -> None:
    assert stale() == [], "run: python -m docsgen build"


def test_every_family_is_in_the_metrics_reference() -> None:
    text = DOCUMENTS["metrics.md"]()
    for fam in FAMILIES:
        assert f"`{fam.name}`" in text
