-- Tenants, their API keys (only SHA-256 hashes) and the people Herald reaches.
CREATE TABLE tenants (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    key_hash   bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    -- The first characters of the key, enough for a human to tell keys apart.
    prefix     text NOT NULL,
    name       text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX api_keys_tenant_id ON api_keys (tenant_id);

CREATE TABLE recipients (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id         uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- The caller's own id for this person; recipients are upserted by it.
    external_id       text NOT NULL,
    name              text,
    email             text,
    phone             text CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    slack_user_id     text,
    push_endpoint_arn text,
    timezone          text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, external_id)
);
