#!/usr/bin/env bash
# Local profile only: load the reference schema and seed rows into database `wedsync`, turn on
# pg_stat_statements and create the exporter's least-privilege role (docs/database-grants.md).
# Run once by the postgres image's entrypoint (/docker-entrypoint-initdb.d).
set -euo pipefail
psql=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER")
"${psql[@]}" --dbname postgres -c "CREATE DATABASE wedsync"
"${psql[@]}" --dbname wedsync -f /wedsync/schema.sql
"${psql[@]}" --dbname wedsync -f /wedsync/seed.sql
# In a schema of its own, as Supabase does (validation's extension_in_public).
"${psql[@]}" --dbname wedsync -c "CREATE SCHEMA IF NOT EXISTS extensions; GRANT USAGE ON SCHEMA extensions TO PUBLIC; CREATE EXTENSION IF NOT EXISTS pg_stat_statements SCHEMA extensions"
password=$(cat /run/secrets/exporter_db_password)
"${psql[@]}" --dbname wedsync -v password="$password" <<'SQL'
CREATE ROLE wedsync_exporter LOGIN BYPASSRLS PASSWORD :'password';
GRANT pg_monitor TO wedsync_exporter;
GRANT USAGE ON SCHEMA public, auth TO wedsync_exporter;
GRANT SELECT ON public.weddings, public.core_fields, public.form_submissions, public.couples,
                public.suppliers, public.supplier_invitations, public.performance_logs,
                auth.audit_log_entries TO wedsync_exporter;
ALTER ROLE wedsync_exporter SET default_transaction_read_only = on;
SQL
