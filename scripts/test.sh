#!/usr/bin/env bash
# Install everything (system and Python packages), start PostgreSQL and Redis where they are not
# running, and run the test suite. Arguments go to pytest. Works on a fresh Debian 12 machine.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# --- system packages ---------------------------------------------------------------------------
need=()
command -v prometheus >/dev/null || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
command -v redis-server >/dev/null || need+=(redis-server)
[ -x /usr/lib/postgresql/15/bin/postgres ] || need+=(postgresql-15 postgresql-client-15)
# wal2json: the sandbox's Realtime reads postgres_changes from a logical slot with it.
[ -f /usr/lib/postgresql/15/lib/wal2json.so ] || need+=(postgresql-15-wal2json)
# The stack's own PostgreSQL runs with TLS: its self-signed certificate is made with openssl.
command -v openssl >/dev/null || need+=(openssl)
command -v prometheus-postgres-exporter >/dev/null || need+=(prometheus-postgres-exporter)
command -v prometheus-redis-exporter >/dev/null || need+=(prometheus-redis-exporter)
[ -x /usr/sbin/pgbouncer ] || need+=(pgbouncer)
command -v prometheus-pgbouncer-exporter >/dev/null || need+=(prometheus-pgbouncer-exporter)
command -v prometheus-node-exporter >/dev/null || need+=(prometheus-node-exporter)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing system packages: ${need[*]}"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# --- PostgreSQL 15 on 127.0.0.1:5432 (trust) and Redis on 127.0.0.1:6379 -----------------------
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "starting PostgreSQL"
  $SUDO pg_ctlcluster --skip-systemctl-redirect 15 main start
  for _ in $(seq 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
fi
if ! psql -h 127.0.0.1 -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1; then
  echo "PostgreSQL on 127.0.0.1:5432 must accept user postgres without a password (trust);" \
       "see README.md" >&2
  exit 1
fi
psql -h 127.0.0.1 -U postgres -d postgres -tAc "select 1 from pg_database where datname='test'" \
  | grep -q 1 || psql -h 127.0.0.1 -U postgres -d postgres -qc 'create database test'
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp --logfile /tmp/wedsync-redis-6379.log
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

# --- Python ------------------------------------------------------------------------------------
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
# Bull v3 (npm), which tests/test_queue_probe_bull_v3.py runs with node to enqueue real jobs.
node_prefix="${WEDSYNC_NODE_PREFIX:-$HOME/.cache/wedsync-observability/node}"
[ -f "$node_prefix/node_modules/bull/package.json" ] || \
  npm install --prefix "$node_prefix" --no-audit --no-fund --silent bull@3.29.3

# --- tests -------------------------------------------------------------------------------------
report=$(mktemp)
set +e
# Two workers: most tests wait on real servers, so two at once halve the wall time (every
# test uses its own free ports and throwaway servers). WEDSYNC_TEST_WORKERS=0 runs them serially.
.venv/bin/python -m pytest -n "${WEDSYNC_TEST_WORKERS:-2}" --junitxml="$report" "$@"
code=$?
set -e
# "No tests ran" is a failure, whatever pytest's exit code says.
.venv/bin/python - "$report" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
ran = sum(int(s.get("tests", 0)) - int(s.get("skipped", 0)) for s in suites)
if ran == 0:
    sys.exit("no tests ran: that is a failure")
PY
exit $code
