-- What each dispatch batch writes, trimmed (measured: herald-local bench --only dispatch).
--
-- A token is minted only by the claim, for the notification it is claimed with, and
-- copies that row's tenant, escalation and recipient in the same statement: its one
-- foreign key is the notification (whose own keys cover the other three, and whose
-- deletion cascades here). Three more checks per token cost 60 lookups a batch.
-- Tokens minted before the claim stored them (none since 0003's first dispatcher)
-- belong to their escalation's delivery row for the same person; one without any
-- delivery row cannot be reached by a message and goes.
UPDATE magic_link_tokens AS t SET notification_id = (
    SELECT n.id FROM notification_log n
    WHERE n.escalation_id = t.escalation_id AND n.recipient_id = t.recipient_id
    ORDER BY n.channel = 'email' DESC, n.id
    LIMIT 1)
WHERE t.notification_id IS NULL;
DELETE FROM magic_link_tokens WHERE notification_id IS NULL;
ALTER TABLE magic_link_tokens ALTER COLUMN notification_id SET NOT NULL;
ALTER TABLE magic_link_tokens
    DROP CONSTRAINT magic_link_tokens_tenant_id_fkey,
    DROP CONSTRAINT magic_link_tokens_escalation_id_fkey,
    DROP CONSTRAINT magic_link_tokens_recipient_id_fkey;
-- Each token row writes every index of the table, and the claim writes one or two per
-- delivery: a token is found by its hash, which is its key (no surrogate id besides),
-- and by its notification (the cascade, and retention's "escalation gone" rule, which
-- reaches the tokens through the escalation's delivery rows).
ALTER TABLE magic_link_tokens DROP COLUMN id;
ALTER TABLE magic_link_tokens
    DROP CONSTRAINT magic_link_tokens_token_hash_key,
    ADD CONSTRAINT magic_link_tokens_pkey PRIMARY KEY (token_hash);
DROP INDEX magic_link_tokens_escalation_id;

-- Every status change of a delivery writes each of notification_log's indexes (status
-- is indexed, so no update is HOT): (escalation_id, channel) is served by the step
-- key's leading escalation_id, which finds an escalation's few rows as well.
DROP INDEX notification_log_escalation_channel;
