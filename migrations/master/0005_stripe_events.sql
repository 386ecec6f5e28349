-- Stripe webhook events already handled: the handler records each event id
-- once (INSERT ... ON CONFLICT DO NOTHING) and acts only when the row is new,
-- so a replayed or re-delivered event changes nothing.
CREATE TABLE stripe_events (
    event_id text PRIMARY KEY,
    type text NOT NULL,
    account text,
    received_at timestamptz NOT NULL DEFAULT now()
);
