"""WedSync wedding-day load tests: the k6 scenarios (``loadtests/k6/``) and the Python tooling
that runs them, writes the JSON summary, gives a PASS/FAIL verdict against the SLOs, compares a
run with a saved baseline and records the run in ``load_test_results``.

``python -m loadtests run|verdict|compare`` (installed as ``wedsync-loadtest``); see
docs/loadtests.md.
"""

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
K6_DIR = PACKAGE_DIR / "k6"
SCRIPT = K6_DIR / "wedding_day.js"
MODEL_FILE = K6_DIR / "profiles.json"
