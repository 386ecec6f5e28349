-- Online payments of bookings (Stripe Checkout) and refunds sent to Stripe.
-- A payment row is made when a Checkout Session is created (status open) and
-- marked paid by the checkout.session.completed webhook; the session id is
-- unique, so a session is counted once.
CREATE TABLE payments (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    booking_id uuid NOT NULL REFERENCES bookings(id),
    provider text NOT NULL DEFAULT 'stripe' CHECK (provider IN ('stripe')),
    checkout_session_id text NOT NULL UNIQUE,
    payment_intent_id text,
    amount bigint NOT NULL CHECK (amount >= 0),
    currency char(3) NOT NULL,
    status text NOT NULL CHECK (status IN ('open', 'paid', 'expired', 'failed')),
    created_at timestamptz NOT NULL DEFAULT now(),
    paid_at timestamptz
);
CREATE INDEX payments_booking ON payments (booking_id);

CREATE TABLE refunds (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    booking_id uuid NOT NULL REFERENCES bookings(id),
    payment_intent_id text NOT NULL,
    amount bigint NOT NULL CHECK (amount > 0),
    stripe_refund_id text UNIQUE,
    status text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refunds_booking ON refunds (booking_id);
