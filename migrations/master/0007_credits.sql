-- AI credits: packs a studio can buy, each studio's balance, and the
-- append-only ledger that explains every credit (src/modules/credits).
--
-- Two pockets. The plan's monthly allowance (plans.ai_credits_per_month) is
-- granted once per calendar month, in the studio's time zone, on the first
-- read or spend of that month; what is left of it expires when the month
-- ends (an 'expiry' entry). Purchased credits never expire. Spending takes
-- the allowance first, then purchased credits.
--
-- credit_accounts holds the current balances; every change to it is made in
-- the same transaction as its ledger entry, with the account row locked
-- (SELECT ... FOR UPDATE), so concurrent spenders queue on that row and the
-- ledger always sums to the account: sum(delta_allowance) = allowance_balance,
-- sum(delta_purchased) = purchased_balance. The CHECKs make a negative
-- balance impossible even if the application got it wrong.

CREATE TABLE credit_packs (
    id text PRIMARY KEY CHECK (id ~ '^[a-z0-9_]{2,32}$'),
    name text NOT NULL,
    credits int NOT NULL CHECK (credits > 0),
    amount bigint NOT NULL CHECK (amount > 0),   -- minor units of currency
    currency char(3) NOT NULL DEFAULT 'EUR',
    position int NOT NULL,                        -- order on the page
    -- A pack's price is never changed once sold (the webhook checks the paid
    -- amount against it): retire it (active = false) and add a new one.
    active boolean NOT NULL DEFAULT true
);

INSERT INTO credit_packs (id, name, credits, amount, currency, position) VALUES
    ('credits_100', '100 AI credits', 100, 900, 'EUR', 1),
    ('credits_500', '500 AI credits', 500, 3900, 'EUR', 2),
    ('credits_2000', '2,000 AI credits', 2000, 12900, 'EUR', 3);

CREATE TABLE credit_accounts (
    organization_id uuid PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,
    allowance_balance bigint NOT NULL DEFAULT 0 CHECK (allowance_balance >= 0),
    purchased_balance bigint NOT NULL DEFAULT 0 CHECK (purchased_balance >= 0),
    -- first day of the month whose allowance allowance_balance is (NULL: none yet)
    allowance_month date,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- No ON DELETE CASCADE: a studio with credit history is a financial record
-- (only studios still being provisioned are ever deleted, and those have no
-- account: see credits.c).
CREATE TABLE credit_ledger (
    id bigserial PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations(id),
    kind text NOT NULL
        CHECK (kind IN ('purchase', 'monthly_grant', 'expiry', 'spend', 'refund',
                        'adjustment')),
    delta_allowance bigint NOT NULL DEFAULT 0,
    delta_purchased bigint NOT NULL DEFAULT 0,
    delta bigint GENERATED ALWAYS AS (delta_allowance + delta_purchased) STORED,
    reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 200),
    month date NOT NULL,           -- the calendar month (studio's zone) it belongs to
    checkout_session_id text UNIQUE,
    -- the Stripe PaymentIntent that paid a purchase, and that a refund entry
    -- takes credits back for (charge.refunded, charge.dispute.created)
    payment_intent_id text,
    pack_id text REFERENCES credit_packs(id),
    amount bigint,                 -- what was paid, minor units (purchases)
    currency char(3),
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (kind <> 'purchase' OR (checkout_session_id IS NOT NULL AND pack_id IS NOT NULL
                                  AND delta_allowance = 0 AND delta_purchased > 0)),
    CHECK (kind = 'purchase' OR checkout_session_id IS NULL),
    CHECK (kind <> 'monthly_grant' OR (delta_purchased = 0 AND delta_allowance > 0)),
    CHECK (kind <> 'expiry' OR (delta_purchased = 0 AND delta_allowance < 0)),
    CHECK (kind <> 'spend' OR (delta_allowance <= 0 AND delta_purchased <= 0
                               AND delta_allowance + delta_purchased < 0)),
    CHECK (kind <> 'refund' OR (payment_intent_id IS NOT NULL AND delta_allowance = 0
                                AND delta_purchased <= 0))
);
CREATE UNIQUE INDEX credit_ledger_purchase_intent ON credit_ledger (payment_intent_id)
    WHERE kind = 'purchase';
CREATE INDEX credit_ledger_refunds ON credit_ledger (payment_intent_id) WHERE kind = 'refund';
-- One monthly grant per studio and month, whatever races.
CREATE UNIQUE INDEX credit_ledger_monthly_grant ON credit_ledger (organization_id, month)
    WHERE kind = 'monthly_grant';
CREATE INDEX credit_ledger_org ON credit_ledger (organization_id, id DESC);
CREATE INDEX credit_ledger_org_month ON credit_ledger (organization_id, month) WHERE kind = 'spend';

-- Append-only: an entry is never changed or removed; a correction is a new
-- 'adjustment' entry.
CREATE FUNCTION credit_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'credit_ledger is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER credit_ledger_append_only BEFORE UPDATE OR DELETE ON credit_ledger
    FOR EACH ROW EXECUTE FUNCTION credit_ledger_append_only();
CREATE TRIGGER credit_ledger_no_truncate BEFORE TRUNCATE ON credit_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION credit_ledger_append_only();
