-- Every channel: Teams webhooks (sealed at rest) and the in-app inbox.

-- The one place provider credentials are kept: a Teams Power Automate Workflows
-- webhook URL (a bearer secret) today, Slack tokens next. Only AES-256-GCM ciphertext is
-- stored (nonce || ciphertext || tag), with the id of the key that sealed it, so keys
-- rotate. Each belongs to a recipient, or to a team (the escalation's `team`) for the
-- recipients who have none of their own.
CREATE TABLE credentials (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('teams_webhook')),
    recipient_id uuid REFERENCES recipients (id) ON DELETE CASCADE,
    team         text CHECK (length(team) BETWEEN 1 AND 128),
    key_id       text NOT NULL,
    ciphertext   bytea NOT NULL CHECK (length(ciphertext) > 28),
    -- What the API shows back (a webhook's host), never the secret.
    hint         text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK ((recipient_id IS NULL) <> (team IS NULL))
);
CREATE UNIQUE INDEX credentials_recipient ON credentials (recipient_id, kind)
    WHERE recipient_id IS NOT NULL;
CREATE UNIQUE INDEX credentials_team ON credentials (tenant_id, team, kind)
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
    ON notifications (recipient_id, created_at DESC, id DESC)
    WHERE NOT is_read AND deleted_at IS NULL;
-- Retention finds expired and old rows without scanning.
CREATE INDEX notifications_expires_at ON notifications (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX notifications_created_at ON notifications (created_at);
