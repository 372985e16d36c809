-- Delivery receipts (the `feedback` function) find their row by the provider's message id,
-- and leave what the provider last said: `delivered`, `complained`, `failed` or `bounced`
-- (a failed row with a receipt failed after it was sent).
ALTER TABLE notification_log
    ADD COLUMN receipt text CHECK (receipt IN ('delivered', 'complained', 'failed', 'bounced')),
    ADD COLUMN receipt_at timestamptz;
CREATE INDEX notification_log_provider_message ON notification_log (provider_message_id)
    WHERE provider_message_id IS NOT NULL;

-- Addresses a provider reported as bad (a permanent bounce, a number that does not exist)
-- or whose owner marked a page as spam. Per tenant and channel: nothing more is sent
-- there until someone removes the entry (DELETE /v1/suppressions/...). Kept apart from
-- `opt_outs`, which is a person's own choice about a channel.
CREATE TABLE suppressions (
    tenant_id           uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    channel             text NOT NULL CHECK (channel IN ('email', 'sms', 'push', 'voice')),
    -- Email in lower case, phone numbers in E.164, push endpoint ARNs as they are.
    address             text NOT NULL,
    reason              text NOT NULL CHECK (reason IN ('bounced', 'complained')),
    detail              text,
    provider_message_id text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, channel, address)
);
-- The list's pages, newest first.
CREATE INDEX suppressions_recent ON suppressions (tenant_id, created_at DESC, channel, address);
