-- Platform admins (src/modules/admin): accounts with a TOTP second factor,
-- their sessions, their failed sign-ins (for throttling), and the platform
-- audit log with its SHA-256 hash chain.

CREATE TABLE platform_admins (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
    password_hash text NOT NULL,         -- argon2id (libsodium crypto_pwhash_str)
    -- The RFC 6238 seed: "sb1:" + base64(nonce || secretbox) under
    -- STUDIOD_MASTER_KEY, or "plain:" + base32 when no key is configured
    -- (development only; the server logs a warning).
    totp_secret text NOT NULL,
    -- The 30-second step of the last code accepted: a code of this step or
    -- an earlier one is a replay. Advanced with a conditional UPDATE, so two
    -- concurrent sign-ins with one code cannot both succeed.
    totp_last_step bigint NOT NULL DEFAULT 0,
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz
);
CREATE UNIQUE INDEX platform_admins_email ON platform_admins (lower(email));

-- Only the SHA-256 of a session token is stored. Lifetime: 8 hours from
-- sign-in (expires_at) and 30 minutes idle (last_seen_at), both checked on
-- every request.
CREATE TABLE admin_sessions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    token_hash text NOT NULL UNIQUE,
    admin_id uuid NOT NULL REFERENCES platform_admins(id) ON DELETE CASCADE,
    csrf_token text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    ip text,
    user_agent text
);
CREATE INDEX admin_sessions_admin ON admin_sessions (admin_id);
CREATE INDEX admin_sessions_expires ON admin_sessions (expires_at);

-- Failed admin sign-ins: 5 per account or 20 per IP within 15 minutes
-- throttle further attempts (the same rule as staff, counted apart).
CREATE TABLE admin_login_failures (
    id bigserial PRIMARY KEY,
    email text NOT NULL,
    ip text NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX admin_login_failures_account ON admin_login_failures (email, at);
CREATE INDEX admin_login_failures_ip ON admin_login_failures (ip, at);

-- Reactivation gives a suspended studio back the status it had.
ALTER TABLE organizations ADD COLUMN status_before_suspension text
    CHECK (status_before_suspension IN ('trial', 'active'));

-- Every platform admin action. Append-only and chained like the studios'
-- audit logs, with the same functions (src/modules/audit: audit_canonical,
-- audit_chain_hash): hash = SHA-256(prev_hash || canonical JSON), the
-- canonical JSON made from the row as admin_audit_entry()
-- (src/modules/admin/admin.c) maps it: actor_type 'admin' ('system' for the
-- command line), actor_id = admin_id, actor_email = admin_email, resource =
-- target_studio, resource_id = target_user, at as
-- YYYY-MM-DDTHH:MM:SS.ffffffZ (UTC), risk_level 'none', risk_rules [].
-- The first row's prev_hash is 64 zeros. Appends are serialised by a
-- transaction-level advisory lock, so the chain never forks.
CREATE TABLE admin_audit_log (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL,
    admin_id uuid,                 -- NULL: the command line
    admin_email text,
    action text NOT NULL,
    target_studio text,
    target_user text,
    before jsonb,
    after jsonb,
    ip text,
    user_agent text,
    request_id text,
    prev_hash text NOT NULL,
    hash text NOT NULL UNIQUE
);
CREATE INDEX admin_audit_log_studio ON admin_audit_log (target_studio, id);

-- The log is append-only: rows can be neither changed nor removed.
CREATE FUNCTION admin_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'admin_audit_log is append-only';
END;
$$;
CREATE TRIGGER admin_audit_log_no_change BEFORE UPDATE OR DELETE ON admin_audit_log
    FOR EACH ROW EXECUTE FUNCTION admin_audit_log_append_only();
