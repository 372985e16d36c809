-- Rows that make the sample events in events/ meaningful: the demo API key, the
-- escalation the GET/acknowledge/resolve samples name, and the magic-link token the
-- magic-link samples carry (stored, as always, only as its SHA-256).
INSERT INTO tenants (id, name) VALUES ('00000000-0000-4000-8000-000000000001', 'Samples');
INSERT INTO api_keys (tenant_id, key_hash, prefix, name)
VALUES ('00000000-0000-4000-8000-000000000001',
        sha256('hk_demo_0123456789abcdef0123456789abcdef'::bytea), 'hk_demo', 'sample events');
INSERT INTO recipients (id, tenant_id, external_id, name, email)
VALUES ('00000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000001',
        'u-alice', 'Alice Martin', 'alice@example.com');
INSERT INTO escalations (id, tenant_id, dedup_key, title, body, priority, service, team, channel_policy)
VALUES ('0b3f1c1e-5f7e-4c8a-9a51-2b8f1f6d9c10', '00000000-0000-4000-8000-000000000001', 'sample',
        'Sample escalation', '', 'high', 'orders-db', 'platform',
        '{"primary":["email"],"secondary":[],"fallback":[]}');
-- The email that carried the token: a token belongs to the delivery it was sent in.
INSERT INTO notification_log (id, tenant_id, escalation_id, recipient_id, channel, status, attempt_count, sent_at)
VALUES ('6d1c8e2f-3b4a-4f5e-9d9c-0a1b2c3d4e50', '00000000-0000-4000-8000-000000000001',
        '0b3f1c1e-5f7e-4c8a-9a51-2b8f1f6d9c10', '00000000-0000-4000-8000-000000000002',
        'email', 'sent', 1, now());
INSERT INTO magic_link_tokens (tenant_id, escalation_id, recipient_id, notification_id, token_hash, action, expires_at)
VALUES ('00000000-0000-4000-8000-000000000001', '0b3f1c1e-5f7e-4c8a-9a51-2b8f1f6d9c10',
        '00000000-0000-4000-8000-000000000002', '6d1c8e2f-3b4a-4f5e-9d9c-0a1b2c3d4e50',
        sha256('Qm9ndXNUb2tlbkZvclNhbXBsZUV2ZW50c09ubHkxMjM'::bytea), 'acknowledge', now() + interval '1 day');
-- A second escalation, still triggered when the dispatcher samples run, with one queued
-- row per dispatched channel: the sample batches' first envelope names it. Bob's address
-- book is his own (the create-escalation sample re-upserts Alice); the Teams row is
-- Alice's, whose webhook the put-teams-webhook sample registers; the Slack row goes out
-- with the installation lambda-smoke.sh stores (`herald-local slack install`).
INSERT INTO recipients (id, tenant_id, external_id, name, phone, slack_user_id, push_endpoint_arn)
VALUES ('00000000-0000-4000-8000-000000000003', '00000000-0000-4000-8000-000000000001',
        'u-bob', 'Bob Stone', '+14155550102', 'U0BOB00001',
        'arn:aws:sns:us-east-1:123456789012:endpoint/GCM/herald-samples/00000000-0000-4000-8000-0000000000aa');
INSERT INTO escalations (id, tenant_id, dedup_key, title, body, priority, service, channel_policy)
VALUES ('1c4e2d2f-6a7b-4c8d-9e0f-1a2b3c4d5e6f', '00000000-0000-4000-8000-000000000001', 'sample-channels',
        'Sample escalation on every channel', '', 'critical', 'orders-db',
        '{"primary":["sms","push","slack","teams","voice"],"secondary":[],"fallback":[]}');
INSERT INTO notification_log (id, tenant_id, escalation_id, recipient_id, channel)
VALUES ('5c0b7d1e-2a39-4e4d-8c8b-9f0a1b2c3d41', '00000000-0000-4000-8000-000000000001',
        '1c4e2d2f-6a7b-4c8d-9e0f-1a2b3c4d5e6f', '00000000-0000-4000-8000-000000000003', 'sms'),
       ('4b9a6c0d-1928-4d3c-9b7a-8e9f0a1b2c52', '00000000-0000-4000-8000-000000000001',
        '1c4e2d2f-6a7b-4c8d-9e0f-1a2b3c4d5e6f', '00000000-0000-4000-8000-000000000003', 'push'),
       ('3a895bfc-0817-4c2b-8a69-7d8e9f0a1b63', '00000000-0000-4000-8000-000000000001',
        '1c4e2d2f-6a7b-4c8d-9e0f-1a2b3c4d5e6f', '00000000-0000-4000-8000-000000000002', 'teams'),
       ('29784aeb-f706-4b1a-9958-6c7d8e9f0a74', '00000000-0000-4000-8000-000000000001',
        '1c4e2d2f-6a7b-4c8d-9e0f-1a2b3c4d5e6f', '00000000-0000-4000-8000-000000000003', 'voice'),
       ('18673fda-e5f6-4a09-8847-5b6c7d8e9f85', '00000000-0000-4000-8000-000000000001',
        '1c4e2d2f-6a7b-4c8d-9e0f-1a2b3c4d5e6f', '00000000-0000-4000-8000-000000000003', 'slack');
-- Alice's inbox (the list-notifications sample reads it).
INSERT INTO notifications (tenant_id, recipient_id, escalation_id, title, message, priority)
VALUES ('00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002',
        '1c4e2d2f-6a7b-4c8d-9e0f-1a2b3c4d5e6f', 'Sample escalation on every channel', '', 'critical');
-- Bob's SMS page of the escalation on every channel carried reply code 1 (the claim
-- hands codes out; the sms-reply sample replies "1a" from his number).
INSERT INTO sms_reply_codes (phone, code, tenant_id, escalation_id, recipient_id)
VALUES ('+14155550102', 1, '00000000-0000-4000-8000-000000000001',
        '1c4e2d2f-6a7b-4c8d-9e0f-1a2b3c4d5e6f', '00000000-0000-4000-8000-000000000003');
