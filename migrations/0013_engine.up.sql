-- The escalation engine: an escalation runs under a policy (levels of people over time,
-- repeated while nobody answers), and every notification row says which level, round
-- and channel tier of it it belongs to.
ALTER TABLE escalations
    -- The policy as it was when the escalation started (a later edit does not change a
    -- running escalation). NULL for escalations from before the engine: they run
    -- nothing further.
    ADD COLUMN policy jsonb,
    -- current_level (from 0002) is the last level of this round that fired.
    ADD COLUMN current_round integer NOT NULL DEFAULT 0 CHECK (current_round >= 0),
    ADD COLUMN round_started_at timestamptz,
    -- The last round ended and nobody answered: nothing more is sent.
    ADD COLUMN exhausted_at timestamptz;
UPDATE escalations SET round_started_at = triggered_at;
ALTER TABLE escalations ALTER COLUMN round_started_at SET NOT NULL,
    ALTER COLUMN round_started_at SET DEFAULT now();
-- The engine's sweep takes due escalations oldest first: an index scan of only the
-- escalations that still have a step to come.
CREATE INDEX escalations_next_step ON escalations (next_escalation_at)
    WHERE status = 'triggered' AND next_escalation_at IS NOT NULL;

ALTER TABLE notification_log
    ADD COLUMN round integer NOT NULL DEFAULT 0 CHECK (round >= 0),
    ADD COLUMN tier text NOT NULL DEFAULT 'primary'
        CHECK (tier IN ('primary', 'secondary', 'fallback'));
-- A repeat pages the same person on the same channel at the same level again: the
-- round is part of what makes a row unique.
ALTER TABLE notification_log
    DROP CONSTRAINT notification_log_escalation_id_recipient_id_channel_level_key;
ALTER TABLE notification_log
    ADD CONSTRAINT notification_log_step_key UNIQUE (escalation_id, recipient_id, channel, level, round);
