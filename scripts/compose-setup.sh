#!/usr/bin/env bash
# Prepare a checkout for `docker compose`: create ./secrets/* (random local passwords, and
# placeholders for PagerDuty and Slack that you replace) and, if there is no .env yet, write one
# from .env.example with generated passwords and tokens. Never overwrites what exists.
set -euo pipefail
cd "$(dirname "$0")/.."
umask 077
mkdir -p secrets

random() { head -c 24 /dev/urandom | base64 | tr -d '/+=' ; }
make_secret() {  # name, value
  if [ ! -s "secrets/$1" ]; then printf '%s' "$2" > "secrets/$1"; echo "created secrets/$1"; fi
}

make_secret postgres-password "$(random)"
make_secret exporter-db-password "$(random)"
make_secret pagerduty-routing-key "replace-with-your-pagerduty-events-v2-routing-key"
make_secret slack-webhook-url "https://hooks.slack.com/services/REPLACE/WITH/YOURS"
make_secret watchdog-token "$(random)"
make_secret pooler-stats-password "$(random)"
# Only read if you scrape Supabase's Metrics API (prometheus/targets/supabase-project.yml.example).
make_secret supabase-service-key "replace-with-your-supabase-secret-api-key"
# PgBouncer's auth_file: the exporter's role (pooled to PostgreSQL with its own password) and
# the stats user that reads the admin console.
make_secret pgbouncer-userlist "$(printf '"wedsync_exporter" "%s"\n"wedsync_stats" "%s"\n' \
  "$(cat secrets/exporter-db-password)" "$(cat secrets/pooler-stats-password)")"

if [ ! -e .env ]; then
  sed -e "s|__EXPORTER_DB_PASSWORD__|$(cat secrets/exporter-db-password)|" \
      -e "s|__POOLER_STATS_PASSWORD__|$(cat secrets/pooler-stats-password)|" \
      -e "s|__SANDBOX_ANON_KEY__|$(random)|" \
      -e "s|__ADMIN_TOKEN__|$(random)|" -e "s|__INGEST_TOKEN__|$(random)|" \
      -e "s|__DEPLOY_TOKEN__|$(random)|" -e "s|__GRAFANA_ADMIN_PASSWORD__|$(random)|" \
      -e "s|__PROBE_PASSWORD__|$(random)|" .env.example > .env
  echo "created .env (Grafana: admin / $(grep ^GRAFANA_ADMIN_PASSWORD= .env | cut -d= -f2))"
fi
echo "Replace secrets/pagerduty-routing-key and secrets/slack-webhook-url with real values"
echo "(and secrets/supabase-service-key if you scrape Supabase's Metrics API)."
