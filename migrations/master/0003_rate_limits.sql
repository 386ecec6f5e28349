-- Generic rate limiting shared by every studiod process: one row per event
-- under a key (e.g. "booking-search:ip:1.2.3.4"); counted over a window.
CREATE TABLE rate_events (
    id bigserial PRIMARY KEY,
    key text NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rate_events_key_at ON rate_events (key, at);
