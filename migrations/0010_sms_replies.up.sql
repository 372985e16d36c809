-- Answering a page by SMS reply ("4a" acknowledges, "4r" resolves).
--
-- How many codes each phone number has been given: the next page to it gets code
-- (issued % 99) + 1. Taking codes bumps this row, so two batches paging the same number
-- at once queue on it and never hand out the same code twice.
CREATE TABLE sms_reply_counters (
    phone      text PRIMARY KEY CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    issued     bigint NOT NULL CHECK (issued >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sms_reply_counters_updated_at ON sms_reply_counters (updated_at);

-- The page a phone number's code stands for. A number's code is unique to it; a code
-- handed out again (99 pages later) replaces the old row. Deleted with the escalation,
-- or an hour after it is resolved (retention): a reply then gets help, not an action.
CREATE TABLE sms_reply_codes (
    phone         text NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    code          smallint NOT NULL CHECK (code BETWEEN 1 AND 99),
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    escalation_id uuid NOT NULL REFERENCES escalations (id) ON DELETE CASCADE,
    recipient_id  uuid NOT NULL REFERENCES recipients (id) ON DELETE CASCADE,
    assigned_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (phone, code)
);
-- A page sent again to the same number keeps its code; retention finds codes by it.
CREATE INDEX sms_reply_codes_escalation ON sms_reply_codes (escalation_id, phone);

-- Every inbound SMS handled, by End User Messaging's id, recorded in the same
-- transaction as the action it took: a redelivered message is never acted on twice.
-- `answer` is what Herald replies (NULL: nothing, for a carrier keyword or help sent
-- recently); one delivery at a time may send it (`answering_until`, a short lease), and
-- `answered_at` says it went, so a crash in between sends it once on redelivery. The
-- body is never stored.
CREATE TABLE sms_replies (
    inbound_message_id text PRIMARY KEY CHECK (length(inbound_message_id) BETWEEN 1 AND 200),
    phone              text NOT NULL,
    -- NULL only inside the transaction that handles the message.
    outcome            text CHECK (outcome IN
                           ('applied', 'already_done', 'unknown_code', 'help', 'carrier_keyword', 'too_late')),
    escalation_id      uuid,
    answer             text CHECK (length(answer) <= 1600),
    answering_until    timestamptz,
    answered_at        timestamptz,
    received_at        timestamptz NOT NULL DEFAULT now()
);
-- Help is sent to a number at most once in ten minutes (an auto-responder must not
-- start a loop); retention deletes by age.
CREATE INDEX sms_replies_phone ON sms_replies (phone, received_at);
CREATE INDEX sms_replies_received_at ON sms_replies (received_at);
