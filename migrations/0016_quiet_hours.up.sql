-- Quiet hours (issue 9): a person's weekly windows on their own clock (`timezone`), in
-- which pages that can wait are held back; and an escalation's urgency (PagerDuty's):
-- `low` never rings a phone (SMS, voice) inside someone's quiet hours, even when critical.
-- The rule is domain::quiet_hours; the dispatch claim reads both beside the row.
ALTER TABLE recipients
    ADD COLUMN quiet_hours jsonb
        CHECK (quiet_hours IS NULL OR jsonb_typeof(quiet_hours) = 'array');

ALTER TABLE escalations
    ADD COLUMN urgency text NOT NULL DEFAULT 'high' CHECK (urgency IN ('high', 'low'));

-- A row held back stays `queued`, due at `next_attempt_at` (the end of the quiet hours),
-- and says why; the next claim clears it.
ALTER TABLE notification_log ADD COLUMN deferred_reason text;
