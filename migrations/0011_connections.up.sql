-- An OAuth flow Herald started (the tenant's Slack install, a person connecting their
-- own Slack account): its state's nonce is kept from the redirect until the callback
-- uses it, once. The state is signed and expires anyway; this row makes it single-use.
-- Retention deletes rows once they have expired.
CREATE TABLE oauth_states (
    nonce        bytea PRIMARY KEY CHECK (length(nonce) = 16),
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- The person connecting their account; NULL for the tenant's installation.
    recipient_id uuid REFERENCES recipients (id) ON DELETE CASCADE,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX oauth_states_expires_at ON oauth_states (expires_at);

-- A person's Slack user token is a credential of its own, sealed to that recipient.
ALTER TABLE credentials DROP CONSTRAINT credentials_kind_check;
ALTER TABLE credentials ADD CONSTRAINT credentials_kind_check
    CHECK (kind IN ('teams_webhook', 'slack_bot_token', 'slack_user_token'));
ALTER TABLE credentials DROP CONSTRAINT credentials_owner_check;
ALTER TABLE credentials ADD CONSTRAINT credentials_owner_check CHECK (
    CASE kind
        WHEN 'teams_webhook' THEN (recipient_id IS NULL) <> (team IS NULL)
        WHEN 'slack_user_token' THEN recipient_id IS NOT NULL AND team IS NULL
        ELSE recipient_id IS NULL AND team IS NULL
    END
);

-- Seed 001: who a recipient is in Slack, as Slack itself said when they connected
-- (OAuth), not as an escalation's payload claims. Pages go to this user and this
-- user's clicks act for the recipient. The token is in `credentials` (no secret here);
-- deleting it deletes the connection.
CREATE TABLE slack_connections (
    recipient_id  uuid PRIMARY KEY REFERENCES recipients (id) ON DELETE CASCADE,
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    credential_id uuid NOT NULL UNIQUE REFERENCES credentials (id) ON DELETE CASCADE,
    slack_team_id text NOT NULL CHECK (slack_team_id ~ '^[TE][A-Z0-9]{2,20}$'),
    slack_user_id text NOT NULL CHECK (slack_user_id ~ '^[UW][A-Z0-9]{2,20}$'),
    scopes        text NOT NULL DEFAULT '' CHECK (length(scopes) <= 500),
    connected_at  timestamptz NOT NULL DEFAULT now(),
    -- One Slack user is one recipient: a click must find one.
    UNIQUE (tenant_id, slack_user_id)
);
