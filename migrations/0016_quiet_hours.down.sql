ALTER TABLE notification_log DROP COLUMN deferred_reason;
ALTER TABLE escalations DROP COLUMN urgency;
ALTER TABLE recipients DROP COLUMN quiet_hours;
