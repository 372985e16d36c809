-- Seed 004: a person's opt-outs. A channel, or `all` of them, that Herald must not page
-- them on, whatever the priority, until `expires_at` (never, when NULL). The dispatch
-- claim reads it in its one statement: an opted-out row is suppressed (`opted_out`)
-- and the escalation moves on to the person's other channels at once.
CREATE TABLE opt_outs (
    recipient_id uuid NOT NULL REFERENCES recipients (id) ON DELETE CASCADE,
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    channel      text NOT NULL
        CHECK (channel IN ('email', 'sms', 'push', 'slack', 'teams', 'voice', 'all')),
    reason       text CHECK (char_length(reason) <= 500),
    expires_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    -- One per person and channel: the claim's lookup, and the API's upsert.
    PRIMARY KEY (recipient_id, channel)
);

-- Retention drops opt-outs that ran out.
CREATE INDEX opt_outs_expires_at ON opt_outs (expires_at) WHERE expires_at IS NOT NULL;
