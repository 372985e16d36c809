DROP TABLE slack_installations;
DELETE FROM credentials WHERE kind = 'slack_bot_token';
DROP INDEX credentials_tenant;
ALTER TABLE credentials DROP CONSTRAINT credentials_owner_check;
ALTER TABLE credentials ADD CONSTRAINT credentials_check CHECK ((recipient_id IS NULL) <> (team IS NULL));
ALTER TABLE credentials DROP CONSTRAINT credentials_kind_check;
ALTER TABLE credentials ADD CONSTRAINT credentials_kind_check CHECK (kind IN ('teams_webhook'));
