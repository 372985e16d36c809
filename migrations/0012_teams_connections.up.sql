-- Which provider an OAuth state is for: a state signed for Slack never finishes a
-- Teams flow, or the reverse.
ALTER TABLE oauth_states
    ADD COLUMN provider text NOT NULL DEFAULT 'slack' CHECK (provider IN ('slack', 'teams'));
ALTER TABLE oauth_states ALTER COLUMN provider DROP DEFAULT;

-- A person's Microsoft refresh token (their Teams connection), sealed to the recipient.
ALTER TABLE credentials DROP CONSTRAINT credentials_kind_check;
ALTER TABLE credentials ADD CONSTRAINT credentials_kind_check
    CHECK (kind IN ('teams_webhook', 'slack_bot_token', 'slack_user_token', 'teams_user_token'));
ALTER TABLE credentials DROP CONSTRAINT credentials_owner_check;
ALTER TABLE credentials ADD CONSTRAINT credentials_owner_check CHECK (
    CASE kind
        WHEN 'teams_webhook' THEN (recipient_id IS NULL) <> (team IS NULL)
        WHEN 'slack_user_token' THEN recipient_id IS NOT NULL AND team IS NULL
        WHEN 'teams_user_token' THEN recipient_id IS NOT NULL AND team IS NULL
        ELSE recipient_id IS NULL AND team IS NULL
    END
);

-- Seed 001: who a recipient is in Microsoft Teams (their Entra ID identity), as
-- Microsoft said when they signed in (OAuth 2.0 code flow, OpenID Connect), for mapping
-- who acted. The token is in `credentials`; deleting it deletes the connection.
CREATE TABLE teams_connections (
    recipient_id    uuid PRIMARY KEY REFERENCES recipients (id) ON DELETE CASCADE,
    tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    credential_id   uuid NOT NULL UNIQUE REFERENCES credentials (id) ON DELETE CASCADE,
    -- The person's Entra tenant (`tid`) and object id (`oid`).
    aad_tenant_id   uuid NOT NULL,
    aad_object_id   uuid NOT NULL,
    display_name    text CHECK (length(display_name) <= 256),
    username        text CHECK (length(username) <= 256),
    scopes          text NOT NULL DEFAULT '' CHECK (length(scopes) <= 500),
    -- Until when the kept token works if nobody uses it: a refresh token lapses after
    -- 90 days unused, an access token (no offline_access granted) within the hour.
    -- Past it the connection is shown `expired`: connect again.
    expires_at      timestamptz NOT NULL,
    connected_at    timestamptz NOT NULL DEFAULT now(),
    -- One Microsoft identity is one recipient.
    UNIQUE (tenant_id, aad_tenant_id, aad_object_id)
);
