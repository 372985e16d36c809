-- A credential the provider refused as revoked or expired (a Slack token revoked, a
-- Teams webhook deleted): kept, marked, shown to admins by GET /v1/integrations, and no
-- longer sent with until it is replaced (which clears the mark).
ALTER TABLE credentials
    ADD COLUMN revoked_at     timestamptz,
    ADD COLUMN revoked_reason text CHECK (length(revoked_reason) <= 200);
