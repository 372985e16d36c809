CREATE INDEX magic_link_tokens_escalation_id ON magic_link_tokens (escalation_id);
ALTER TABLE magic_link_tokens
    DROP CONSTRAINT magic_link_tokens_pkey,
    ADD CONSTRAINT magic_link_tokens_token_hash_key UNIQUE (token_hash);
ALTER TABLE magic_link_tokens ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE magic_link_tokens ADD PRIMARY KEY (id);
CREATE INDEX notification_log_escalation_channel ON notification_log (escalation_id, channel);
ALTER TABLE magic_link_tokens
    ADD CONSTRAINT magic_link_tokens_tenant_id_fkey
        FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    ADD CONSTRAINT magic_link_tokens_escalation_id_fkey
        FOREIGN KEY (escalation_id) REFERENCES escalations (id) ON DELETE CASCADE,
    ADD CONSTRAINT magic_link_tokens_recipient_id_fkey
        FOREIGN KEY (recipient_id) REFERENCES recipients (id) ON DELETE CASCADE;
ALTER TABLE magic_link_tokens ALTER COLUMN notification_id DROP NOT NULL;
