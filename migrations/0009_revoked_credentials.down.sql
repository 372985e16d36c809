ALTER TABLE credentials DROP COLUMN revoked_reason, DROP COLUMN revoked_at;
