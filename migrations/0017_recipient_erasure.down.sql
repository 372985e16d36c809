DROP INDEX event_log_recipient_actor;
CREATE OR REPLACE FUNCTION event_log_reject_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'event_log is append-only';
END;
$$;
ALTER TABLE recipients DROP COLUMN erased_at;
