-- One-time action links. Only the SHA-256 of a token is stored; the token itself
-- exists only in the message sent to the recipient.
CREATE TABLE magic_link_tokens (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    escalation_id   uuid NOT NULL REFERENCES escalations (id) ON DELETE CASCADE,
    recipient_id    uuid NOT NULL REFERENCES recipients (id) ON DELETE CASCADE,
    notification_id uuid REFERENCES notification_log (id) ON DELETE CASCADE,
    token_hash      bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    action          text NOT NULL CHECK (action IN ('acknowledge', 'resolve')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz,
    used_ip         inet,
    used_user_agent text
);
CREATE INDEX magic_link_tokens_escalation_id ON magic_link_tokens (escalation_id);
CREATE INDEX magic_link_tokens_notification_id ON magic_link_tokens (notification_id);
CREATE INDEX magic_link_tokens_expires_at ON magic_link_tokens (expires_at);
