DROP INDEX escalations_ack_timeout;
ALTER TABLE escalations DROP COLUMN first_round;
