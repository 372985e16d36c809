-- Escalations and one delivery row per (escalation, recipient, channel, level).
CREATE TABLE escalations (
    id                            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id                     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    dedup_key                     text CHECK (length(dedup_key) BETWEEN 1 AND 255),
    title                         text NOT NULL,
    body                          text NOT NULL,
    priority                      text NOT NULL CHECK (priority IN ('critical', 'high', 'medium', 'low', 'info')),
    service                       text,
    team                          text,
    alert_count                   integer NOT NULL DEFAULT 1 CHECK (alert_count >= 0),
    dashboard_url                 text,
    channel_policy                jsonb NOT NULL,
    status                        text NOT NULL DEFAULT 'triggered'
                                  CHECK (status IN ('triggered', 'acknowledged', 'resolved')),
    triggered_at                  timestamptz NOT NULL DEFAULT now(),
    created_at                    timestamptz NOT NULL DEFAULT now(),
    acknowledged_at               timestamptz,
    acknowledged_by               text,
    acknowledged_by_recipient_id  uuid REFERENCES recipients (id) ON DELETE SET NULL,
    resolved_at                   timestamptz,
    resolved_by                   text,
    resolved_by_recipient_id      uuid REFERENCES recipients (id) ON DELETE SET NULL,
    current_level                 integer NOT NULL DEFAULT 0,
    next_escalation_at            timestamptz
);
-- Idempotent ingest: one OPEN escalation per (tenant, dedup_key). A resolved escalation
-- releases its key, so the same alert firing again next week pages again instead of
-- being swallowed by last week's incident.
CREATE UNIQUE INDEX escalations_open_dedup_key
    ON escalations (tenant_id, dedup_key) WHERE status <> 'resolved';
CREATE INDEX escalations_tenant_created ON escalations (tenant_id, created_at DESC);

CREATE TABLE notification_log (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id           uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    escalation_id       uuid NOT NULL REFERENCES escalations (id) ON DELETE CASCADE,
    recipient_id        uuid NOT NULL REFERENCES recipients (id) ON DELETE CASCADE,
    channel             text NOT NULL
                        CHECK (channel IN ('email', 'sms', 'push', 'slack', 'teams', 'voice', 'in_app')),
    level               integer NOT NULL DEFAULT 0,
    status              text NOT NULL DEFAULT 'queued'
                        CHECK (status IN ('queued', 'sending', 'sent', 'delivered', 'failed', 'suppressed')),
    suppressed_reason   text,
    provider_message_id text,
    error               text,
    retryable           boolean,
    attempt_count       integer NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz,
    lease_expires_at    timestamptz,
    queued_at           timestamptz NOT NULL DEFAULT now(),
    sent_at             timestamptz,
    delivered_at        timestamptz,
    last_attempt_at     timestamptz,
    -- Also serves lookups by (escalation_id, recipient_id, channel).
    UNIQUE (escalation_id, recipient_id, channel, level),
    CHECK (status <> 'suppressed' OR suppressed_reason IS NOT NULL)
);
CREATE INDEX notification_log_escalation_channel ON notification_log (escalation_id, channel);
CREATE INDEX notification_log_recipient_status ON notification_log (recipient_id, status);
-- Retries that are due: small, because only failed rows with attempts left are in it.
CREATE INDEX notification_log_due ON notification_log (next_attempt_at)
    WHERE status = 'failed' AND next_attempt_at IS NOT NULL;
