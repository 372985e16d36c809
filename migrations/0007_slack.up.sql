-- Slack: the tenant's Slack installation. Its bot token is a credential like a Teams
-- webhook (sealed, with its key id), owned by the tenant as a whole: neither a
-- recipient's nor a team's.
ALTER TABLE credentials DROP CONSTRAINT credentials_kind_check;
ALTER TABLE credentials ADD CONSTRAINT credentials_kind_check
    CHECK (kind IN ('teams_webhook', 'slack_bot_token'));
ALTER TABLE credentials DROP CONSTRAINT credentials_check;
ALTER TABLE credentials ADD CONSTRAINT credentials_owner_check CHECK (
    CASE kind
        WHEN 'teams_webhook' THEN (recipient_id IS NULL) <> (team IS NULL)
        ELSE recipient_id IS NULL AND team IS NULL
    END
);
CREATE UNIQUE INDEX credentials_tenant ON credentials (tenant_id, kind)
    WHERE recipient_id IS NULL AND team IS NULL;

-- What Slack told us about the installation (no secret here): which workspace it is,
-- so an interaction from Slack finds its tenant, and the bot's own user id.
CREATE TABLE slack_installations (
    tenant_id     uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    slack_team_id text NOT NULL UNIQUE CHECK (slack_team_id ~ '^[TE][A-Z0-9]{2,20}$'),
    bot_user_id   text CHECK (bot_user_id ~ '^[UWB][A-Z0-9]{2,20}$'),
    installed_at  timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
