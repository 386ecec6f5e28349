-- Stripe Connect: each studio's own Stripe account (Express), which booking
-- deposits are paid into (src/modules/payments/connect.c).
--
-- stripe_account_id is unique: a Connect webhook names its account, and the
-- account names exactly one studio (the webhook routes by it). The flags are
-- what Stripe last said of the account; account_updated_at is the "created"
-- time of the account.updated event (or of the read from the API) that set
-- them, so an older event delivered late never overwrites a newer state.
ALTER TABLE organizations
    ADD COLUMN stripe_account_id text UNIQUE,
    ADD COLUMN charges_enabled boolean NOT NULL DEFAULT false,
    ADD COLUMN payouts_enabled boolean NOT NULL DEFAULT false,
    ADD COLUMN details_submitted boolean NOT NULL DEFAULT false,
    ADD COLUMN account_updated_at timestamptz;
