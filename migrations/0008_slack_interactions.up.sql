-- Slack interactions already acted on, by their signature: the same signed request
-- sent again (a replay, within Slack's five-minute window) is refused. Retention
-- deletes rows once no replay of them could pass the timestamp check any more.
CREATE TABLE slack_request_signatures (
    signature   bytea PRIMARY KEY CHECK (length(signature) = 32),
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX slack_request_signatures_received_at ON slack_request_signatures (received_at);

-- A click names its Slack user: find the recipient by it.
CREATE INDEX recipients_slack_user ON recipients (tenant_id, slack_user_id)
    WHERE slack_user_id IS NOT NULL;
