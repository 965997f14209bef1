-- Demo rows for the reference schema (compose's local profile and the dashboards test): a few
-- dozen couples and suppliers, weddings spread around today, Core Field changes, form
-- submissions and supplier invitations, so every wedding-pack metric has something to count.
-- Dates are relative to the database's current date. Safe to load more than once.

INSERT INTO public.suppliers (id, name, created_at)
SELECT ('00000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid, 'Supplier ' || n,
       now() - (n || ' days')::interval
  FROM generate_series(1, 20) AS n
ON CONFLICT (id) DO NOTHING;

INSERT INTO public.couples (id, created_at)
SELECT ('00000000-0000-4000-9000-' || lpad(n::text, 12, '0'))::uuid,
       now() - (n || ' days')::interval
  FROM generate_series(1, 40) AS n
ON CONFLICT (id) DO NOTHING;

-- Weddings from two days ago to nine days ahead: several today and tomorrow.
INSERT INTO public.weddings (id, couple_id, wedding_date, venue)
SELECT ('00000000-0000-4000-a000-' || lpad(n::text, 12, '0'))::uuid,
       ('00000000-0000-4000-9000-' || lpad(n::text, 12, '0'))::uuid,
       current_date + ((n % 12) - 2), 'Venue ' || (n % 9)
  FROM generate_series(1, 40) AS n
ON CONFLICT (id) DO NOTHING;

INSERT INTO public.core_fields (couple_id, field, value, updated_at)
SELECT ('00000000-0000-4000-9000-' || lpad(n::text, 12, '0'))::uuid, f,
       to_jsonb('value ' || n), now() - ((n * 3) || ' minutes')::interval
  FROM generate_series(1, 40) AS n, unnest(ARRAY['date', 'venue', 'guest_count', 'timeline']) AS f
ON CONFLICT (couple_id, field) DO NOTHING;

INSERT INTO public.form_submissions (id, couple_id, submitted_at)
SELECT ('00000000-0000-4000-b000-' || lpad(n::text, 12, '0'))::uuid,
       ('00000000-0000-4000-9000-' || lpad((n % 40 + 1)::text, 12, '0'))::uuid,
       now() - ((n * 7) || ' minutes')::interval
  FROM generate_series(1, 120) AS n
ON CONFLICT (id) DO NOTHING;

INSERT INTO public.supplier_invitations (id, supplier_id, couple_id, sent_at, accepted_at)
SELECT ('00000000-0000-4000-c000-' || lpad(n::text, 12, '0'))::uuid,
       ('00000000-0000-4000-8000-' || lpad((n % 20 + 1)::text, 12, '0'))::uuid,
       ('00000000-0000-4000-9000-' || lpad((n % 40 + 1)::text, 12, '0'))::uuid,
       now() - ((n * 5) || ' hours')::interval,
       CASE WHEN n % 3 = 0 THEN NULL ELSE now() - ((n * 5 - 2) || ' hours')::interval END
  FROM generate_series(1, 60) AS n
ON CONFLICT (id) DO NOTHING;
