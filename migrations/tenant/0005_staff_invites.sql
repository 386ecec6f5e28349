-- Invitations to join a studio's team: a one-time link to choose a password.
-- Only the SHA-256 of the token is stored; the token itself exists only in
-- the e-mail. A row is used once (used_at), expires (expires_at), and at most
-- one per user is open at a time: re-sending deletes the open one first.

CREATE TABLE staff_invitations (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash text NOT NULL UNIQUE,
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by uuid REFERENCES users(id) ON DELETE SET NULL
);
CREATE INDEX staff_invitations_user ON staff_invitations (user_id);
CREATE UNIQUE INDEX staff_invitations_open ON staff_invitations (user_id) WHERE used_at IS NULL;
