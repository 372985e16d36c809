DROP TABLE teams_connections;
DELETE FROM credentials WHERE kind = 'teams_user_token';
ALTER TABLE credentials DROP CONSTRAINT credentials_owner_check;
ALTER TABLE credentials ADD CONSTRAINT credentials_owner_check CHECK (
    CASE kind
        WHEN 'teams_webhook' THEN (recipient_id IS NULL) <> (team IS NULL)
        WHEN 'slack_user_token' THEN recipient_id IS NOT NULL AND team IS NULL
        ELSE recipient_id IS NULL AND team IS NULL
    END
);
ALTER TABLE credentials DROP CONSTRAINT credentials_kind_check;
ALTER TABLE credentials ADD CONSTRAINT credentials_kind_check
    CHECK (kind IN ('teams_webhook', 'slack_bot_token', 'slack_user_token'));
DELETE FROM oauth_states WHERE provider = 'teams';
ALTER TABLE oauth_states DROP COLUMN provider;
