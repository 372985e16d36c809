-- Curated, high-signal events for the people who run Herald: never a log sink. One open
-- event per (tenant, kind, subject): a repeat bumps `occurrences` and `last_seen_at`, so
-- one outage is one event, not thousands. `tenant_id` NULL: about Herald itself (a
-- provider failing for everyone).
CREATE TABLE admin_system_events (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id      uuid REFERENCES tenants (id) ON DELETE CASCADE,
    kind           text NOT NULL CHECK (kind IN ('provider_failing', 'escalation_exhausted',
                                                 'credential_revoked', 'dlq_messages',
                                                 'sending_paused')),
    severity       text NOT NULL CHECK (severity IN ('critical', 'warning', 'info')),
    -- What it is about, within its kind: a channel, an escalation id, a credential id.
    subject        text NOT NULL,
    title          text NOT NULL CHECK (length(title) <= 300),
    detail         jsonb NOT NULL DEFAULT '{}'::jsonb,
    occurrences    integer NOT NULL DEFAULT 1,
    first_seen_at  timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    resolved_at    timestamptz,
    resolved_by    text,
    CHECK ((resolved_at IS NULL) = (resolved_by IS NULL))
);
CREATE UNIQUE INDEX admin_system_events_open ON admin_system_events (tenant_id, kind, subject)
    NULLS NOT DISTINCT WHERE resolved_at IS NULL;
-- The list, newest first; retention's scan of resolved ones.
CREATE INDEX admin_system_events_recent ON admin_system_events (tenant_id, last_seen_at DESC);
CREATE INDEX admin_system_events_resolved ON admin_system_events (resolved_at)
    WHERE resolved_at IS NOT NULL;
