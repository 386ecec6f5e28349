-- The studios (organizations) and how to reach their databases, custom
-- domains, and login throttling state shared by every studiod process.

CREATE TABLE organizations (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug text NOT NULL UNIQUE
        CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$'),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
    status text NOT NULL DEFAULT 'provisioning'
        CHECK (status IN ('provisioning', 'trial', 'active', 'suspended')),
    db_name text NOT NULL UNIQUE,
    db_server text,                -- NULL: the master's server
    timezone text NOT NULL,
    currency char(3) NOT NULL,
    owner_email text NOT NULL,
    plan_id text,
    trial_ends_at timestamptz,
    provision_started_at timestamptz NOT NULL DEFAULT now(),
    provisioned_at timestamptz,
    suspended_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Custom domains (managed by the domains capability later); a verified one
-- resolves to its studio.
CREATE TABLE domains (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    hostname text NOT NULL,
    verified_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX domains_hostname ON domains (lower(hostname));

-- Failed staff logins, for throttling across processes: 5 per account or
-- 20 per IP within 15 minutes.
CREATE TABLE login_failures (
    id bigserial PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    email text NOT NULL,
    ip text NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_account ON login_failures (organization_id, email, at);
CREATE INDEX login_failures_ip ON login_failures (ip, at);
