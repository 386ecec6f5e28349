-- The audit log (src/modules/audit): one row per audited action, chained by
-- hash = SHA-256(previous hash || canonical JSON of the row's fields),
-- computed and checked in C.
--
-- Rows are written in chain order: a writer locks the audit_chain row
-- (FOR UPDATE) until its transaction ends, takes the next id, and moves the
-- head to its row. Ids therefore grow along the chain (gaps come from
-- rolled-back writers and are harmless: the chain links hashes, not ids).
--
-- Text columns rather than uuid/inet: the hash covers the text as written,
-- and a value PostgreSQL would normalise (upper-case uuid, inet forms) would
-- no longer hash the same.

CREATE SEQUENCE audit_log_id_seq;

CREATE TABLE audit_log (
    id bigint PRIMARY KEY,
    at timestamptz NOT NULL,
    actor_type text NOT NULL
        CHECK (actor_type IN ('user', 'customer', 'system', 'admin', 'anonymous')),
    actor_id text,                 -- users.id (no foreign key: entries outlive users)
    actor_name text,               -- snapshots when the entry was written
    actor_email text,
    action text NOT NULL,
    resource text NOT NULL,
    resource_id text,
    before jsonb,                  -- changed fields only
    after jsonb,
    ip text,
    user_agent text,
    request_id text,
    risk_level text NOT NULL DEFAULT 'none' CHECK (risk_level IN ('none', 'low', 'medium', 'high')),
    risk_rules text[] NOT NULL DEFAULT '{}',
    hash text NOT NULL
);
ALTER SEQUENCE audit_log_id_seq OWNED BY audit_log.id;

CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor ON audit_log (actor_id, at);
CREATE INDEX audit_log_resource ON audit_log (resource, resource_id);
CREATE INDEX audit_log_risky ON audit_log (risk_level, at) WHERE risk_level <> 'none';
-- What the risk rules count (src/modules/audit/risk.c).
CREATE INDEX audit_log_failed_email ON audit_log (lower(actor_email), at)
    WHERE action = 'login_failed';
CREATE INDEX audit_log_failed_ip ON audit_log (ip, at) WHERE action = 'login_failed';
CREATE INDEX audit_log_logins ON audit_log (actor_id, ip) WHERE action = 'login';
CREATE INDEX audit_log_removals ON audit_log (actor_id, at)
    WHERE action IN ('delete', 'cancel');
CREATE INDEX audit_log_removals_ip ON audit_log (ip, at)
    WHERE action IN ('delete', 'cancel') AND actor_id IS NULL;

-- One row: the chain's head (the newest entry) and its anchor (where
-- verification starts: the genesis hash, or after a cleanup the hash of the
-- last entry it removed).
CREATE TABLE audit_chain (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    head_id bigint,
    head_hash text NOT NULL,
    anchor_id bigint NOT NULL DEFAULT 0,
    anchor_hash text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO audit_chain (head_hash, anchor_hash)
VALUES (repeat('0', 64), repeat('0', 64));

-- Refunds above this many minor units are high-risk entries (NULL: 50000).
ALTER TABLE studio_settings ADD COLUMN audit_refund_alert_threshold bigint
    CHECK (audit_refund_alert_threshold IS NULL OR audit_refund_alert_threshold >= 0);
