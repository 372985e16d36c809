-- A tenant's own message per channel (domain::template): MiniJinja sources, checked when
-- saved. No row: Herald's default message. The claim reads the row with the page, so a
-- template change applies to the next batch sent.
CREATE TABLE templates (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    channel     text NOT NULL CHECK (channel IN ('email', 'sms', 'push', 'voice')),
    subject     text CHECK (length(subject) <= 20000),
    text        text NOT NULL CHECK (length(text) <= 20000),
    html        text CHECK (length(html) <= 100000),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  text NOT NULL,
    PRIMARY KEY (tenant_id, channel)
);
