-- The Core Fields probe's table (docs/core-fields-probe.md). Run once as the project's owner
-- (on Supabase: the SQL editor, or `psql` as `postgres`); safe to run again.
--
-- One row per synthetic probe user, in a schema of its own (the API does not expose it), with
-- Row Level Security on: a signed-in user sees only its own row. The table is in the
-- `supabase_realtime` publication so that Realtime streams its changes. The probe writes
-- through the role `wedsync_core_fields_writer`, which may update this table's nonce and
-- nothing else; give it a password and LOGIN yourself (docs/core-fields-probe.md), and add
-- the two users' rows with their Auth ids.

CREATE SCHEMA IF NOT EXISTS wedsync_probe;

CREATE TABLE IF NOT EXISTS wedsync_probe.core_fields (
    user_id     uuid PRIMARY KEY,
    nonce       text NOT NULL DEFAULT '',
    updated_at  timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE wedsync_probe.core_fields ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON TABLE wedsync_probe.core_fields FROM PUBLIC;

-- Supabase's roles; present on every Supabase project (created here only where absent).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
    CREATE ROLE authenticated NOLOGIN NOINHERIT;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'wedsync_core_fields_writer') THEN
    CREATE ROLE wedsync_core_fields_writer NOLOGIN NOINHERIT;
  END IF;
END
$$;

-- Signed-in users (and Realtime's check on their behalf) see their own row only.
GRANT USAGE ON SCHEMA wedsync_probe TO authenticated;
GRANT SELECT ON wedsync_probe.core_fields TO authenticated;
DROP POLICY IF EXISTS own_row ON wedsync_probe.core_fields;
CREATE POLICY own_row ON wedsync_probe.core_fields FOR SELECT TO authenticated
    USING (user_id = auth.uid());

-- The probe's writer: UPDATE of the nonce (finding the row by user_id needs SELECT on it).
GRANT USAGE ON SCHEMA wedsync_probe TO wedsync_core_fields_writer;
GRANT SELECT (user_id), UPDATE (nonce, updated_at) ON wedsync_probe.core_fields
    TO wedsync_core_fields_writer;
DROP POLICY IF EXISTS probe_writer_finds ON wedsync_probe.core_fields;
CREATE POLICY probe_writer_finds ON wedsync_probe.core_fields FOR SELECT
    TO wedsync_core_fields_writer USING (true);
DROP POLICY IF EXISTS probe_writer_updates ON wedsync_probe.core_fields;
CREATE POLICY probe_writer_updates ON wedsync_probe.core_fields FOR UPDATE
    TO wedsync_core_fields_writer USING (true) WITH CHECK (true);

-- Realtime streams the changes of the publication's tables only.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'supabase_realtime') THEN
    CREATE PUBLICATION supabase_realtime;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_publication_tables WHERE pubname = 'supabase_realtime'
                  AND schemaname = 'wedsync_probe' AND tablename = 'core_fields') THEN
    ALTER PUBLICATION supabase_realtime ADD TABLE wedsync_probe.core_fields;
  END IF;
END
$$;
