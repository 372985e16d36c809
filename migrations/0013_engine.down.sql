DELETE FROM notification_log WHERE round > 0;
ALTER TABLE notification_log DROP CONSTRAINT notification_log_step_key;
ALTER TABLE notification_log
    ADD CONSTRAINT notification_log_escalation_id_recipient_id_channel_level_key
    UNIQUE (escalation_id, recipient_id, channel, level);
ALTER TABLE notification_log DROP COLUMN tier, DROP COLUMN round;
DROP INDEX escalations_next_step;
ALTER TABLE escalations DROP COLUMN exhausted_at, DROP COLUMN round_started_at,
    DROP COLUMN current_round, DROP COLUMN policy;
