DROP INDEX magic_link_tokens_used_at;
DROP INDEX escalations_resolved_at;
DROP INDEX notification_log_lease;
DROP INDEX notification_log_outbox;
ALTER TABLE notification_log DROP CONSTRAINT notification_log_queued_is_swept;
ALTER TABLE notification_log ALTER COLUMN next_attempt_at DROP DEFAULT;
UPDATE notification_log SET next_attempt_at = NULL WHERE status = 'queued';
