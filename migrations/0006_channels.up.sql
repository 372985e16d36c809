-- Every channel: Teams webhooks (sealed at rest) and the in-app inbox.

-- A Teams Power Automate Workflows webhook URL is a bearer secret: only its AES-256-GCM
-- ciphertext is stored (nonce || ciphertext || tag), with the id of the key that sealed
-- it, so keys rotate. One per recipient, or one per team (the escalation's `team`), used
-- for a recipient who has none of their own.
CREATE TABLE teams_webhooks (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    recipient_id uuid REFERENCES recipients (id) ON DELETE CASCADE,
    team         text CHECK (length(team) BETWEEN 1 AND 128),
    key_id       text NOT NULL,
    ciphertext   bytea NOT NULL CHECK (length(ciphertext) > 28),
    -- Shown back (the URL never is): which tenant it posts to.
    host         text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK ((recipient_id IS NULL) <> (team IS NULL))
);
CREATE UNIQUE INDEX teams_webhooks_recipient ON teams_webhooks (recipient_id)
    WHERE recipient_id IS NOT NULL;
CREATE UNIQUE INDEX teams_webhooks_team ON teams_webhooks (tenant_id, team)
    WHERE team IS NOT NULL;

-- The in-app inbox. Ingest writes a row per in-app delivery in the same statement as
-- the escalation; the delivery log shows that row as delivered.
CREATE TABLE notifications (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id           uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    recipient_id        uuid NOT NULL REFERENCES recipients (id) ON DELETE CASCADE,
    escalation_id       uuid REFERENCES escalations (id) ON DELETE CASCADE,
    notification_log_id uuid REFERENCES notification_log (id) ON DELETE CASCADE,
    type                text NOT NULL DEFAULT 'escalation',
    title               text NOT NULL,
    message             text NOT NULL DEFAULT '',
    channel             text NOT NULL DEFAULT 'in_app',
    priority            text,
    is_read             boolean NOT NULL DEFAULT false,
    read_at             timestamptz,
    expires_at          timestamptz,
    deleted_at          timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (is_read = (read_at IS NOT NULL))
);
-- A recipient's inbox, newest first, with a stable keyset order (created_at, id).
CREATE INDEX notifications_recipient_created
    ON notifications (recipient_id, created_at DESC, id DESC);
-- The unread badge: only unread, undeleted rows are in it.
CREATE INDEX notifications_unread
    ON notifications (recipient_id, created_at DESC)
    WHERE NOT is_read AND deleted_at IS NULL;
-- Retention finds expired and old rows without scanning.
CREATE INDEX notifications_expires_at ON notifications (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX notifications_created_at ON notifications (created_at);
