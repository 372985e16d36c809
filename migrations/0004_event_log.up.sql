-- Append-only audit of every state change and who made it. No foreign key to
-- escalations: the audit outlives the escalation rows it describes.
CREATE TABLE event_log (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id        uuid NOT NULL,
    escalation_id    uuid,
    notification_id  uuid,
    event_type       text NOT NULL,
    actor_type       text NOT NULL CHECK (actor_type IN ('api_key', 'recipient', 'system')),
    actor_id         text,
    actor_ip         inet,
    actor_user_agent text,
    detail           jsonb NOT NULL DEFAULT '{}'::jsonb,
    occurred_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX event_log_escalation ON event_log (escalation_id, occurred_at);
CREATE INDEX event_log_occurred_at ON event_log (occurred_at);

CREATE FUNCTION event_log_reject_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'event_log is append-only';
END;
$$;
CREATE TRIGGER event_log_append_only
    BEFORE UPDATE ON event_log
    FOR EACH ROW EXECUTE FUNCTION event_log_reject_update();
