-- Payments, second slice (src/modules/payments): Connect, refunds sent to
-- Stripe on cancellation, reconciliation from webhooks, disputes.
--
-- payments: the connected account the session was made on, the platform's
-- application fee, what Stripe says was refunded of it (charge.refunded's
-- amount_refunded; it only grows, so events in any order agree), and why it
-- failed (payment_intent.payment_failed).
ALTER TABLE payments
    ADD COLUMN stripe_account text,
    ADD COLUMN application_fee_amount bigint NOT NULL DEFAULT 0
        CHECK (application_fee_amount >= 0),
    ADD COLUMN refunded_amount bigint NOT NULL DEFAULT 0 CHECK (refunded_amount >= 0),
    ADD COLUMN failure_message text,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX payments_intent ON payments (payment_intent_id);

-- refunds: a row is written 'pending' in the same transaction as the change
-- that owes it (a cancellation, a payment that came for a slot that is gone)
-- and sent to Stripe after the commit with idempotency_key, so a retry (the
-- job, or the same call again) never refunds twice. Refunds Stripe reports
-- that studiod did not make (the Dashboard) arrive as reason 'stripe'.
-- Statuses are Stripe's refund statuses.
ALTER TABLE refunds DROP CONSTRAINT refunds_status_check;
ALTER TABLE refunds
    ADD CONSTRAINT refunds_status_check
        CHECK (status IN ('pending', 'requires_action', 'succeeded', 'failed', 'canceled')),
    ADD COLUMN payment_id uuid REFERENCES payments(id),
    ADD COLUMN reason text NOT NULL DEFAULT 'cancel'
        CHECK (reason IN ('cancel', 'late_payment', 'stripe')),
    ADD COLUMN idempotency_key text UNIQUE,
    ADD COLUMN stripe_account text,
    ADD COLUMN attempts int NOT NULL DEFAULT 0,
    ADD COLUMN failure_message text,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX refunds_pending ON refunds (booking_id) WHERE status = 'pending';

-- A dispute (chargeback) on a booking's payment: staff see the flag, and how
-- it ended (charge.dispute.closed: won or lost).
ALTER TABLE bookings
    ADD COLUMN disputed_at timestamptz,
    ADD COLUMN dispute_id text,
    ADD COLUMN payment_flag text
        CHECK (payment_flag IN ('disputed', 'dispute_won', 'dispute_lost'));
