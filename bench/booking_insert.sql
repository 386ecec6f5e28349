-- pgbench script: the INSERT that POST /api/public/booking makes, for one
-- booking (sql_insert in src/modules/booking/booking.c writes the bookings of a
-- batch in one statement of this shape: the customer upserted on lower(email),
-- then the booking with its hold, ON CONFLICT DO NOTHING; since 2026-11-26 it
-- creates only the customers the studio lacks and updates a known one after
-- its booking is stored, and this script keeps the upsert so that the
-- reference the aim was set against stays the same), for a random 1-hour
-- slot, the way bench/book.lua picks them: one of rooms 2..20 of
-- bench/booking.sh's studio (their ids are 00000000-0000-4000-8000-0000000000NN),
-- a random day 1..700 after today (UTC), a random half hour from 00:00 to
-- 23:00, customer c<N>@bench.test.
--
--   pgbench -n -M prepared -c 50 -j 2 -T 15 -f bench/booking_insert.sql studio_benchbook
--
-- Overlaps: the exclusion constraint bookings_no_overlap would raise an error,
-- which in pgbench 15 aborts the client. ON CONFLICT DO NOTHING (no conflict
-- target) makes the constraint the arbiter instead: an overlapping slot inserts
-- nothing, without an error, and without a race (a separate NOT EXISTS check
-- could still lose to a concurrent insert). The customer upsert stays even when
-- the slot was taken. Rows made here have notes = 'pgbench' (booking.sh counts
-- them: tps counts the no-op transactions too).
\set room random(2, 20)
\set day random(1, 700)
\set half random(0, 46)
\set cust random(1, 100000)
WITH c AS (
  INSERT INTO customers (name, email, phone)
  VALUES ('Customer ' || :cust::int, 'c' || :cust::int || '@bench.test', '+33 1 00 00 00 00')
  ON CONFLICT ((lower(email))) DO UPDATE
     SET name = EXCLUDED.name,
         phone = CASE WHEN EXCLUDED.phone <> '' THEN EXCLUDED.phone ELSE customers.phone END,
         updated_at = now()
  RETURNING id),
t AS (
  SELECT date_trunc('day', now(), 'UTC')
         + make_interval(days => :day::int, mins => :half::int * 30) AS s)
INSERT INTO bookings (ref, room_id, customer_id, starts_at, ends_at, hold, status, source,
                      price_amount, deposit_amount, currency, notes, manage_token_hash,
                      confirmed_at)
SELECT upper(substr(md5(random()::text), 1, 10)),
       ('00000000-0000-4000-8000-' || lpad(:room::int::text, 12, '0'))::uuid,
       c.id, t.s, t.s + interval '1 hour',
       tstzrange(t.s, t.s + interval '1 hour' + make_interval(mins => 0)),
       'confirmed', 'public', 4500, 0, 'EUR', 'pgbench', md5(random()::text), now()
  FROM c, t
ON CONFLICT DO NOTHING;
