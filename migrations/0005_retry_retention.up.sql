-- What the retry sweep and retention need.
--
-- For a `queued` row, next_attempt_at is when it was last handed to SQS: the outbox
-- sweep re-enqueues queued rows whose next_attempt_at is older than a grace period (the
-- SQS send after the ingest commit failed, or the message was lost). The CHECK makes
-- sure no queued row can hide from that sweep; the DEFAULT keeps a writer that does not
-- know the column (a rolled-back ingest) working.
UPDATE notification_log SET next_attempt_at = queued_at
WHERE status = 'queued' AND next_attempt_at IS NULL;
ALTER TABLE notification_log ALTER COLUMN next_attempt_at SET DEFAULT now();
ALTER TABLE notification_log
    ADD CONSTRAINT notification_log_queued_is_swept
    CHECK (status <> 'queued' OR next_attempt_at IS NOT NULL);
CREATE INDEX notification_log_outbox ON notification_log (next_attempt_at)
    WHERE status = 'queued';
-- Claimed rows whose dispatcher may have died: small, only rows in flight are in it.
CREATE INDEX notification_log_lease ON notification_log (lease_expires_at)
    WHERE status = 'sending';
-- Retention finds old resolved escalations and used tokens without scanning.
CREATE INDEX escalations_resolved_at ON escalations (resolved_at)
    WHERE status = 'resolved';
CREATE INDEX magic_link_tokens_used_at ON magic_link_tokens (used_at)
    WHERE used_at IS NOT NULL;
