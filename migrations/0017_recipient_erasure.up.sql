-- Recipients as a resource (issue 9): `DELETE /v1/recipients/{id}` erases the person.
-- Their row stays as a tombstone (the tenant's id for them, and nothing else) so the
-- delivery log and the audit log keep pointing at an id; everything that describes them
-- is gone.
ALTER TABLE recipients ADD COLUMN erased_at timestamptz;

-- The audit log stays append-only, with one exception: erasure may take a person's
-- personal data out of the events they made (their IP, their user agent, and their name
-- in `detail.by`, which becomes their id). Nothing else about an event can change.
CREATE OR REPLACE FUNCTION event_log_reject_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id = OLD.id
       AND NEW.tenant_id = OLD.tenant_id
       AND NEW.escalation_id IS NOT DISTINCT FROM OLD.escalation_id
       AND NEW.notification_id IS NOT DISTINCT FROM OLD.notification_id
       AND NEW.event_type = OLD.event_type
       AND NEW.actor_type = OLD.actor_type
       AND NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id
       AND NEW.occurred_at = OLD.occurred_at
       AND OLD.actor_type = 'recipient'
       AND NEW.actor_ip IS NULL
       AND NEW.actor_user_agent IS NULL
       AND NEW.detail - 'by' = OLD.detail - 'by'
       AND (NOT NEW.detail ? 'by' OR NEW.detail->>'by' = NEW.actor_id)
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'event_log is append-only';
END;
$$;

-- Erasure finds the events a person made by their id: a small index, as only answers
-- from a message (links, buttons, SMS replies) have a recipient as actor.
CREATE INDEX event_log_recipient_actor ON event_log (tenant_id, actor_id)
    WHERE actor_type = 'recipient';
