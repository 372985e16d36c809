DROP TABLE suppressions;
DROP INDEX notification_log_provider_message;
ALTER TABLE notification_log DROP COLUMN receipt, DROP COLUMN receipt_at;
