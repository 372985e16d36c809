-- The acknowledgement timeout (issue 9, PagerDuty's): a policy's `ack_timeout_minutes`
-- puts an escalation acknowledged but not resolved in time back to `triggered`, and the
-- policy starts over from its first level with its repeats. `first_round` is the round
-- the current pass began with (repeats count from it; round numbers only go up, so
-- every row stays unique). On acknowledgement `next_escalation_at` is the timeout.
ALTER TABLE escalations
    ADD COLUMN first_round integer NOT NULL DEFAULT 0 CHECK (first_round >= 0);
-- The engine finds acknowledgements that timed out with an index scan of only those
-- that have one.
CREATE INDEX escalations_ack_timeout ON escalations (next_escalation_at)
    WHERE status = 'acknowledged' AND next_escalation_at IS NOT NULL;
