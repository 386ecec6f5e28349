-- pgbench script: booking_insert.sql's INSERT together with the audit entry a
-- booking must write in its own transaction (DESIGN.md: a change and its audit
-- entry commit together; the audit issue: each entry hash-chained to the one
-- before it, so the entries of one studio are written one after another). The
-- least a booking stores, done the cheapest way a client can: one statement,
-- one round trip, committed at once; the chain row (audit_chain) is locked
-- from the moment the statement reaches it until the commit, as in studiod.
-- The entry is shaped like studiod's (actor customer, action create, resource
-- bookings, the new row as "after", ip, user agent, request id; hash =
-- SHA-256 of the previous hash and the entry), but hashes the row's JSON
-- rather than studiod's canonical form: the same work for PostgreSQL.
-- No entry when the slot was taken (ON CONFLICT DO NOTHING inserted nothing).
-- Not included, though a booking made through studiod does them too: the
-- time-rules read, the confirmation mail (an outbox row in the master
-- database) and the HTTP request. The entries carry user_agent 'pgbench'.
--
--   pgbench -n -M prepared -c 50 -j 2 -T 15 -f bench/booking_audit.sql studio_benchbook
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
         + make_interval(days => :day::int, mins => :half::int * 30) AS s),
b AS (
  INSERT INTO bookings (ref, room_id, customer_id, starts_at, ends_at, hold, status, source,
                        price_amount, deposit_amount, currency, notes, manage_token_hash,
                        confirmed_at)
  SELECT upper(substr(md5(random()::text), 1, 10)),
         ('00000000-0000-4000-8000-' || lpad(:room::int::text, 12, '0'))::uuid,
         c.id, t.s, t.s + interval '1 hour',
         tstzrange(t.s, t.s + interval '1 hour' + make_interval(mins => 0)),
         'confirmed', 'public', 4500, 0, 'EUR', 'pgbench', md5(random()::text), now()
    FROM c, t
  ON CONFLICT DO NOTHING
  RETURNING *),
h AS (
  SELECT a.head_hash, nextval('audit_log_id_seq') AS id, b.id AS booking_id,
         row_to_json(b)::text AS after
    FROM audit_chain a, b
     FOR UPDATE OF a),
e AS (
  INSERT INTO audit_log (id, at, actor_type, action, resource, resource_id, after, ip,
                         user_agent, request_id, hash)
  SELECT h.id, now(), 'customer', 'create', 'bookings', h.booking_id::text, h.after::jsonb,
         '127.0.0.1', 'pgbench', md5(random()::text),
         encode(sha256(convert_to(h.head_hash || h.after, 'UTF8')), 'hex')
    FROM h
  RETURNING id, hash)
UPDATE audit_chain SET head_id = e.id, head_hash = e.hash, updated_at = now() FROM e;
