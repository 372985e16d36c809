DROP TABLE slack_connections;
DELETE FROM credentials WHERE kind = 'slack_user_token';
ALTER TABLE credentials DROP CONSTRAINT credentials_owner_check;
ALTER TABLE credentials ADD CONSTRAINT credentials_owner_check CHECK (
    CASE kind
        WHEN 'teams_webhook' THEN (recipient_id IS NULL) <> (team IS NULL)
        ELSE recipient_id IS NULL AND team IS NULL
    END
);
ALTER TABLE credentials DROP CONSTRAINT credentials_kind_check;
ALTER TABLE credentials ADD CONSTRAINT credentials_kind_check
    CHECK (kind IN ('teams_webhook', 'slack_bot_token'));
DROP TABLE oauth_states;
