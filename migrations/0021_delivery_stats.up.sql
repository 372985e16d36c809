-- GET /v1/stats/deliveries reads one tenant's recent rows: by queueing time, with what the
-- figures need carried in the index so the scan never visits the table (10M rows, ≤ 100 ms).
CREATE INDEX notification_log_tenant_recent ON notification_log (tenant_id, queued_at)
    INCLUDE (channel, status, next_attempt_at, sent_at, delivered_at, receipt);
