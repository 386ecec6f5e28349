-- Platform billing: the plans studios subscribe to, with their Stripe prices
-- and limits, and each studio's subscription as Stripe last told us.
--
-- A studio in its trial (organizations.status 'trial', trial_ends_at in the
-- future) has the limits of the plan in organizations.plan_id, set to the
-- trial plan ('pro') at signup. When the trial ends without an active
-- subscription the back office turns read-only (src/modules/billing).
-- Limits: NULL = unlimited.

CREATE TABLE plans (
    id text PRIMARY KEY CHECK (id ~ '^[a-z0-9_]{2,32}$'),
    name text NOT NULL,
    position int NOT NULL,                    -- order on the pricing page
    monthly_amount bigint NOT NULL CHECK (monthly_amount >= 0),  -- minor units
    yearly_amount bigint NOT NULL CHECK (yearly_amount >= 0),
    currency char(3) NOT NULL DEFAULT 'EUR',
    stripe_price_monthly text NOT NULL UNIQUE,
    stripe_price_yearly text NOT NULL UNIQUE,
    max_rooms int CHECK (max_rooms IS NULL OR max_rooms >= 0),
    max_staff int CHECK (max_staff IS NULL OR max_staff >= 0),
    max_bookings_per_month int CHECK (max_bookings_per_month IS NULL OR max_bookings_per_month >= 0),
    ai_credits_per_month int NOT NULL DEFAULT 0 CHECK (ai_credits_per_month >= 0),
    -- The platform's share of each booking payment taken through Connect,
    -- in basis points of the amount (100 = 1%).
    application_fee_bps int NOT NULL DEFAULT 0 CHECK (application_fee_bps BETWEEN 0 AND 10000),
    active boolean NOT NULL DEFAULT true
);

INSERT INTO plans (id, name, position, monthly_amount, yearly_amount, currency,
                   stripe_price_monthly, stripe_price_yearly, max_rooms, max_staff,
                   max_bookings_per_month, ai_credits_per_month, application_fee_bps) VALUES
    ('starter', 'Starter', 1, 1900, 19000, 'EUR', 'price_starter_monthly', 'price_starter_yearly',
     2, 3, 300, 50, 200),
    ('pro', 'Pro', 2, 4900, 49000, 'EUR', 'price_pro_monthly', 'price_pro_yearly',
     10, 15, 3000, 500, 100),
    ('studio_plus', 'Studio+', 3, 9900, 99000, 'EUR', 'price_studio_plus_monthly',
     'price_studio_plus_yearly', NULL, NULL, NULL, 2000, 50);

UPDATE organizations SET plan_id = 'pro' WHERE plan_id IS NULL;
ALTER TABLE organizations
    ADD CONSTRAINT organizations_plan FOREIGN KEY (plan_id) REFERENCES plans(id),
    ALTER COLUMN plan_id SET DEFAULT 'pro',
    ADD COLUMN stripe_customer_id text UNIQUE;

-- One row per Stripe subscription of a studio. Webhooks may arrive in any
-- order: a row is only changed by an event at least as new as the one that
-- last changed it (last_event_at, from the event's "created").
CREATE TABLE subscriptions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    stripe_subscription_id text NOT NULL UNIQUE,
    stripe_customer_id text,
    plan_id text NOT NULL REFERENCES plans(id),
    billing_period text NOT NULL CHECK (billing_period IN ('monthly', 'yearly')),
    status text NOT NULL CHECK (status IN ('incomplete', 'incomplete_expired', 'trialing',
                                           'active', 'past_due', 'canceled', 'unpaid', 'paused')),
    current_period_start timestamptz,
    current_period_end timestamptz,
    cancel_at_period_end boolean NOT NULL DEFAULT false,
    canceled_at timestamptz,
    -- a downgrade asked for at period end: applied when the period rolls over
    scheduled_plan_id text REFERENCES plans(id),
    -- the newest invoice event seen (invoice.paid / invoice.payment_failed), ordered
    -- by its own event time: invoices and the subscription are separate objects
    latest_invoice_status text,
    latest_invoice_id text,
    latest_invoice_at timestamptz NOT NULL DEFAULT to_timestamp(0),
    last_event_at timestamptz NOT NULL DEFAULT to_timestamp(0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscriptions_org ON subscriptions (organization_id, updated_at DESC);
