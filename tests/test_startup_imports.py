"""What the exporter imports at start: libraries only some configurations need are imported
when first used, so a process that never needs them does not carry them (issue 25: RSS)."""

from __future__ import annotations

import subprocess
import sys

from harness.certificates import self_signed
from tests.conftest import REPO

# Imported by `python -m exporter` before it reads its configuration (as bench/idle's floor).
STARTUP = "import exporter.cli, exporter.service, exporter.features"
# pglast parses configured query statements; the others belong to the sandbox, the drill's
# charts, the dashboards and the rule checks, never to the exporter.
NOT_AT_START = ("pglast", "bullmq", "matplotlib", "grafanalib", "promql_parser", "sandbox")


def imported_after(code: str) -> set[str]:
    """Top-level names of the modules a fresh interpreter holds after running ``code``."""
    script = f"{code}\nimport sys\nprint('\\n'.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=True)
    return {name.split(".")[0] for name in done.stdout.split()}


def test_the_start_up_import_set_leaves_out_what_the_main_job_does_not_need() -> None:
    modules = imported_after(STARTUP)
    assert "exporter" in modules and "aiohttp" in modules  # the probe measured something
    assert not modules & set(NOT_AT_START)


def loading(config: str) -> str:
    """Code that parses ``config`` as the exporter does at start."""
    return f"from exporter.config import parse_config\nparse_config({config!r}, {{}})"


def test_the_sql_parser_is_imported_only_once_a_statement_of_ones_own_is_checked() -> None:
    database = "database: [{name: primary, dsn: 'postgresql://u@127.0.0.1/db'}]\n"
    assert "pglast" not in imported_after(f"{STARTUP}\n{loading(database)}")
    # The wedding pack's statements are checked by the tests, not parsed at start or per run.
    pack = database + "queries: {weddings: {builtin: weddings}}\n"
    runner = ("from exporter.config import parse_config\n"
              "from exporter.queries.jobs import QueryRunner\n"
              f"config = parse_config({pack!r}, {{}})\n"
              "QueryRunner(config.queries[0], None, None, None, None)")
    assert "pglast" not in imported_after(f"{STARTUP}\n{runner}")
    own = database + ("queries: {mine: {sql: 'SELECT 1 AS n', "
                      "metrics: {n: {name: wedsync_n, type: gauge, help: N.}}}}\n")
    assert "pglast" in imported_after(f"{STARTUP}\n{loading(own)}")


_CERTIFICATE_EXPIRY = """
import asyncio, ssl, sys
from exporter.probes.http import CertificateWatch
from exporter.probes.tls import tls_context

async def main(folder, verify):
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(f"{folder}/cert.pem", f"{folder}/key.pem")
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0, ssl=server_side)
    port = server.sockets[0].getsockname()[1]
    context = tls_context(verify, f"{folder}/cert.pem" if verify else "")
    expiry = await CertificateWatch(f"https://127.0.0.1:{port}/", context, 5.0).expiry()
    server.close()
    print(expiry, "cryptography.x509" in sys.modules)

asyncio.run(main(sys.argv[1], sys.argv[2] == "verify"))
"""


def test_cryptography_is_imported_only_for_a_certificate_taken_without_verification(
        tmp_path) -> None:
    self_signed(tmp_path)
    answers = {}
    for mode in ("verify", "no-verify"):
        done = subprocess.run([sys.executable, "-c", _CERTIFICATE_EXPIRY, str(tmp_path), mode],
                              cwd=REPO, capture_output=True, text=True, timeout=60, check=True)
        expiry, imported = done.stdout.split()
        answers[mode] = (float(expiry), imported == "True")
    # The ssl module decodes a certificate it verified; cryptography only decodes one it did not.
    assert answers["verify"][1] is False and answers["no-verify"][1] is True
    assert answers["verify"][0] == answers["no-verify"][0]
