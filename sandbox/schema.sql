-- WedSync reference platform schema (a stand-in for the real Supabase schema).
--
-- The platform's schema is not ours; this is the part of it the observability stack reads, in
-- the shape DESIGN.md pins. Tests, the drill and compose's local profile load it. Row Level
-- Security is on for every table, as on the real platform, with the policies a supplier/couple
-- split needs (they refer to auth.uid(), which this file defines as a stand-in where Supabase's
-- auth schema is absent).
--
-- Which columns the stack reads:
--   weddings.wedding_date                       built-in `weddings` query, wedding-day mode
--   core_fields.updated_at                      wedding pack: Core Fields updates
--   form_submissions.submitted_at               wedding pack: form submissions
--   couples.created_at, suppliers.created_at    wedding pack: active couples and suppliers
--   supplier_invitations.sent_at, accepted_at   wedding pack: invitations sent and accepted
--   performance_logs.*                          ingestion's optional second source
--   load_test_results.*                         optional history of k6 runs

CREATE SCHEMA IF NOT EXISTS auth;

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                  WHERE n.nspname = 'auth' AND p.proname = 'uid') THEN
    -- Supabase's auth.uid() reads the caller's JWT claims from session settings, as here:
    -- request.jwt.claim.sub, else the sub of request.jwt.claims (what Realtime's RLS check sets).
    EXECUTE $f$CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE SET search_path = '' AS
      'SELECT coalesce(nullif(current_setting(''request.jwt.claim.sub'', true), ''''),
                       (nullif(current_setting(''request.jwt.claims'', true), '''')::jsonb
                        ->> ''sub''))::uuid'$f$;
  END IF;
END
$$;

CREATE TABLE IF NOT EXISTS public.suppliers (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.couples (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.user_profiles (
    user_id     uuid PRIMARY KEY,
    role        text NOT NULL CHECK (role IN ('supplier', 'couple', 'admin')),
    supplier_id uuid REFERENCES public.suppliers (id) ON DELETE SET NULL
);
CREATE INDEX IF NOT EXISTS user_profiles_supplier_id_idx ON public.user_profiles (supplier_id);

CREATE TABLE IF NOT EXISTS public.weddings (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    couple_id    uuid NOT NULL REFERENCES public.couples (id) ON DELETE CASCADE,
    wedding_date date NOT NULL,
    venue        text
);
CREATE INDEX IF NOT EXISTS weddings_wedding_date_idx ON public.weddings (wedding_date);
CREATE INDEX IF NOT EXISTS weddings_couple_id_idx ON public.weddings (couple_id);

CREATE TABLE IF NOT EXISTS public.core_fields (
    couple_id   uuid NOT NULL REFERENCES public.couples (id) ON DELETE CASCADE,
    field       text NOT NULL,
    value       jsonb,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (couple_id, field)
);
CREATE INDEX IF NOT EXISTS core_fields_updated_at_idx ON public.core_fields (updated_at);

CREATE TABLE IF NOT EXISTS public.form_submissions (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    couple_id    uuid NOT NULL REFERENCES public.couples (id) ON DELETE CASCADE,
    submitted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS form_submissions_couple_id_idx ON public.form_submissions (couple_id);
CREATE INDEX IF NOT EXISTS form_submissions_submitted_at_idx ON public.form_submissions (submitted_at);

CREATE TABLE IF NOT EXISTS public.supplier_invitations (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    supplier_id  uuid NOT NULL REFERENCES public.suppliers (id) ON DELETE CASCADE,
    couple_id    uuid NOT NULL REFERENCES public.couples (id) ON DELETE CASCADE,
    sent_at      timestamptz NOT NULL DEFAULT now(),
    accepted_at  timestamptz
);
CREATE INDEX IF NOT EXISTS supplier_invitations_supplier_id_idx ON public.supplier_invitations (supplier_id);
CREATE INDEX IF NOT EXISTS supplier_invitations_couple_id_idx ON public.supplier_invitations (couple_id);

CREATE TABLE IF NOT EXISTS public.performance_logs (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    request_id       uuid,
    endpoint         varchar(200) NOT NULL,
    method           varchar(10) NOT NULL,
    response_time_ms int NOT NULL,
    status_code      int NOT NULL,
    user_id          uuid,
    supplier_id      uuid,
    couple_id        uuid,
    error_message    text,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS performance_logs_created_at_idx ON public.performance_logs (created_at);

CREATE TABLE IF NOT EXISTS public.load_test_results (
    id                       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    test_name                text NOT NULL,
    test_type                text NOT NULL CHECK (test_type IN ('stress', 'load', 'spike', 'endurance', 'smoke')),
    virtual_users            int,
    duration_seconds         int,
    total_requests           bigint,
    successful_requests      bigint,
    failed_requests          bigint,
    average_response_time_ms double precision,
    p95_response_time_ms     double precision,
    p99_response_time_ms     double precision,
    throughput_rps           double precision,
    error_rate_percent       double precision,
    started_at               timestamptz,
    completed_at             timestamptz
);

-- Row Level Security on every table, with policies (none may be left without one).
ALTER TABLE public.suppliers ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.couples ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.user_profiles ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.weddings ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.core_fields ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.form_submissions ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.supplier_invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.performance_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.load_test_results ENABLE ROW LEVEL SECURITY;

DO $$
DECLARE
  policies text[][] := ARRAY[
    ['user_profiles', 'own_profile', 'user_id = auth.uid()'],
    ['suppliers', 'own_supplier', 'id IN (SELECT supplier_id FROM public.user_profiles WHERE user_id = auth.uid())'],
    ['couples', 'own_couple', 'id = auth.uid()'],
    ['weddings', 'couple_or_invited_supplier', 'couple_id = auth.uid() OR couple_id IN (SELECT si.couple_id FROM public.supplier_invitations si JOIN public.user_profiles up ON up.supplier_id = si.supplier_id WHERE up.user_id = auth.uid() AND si.accepted_at IS NOT NULL)'],
    ['core_fields', 'couple_or_invited_supplier', 'couple_id = auth.uid() OR couple_id IN (SELECT si.couple_id FROM public.supplier_invitations si JOIN public.user_profiles up ON up.supplier_id = si.supplier_id WHERE up.user_id = auth.uid() AND si.accepted_at IS NOT NULL)'],
    ['form_submissions', 'own_couple', 'couple_id = auth.uid()'],
    ['supplier_invitations', 'party_to_invitation', 'couple_id = auth.uid() OR supplier_id IN (SELECT supplier_id FROM public.user_profiles WHERE user_id = auth.uid())'],
    ['performance_logs', 'no_client_access', 'false'],
    ['load_test_results', 'no_client_access', 'false']
  ];
  p text[];
BEGIN
  FOREACH p SLICE 1 IN ARRAY policies LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_policies WHERE schemaname = 'public' AND tablename = p[1]
                    AND policyname = p[2]) THEN
      EXECUTE format('CREATE POLICY %I ON public.%I USING (%s)', p[2], p[1], p[3]);
    END IF;
  END LOOP;
END
$$;

-- Supabase Auth's audit log (owned by GoTrue on the real platform; created here only where it
-- is absent). The exporter counts payload->>'action' (login, user_signedup, token_refreshed, …)
-- of new rows; the sandbox's Auth stand-in writes a row per sign-in and refresh.
CREATE TABLE IF NOT EXISTS auth.audit_log_entries (
    instance_id uuid,
    id          uuid PRIMARY KEY,
    payload     json,
    created_at  timestamptz,
    ip_address  varchar(64) NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS audit_logs_instance_id_idx ON auth.audit_log_entries (instance_id);
