"""The stack's generated exporter tokens (admin, ingest, deploy) and the file that hands them to
the person who started it.

The exporter reads them from ``WEDSYNC_ADMIN_TOKEN``, ``WEDSYNC_INGEST_TOKEN`` and
``WEDSYNC_DEPLOY_TOKEN`` (the variables ``exporter/example.yaml`` references), passed in its
environment — never on a command line, in a config file or in output. The person gets them in one
file readable only by its owner (0600), written as ``NAME=value`` lines so that a shell can
load it (``set -a; . FILE; set +a``) and ``wedsync-deploy-gate`` then finds its token and URL in
the environment, or one value can be read with ``sed -n 's/^WEDSYNC_ADMIN_TOKEN=//p' FILE``.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

# Token kind -> the exporter's environment variable (exporter/example.yaml's references).
VARIABLES = {"admin": "WEDSYNC_ADMIN_TOKEN", "ingest": "WEDSYNC_INGEST_TOKEN",
             "deploy": "WEDSYNC_DEPLOY_TOKEN"}
EXPORTER_URL_VARIABLE = "WEDSYNC_EXPORTER_URL"


@dataclass(frozen=True)
class StackTokens:
    """One bearer token per kind."""

    admin: str
    ingest: str
    deploy: str

    @classmethod
    def generate(cls, given: dict[str, str] | None = None) -> StackTokens:
        """Fresh random tokens; a non-empty value for a kind's variable in ``given`` (the
        exporter environment a caller chose) is kept instead, so the file tells the truth."""
        given = given or {}
        chosen = {kind: given.get(variable) or secrets.token_urlsafe(32)
                  for kind, variable in VARIABLES.items()}
        return cls(**chosen)

    def environment(self) -> dict[str, str]:
        """The exporter's environment variables for these tokens."""
        return {variable: getattr(self, kind) for kind, variable in VARIABLES.items()}

    def values(self) -> list[str]:
        """Every token (to check that none leaks into output or logs)."""
        return [self.admin, self.ingest, self.deploy]

    def write(self, path: Path, exporter_url: str) -> Path:
        """Write ``NAME=value`` lines to ``path``, created readable only by its owner (0600)
        before any secret is written into it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        # An existing file keeps its old mode through O_CREAT: narrow it explicitly.
        os.fchmod(descriptor, 0o600)
        lines = [f"{EXPORTER_URL_VARIABLE}={exporter_url}",
                 *(f"{name}={value}" for name, value in self.environment().items())]
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        return path
