//! Retention deletes exactly what is past its window, in bounded batches, and stops at
//! its budget.

use std::time::{Duration, Instant};

use herald::db::retention::{RULES, delete_batch};
use herald::domain::Budget;

use crate::helpers::TestApp;

/// Expired and live rows of every kind. Rows retention must delete carry the label
/// "gone" (escalation title, token user agent, event type), rows it must keep "keep".
async fn seed(app: &TestApp) {
    let t = app.tenant_id;
    let client = app.pool.get().await.expect("conn");
    client
        .batch_execute(&format!(
            r#"
            INSERT INTO recipients (tenant_id, external_id, email) VALUES ('{t}', 'r1', 'r1@example.com');
            -- Resolved more than 90 days ago: gone, with their delivery rows and tokens.
            INSERT INTO escalations (tenant_id, title, body, priority, channel_policy, status, triggered_at, resolved_at)
            SELECT '{t}', 'gone', 'b', 'high', '{{}}', 'resolved', now() - interval '120 days', now() - interval '91 days'
            FROM generate_series(1, 5);
            -- Resolved recently, or old but still open or acknowledged: kept.
            INSERT INTO escalations (tenant_id, title, body, priority, channel_policy, status, triggered_at, resolved_at)
            SELECT '{t}', 'keep', 'b', 'high', '{{}}', 'resolved', now() - interval '100 days', now() - interval '89 days'
            FROM generate_series(1, 3);
            INSERT INTO escalations (tenant_id, title, body, priority, channel_policy, status, triggered_at)
            SELECT '{t}', 'keep', 'b', 'high', '{{}}', s, now() - interval '400 days'
            FROM unnest(ARRAY['triggered', 'acknowledged']) AS s;
            INSERT INTO notification_log (tenant_id, escalation_id, recipient_id, channel, status)
            SELECT e.tenant_id, e.id, r.id, c, 'sent'
            FROM escalations e CROSS JOIN recipients r CROSS JOIN unnest(ARRAY['email', 'sms', 'push']) AS c;
            -- Two long-expired tokens per old escalation.
            INSERT INTO magic_link_tokens (tenant_id, escalation_id, recipient_id, notification_id, token_hash, action, expires_at, used_user_agent)
            SELECT e.tenant_id, e.id, n.recipient_id, n.id, sha256(gen_random_uuid()::text::bytea), a,
                   now() - interval '90 days', 'gone'
            FROM escalations e JOIN notification_log n ON n.escalation_id = e.id AND n.channel = 'email'
            CROSS JOIN unnest(ARRAY['acknowledge', 'resolve']) AS a
            WHERE e.title = 'gone';
            -- Tokens of a live escalation: expired or used more than a day ago go.
            INSERT INTO magic_link_tokens (tenant_id, escalation_id, recipient_id, notification_id, token_hash, action, expires_at, used_at, used_user_agent)
            SELECT e.tenant_id, e.id, n.recipient_id, n.id, sha256(gen_random_uuid()::text::bytea), 'acknowledge', x.expires_at, x.used_at, x.label
            FROM (SELECT * FROM escalations WHERE title = 'keep' LIMIT 1) e
            JOIN notification_log n ON n.escalation_id = e.id AND n.channel = 'email'
            CROSS JOIN (VALUES
                (now() - interval '25 hours', NULL::timestamptz, 'gone'),
                (now() - interval '1 hour', NULL, 'keep'),
                (now() + interval '1 hour', now() - interval '25 hours', 'gone'),
                (now() + interval '1 hour', now() - interval '1 hour', 'keep'),
                (now() + interval '23 hours', NULL, 'keep')
            ) AS x(expires_at, used_at, label);
            INSERT INTO event_log (tenant_id, event_type, actor_type, occurred_at)
            SELECT '{t}', 'gone', 'system', now() - interval '366 days' FROM generate_series(1, 7);
            INSERT INTO event_log (tenant_id, event_type, actor_type, occurred_at)
            SELECT '{t}', 'keep', 'system', now() - interval '364 days' FROM generate_series(1, 4);
            -- Slack request signatures: kept while a replay could pass the timestamp check.
            INSERT INTO slack_request_signatures (signature, received_at)
            SELECT sha256(gen_random_uuid()::text::bytea), now() - interval '20 minutes'
            FROM generate_series(1, 4);
            INSERT INTO slack_request_signatures (signature, received_at)
            SELECT sha256(gen_random_uuid()::text::bytea), now() - interval '4 minutes'
            FROM generate_series(1, 2);
            -- SMS reply codes: gone with their escalation, or an hour after it was
            -- resolved; an open escalation's stand.
            INSERT INTO sms_reply_codes (phone, code, tenant_id, escalation_id, recipient_id)
            SELECT '+14155550100', row_number() OVER (), e.tenant_id, e.id, r.id
            FROM escalations e CROSS JOIN recipients r;
            -- Inbound SMS ids: remembered for two days.
            INSERT INTO sms_replies (inbound_message_id, phone, outcome, received_at)
            SELECT gen_random_uuid()::text, '+14155550100', 'help', now() - interval '3 days'
            FROM generate_series(1, 3);
            INSERT INTO sms_replies (inbound_message_id, phone, outcome, received_at)
            SELECT gen_random_uuid()::text, '+14155550100', 'help', now() - interval '1 day'
            FROM generate_series(1, 2);
            -- Code counters: gone after a month idle, unless the number still holds a code.
            INSERT INTO sms_reply_counters (phone, issued, updated_at) VALUES
                ('+14155550100', 10, now() - interval '40 days'),
                ('+14155550101', 3, now() - interval '40 days'),
                ('+14155550102', 5, now() - interval '31 days'),
                ('+14155550103', 7, now() - interval '29 days');
            -- OAuth states: gone an hour after they expired.
            INSERT INTO oauth_states (nonce, tenant_id, expires_at, provider)
            SELECT substr(sha256(gen_random_uuid()::text::bytea), 1, 16), '{t}', x, 'slack'
            FROM unnest(ARRAY[now() - interval '2 hours', now() - interval '61 minutes',
                              now() - interval '59 minutes', now() + interval '5 minutes']) AS x;
            -- Opt-outs: gone 30 days after they ran out; open-ended and recent ones stay.
            INSERT INTO opt_outs (recipient_id, tenant_id, channel, expires_at)
            SELECT r.id, r.tenant_id, c, x
            FROM recipients r, unnest(ARRAY['email', 'sms', 'push', 'voice'],
                                      ARRAY[now() - interval '31 days', now() - interval '40 days',
                                            now() - interval '29 days', NULL]) AS t(c, x);
            -- System events: gone 90 days after they were resolved; open ones stay, however old.
            INSERT INTO admin_system_events (tenant_id, kind, severity, subject, title, resolved_at, resolved_by, first_seen_at)
            SELECT '{t}', 'escalation_exhausted', 'warning', gen_random_uuid()::text, 'old', x,
                   CASE WHEN x IS NOT NULL THEN 'herald' END, now() - interval '200 days'
            FROM unnest(ARRAY[now() - interval '91 days', now() - interval '120 days',
                              now() - interval '89 days', NULL]) AS x;
            "#
        ))
        .await
        .expect("seed");
}

/// (gone, kept) rows per table, by label.
async fn census(app: &TestApp) -> Vec<(&'static str, i64, i64)> {
    let mut out = Vec::new();
    for (table, labelled) in [
        ("escalations", "SELECT title FROM escalations"),
        (
            "notification_log",
            "SELECT e.title FROM notification_log n JOIN escalations e ON e.id = n.escalation_id",
        ),
        (
            "magic_link_tokens",
            "SELECT used_user_agent FROM magic_link_tokens",
        ),
        ("event_log", "SELECT event_type FROM event_log"),
        (
            "slack_request_signatures",
            "SELECT CASE WHEN received_at < now() - interval '15 minutes' THEN 'gone' ELSE 'keep' END \
             FROM slack_request_signatures",
        ),
        (
            "sms_reply_codes",
            "SELECT CASE WHEN e.status = 'resolved' THEN 'gone' ELSE 'keep' END \
             FROM sms_reply_codes k JOIN escalations e ON e.id = k.escalation_id",
        ),
        (
            "sms_replies",
            "SELECT CASE WHEN received_at < now() - interval '2 days' THEN 'gone' ELSE 'keep' END \
             FROM sms_replies",
        ),
        (
            "sms_reply_counters",
            "SELECT CASE WHEN updated_at < now() - interval '30 days' \
                          AND NOT EXISTS (SELECT 1 FROM sms_reply_codes k WHERE k.phone = x.phone) \
                         THEN 'gone' ELSE 'keep' END \
             FROM sms_reply_counters x",
        ),
        (
            "oauth_states",
            "SELECT CASE WHEN expires_at < now() - interval '1 hour' THEN 'gone' ELSE 'keep' END \
             FROM oauth_states",
        ),
        (
            "opt_outs",
            "SELECT CASE WHEN expires_at < now() - interval '30 days' THEN 'gone' ELSE 'keep' END \
             FROM opt_outs",
        ),
        (
            "admin_system_events",
            "SELECT CASE WHEN resolved_at < now() - interval '90 days' THEN 'gone' ELSE 'keep' END \
             FROM admin_system_events",
        ),
    ] {
        let sql = format!(
            "SELECT count(*) FILTER (WHERE l = 'gone'), count(*) FILTER (WHERE l = 'keep') FROM ({labelled}) AS t(l)"
        );
        let client = app.pool.get().await.expect("conn");
        let row = client.query_one(&sql, &[]).await.expect("census");
        out.push((table, row.get(0), row.get(1)));
    }
    out
}

/// One retention run with a budget of `budget`.
async fn retention_run(app: &TestApp, budget: Duration) -> herald::scheduled::RetentionSummary {
    app.retention
        .run(Budget::for_duration(Instant::now(), budget))
        .await
        .expect("retention run")
}

async fn count(app: &TestApp, table: &str) -> i64 {
    app.scalar_i64(&format!("SELECT count(*) FROM {table}"))
        .await
}

#[tokio::test]
async fn exactly_the_expired_rows_go_batch_by_batch() {
    let app = TestApp::spawn().await;
    seed(&app).await;
    let before = census(&app).await;
    assert_eq!(
        before,
        vec![
            ("escalations", 5, 5),
            ("notification_log", 15, 15),
            ("magic_link_tokens", 12, 3),
            ("event_log", 7, 4),
            ("slack_request_signatures", 4, 2),
            ("sms_reply_codes", 8, 2),
            ("sms_replies", 3, 2),
            ("sms_reply_counters", 2, 2),
            ("oauth_states", 2, 2),
            ("opt_outs", 2, 2),
            ("admin_system_events", 2, 2),
        ]
    );

    // Rule by rule with batches of two: every statement deletes at most two rows and
    // the table shrinks by exactly what it reports.
    let client = app.pool.get().await.expect("conn");
    let config = &app.retention.retention;
    for rule in RULES {
        loop {
            let tables: Vec<&str> = std::iter::once(rule.table)
                .chain(rule.children.iter().copied())
                .collect();
            let mut rows_before = Vec::new();
            for t in &tables {
                rows_before.push(count(&app, t).await);
            }
            let deleted = delete_batch(&client, rule, rule.window.of(config), 2)
                .await
                .expect("batch");
            assert!(
                deleted.rows <= 2,
                "{} deleted {deleted:?} in one batch",
                rule.table
            );
            // Each table shrinks by exactly what the batch reports (a table that is
            // both the rule's own and a child, counted once per mention).
            for (i, t) in tables.iter().enumerate() {
                let reported: u64 = deleted
                    .per_table
                    .iter()
                    .filter(|(name, _)| name == t)
                    .map(|(_, n)| n)
                    .sum();
                assert_eq!(
                    u64::try_from(rows_before[i] - count(&app, t).await).expect("n"),
                    reported,
                    "{t}"
                );
            }
            if deleted.rows < 2 {
                break;
            }
        }
    }
    let after = census(&app).await;
    for ((table, _, kept_before), (_, gone, kept)) in before.iter().zip(&after) {
        assert_eq!(*gone, 0, "{table}: every expired row is gone");
        assert_eq!(kept, kept_before, "{table}: every live row is kept");
    }
}

#[tokio::test]
async fn a_run_reports_counts_per_table_and_the_next_run_finds_nothing() {
    let mut app = TestApp::spawn().await;
    app.retention.retention.max_batch = 3;
    seed(&app).await;
    let summary = retention_run(&app, Duration::from_secs(30)).await;
    assert_eq!(summary.deleted["escalations"], 5, "{summary:?}");
    assert_eq!(summary.deleted["notification_log"], 15);
    assert_eq!(summary.deleted["magic_link_tokens"], 12);
    assert_eq!(summary.deleted["event_log"], 7);
    assert_eq!(summary.deleted["slack_request_signatures"], 4);
    assert_eq!(summary.deleted["sms_reply_codes"], 5 + 3);
    assert_eq!(summary.deleted["sms_replies"], 3);
    assert_eq!(summary.deleted["sms_reply_counters"], 2);
    assert_eq!(summary.deleted["oauth_states"], 2);
    assert_eq!(summary.deleted["opt_outs"], 2);
    assert_eq!(summary.deleted["admin_system_events"], 2);
    assert!(!summary.stopped_early);
    // In batches of at most 3: 10 expired tokens (4 statements), 2 used ones (1),
    // 5 escalations with their 15 delivery rows and 5 codes (2), 7 audit rows (3), no
    // inbox rows (1), 4 old Slack signatures (2), 3 codes of resolved escalations (2),
    // 3 old inbound SMS ids (2), 2 idle counters (1), 2 expired OAuth states (1), 2
    // opt-outs long run out (1), 2 system events resolved long ago (1).
    assert_eq!(
        summary.statements,
        4 + 1 + 2 + 3 + 1 + 2 + 2 + 2 + 1 + 1 + 1 + 1,
        "{summary:?}"
    );

    let again = retention_run(&app, Duration::from_secs(30)).await;
    assert_eq!(again.total(), 0);
    for (table, gone, _) in census(&app).await {
        assert_eq!(gone, 0, "{table}");
    }
}

#[tokio::test]
async fn a_spent_budget_deletes_nothing_and_the_next_run_continues() {
    let app = TestApp::spawn().await;
    seed(&app).await;
    let stopped = retention_run(&app, Duration::ZERO).await;
    assert!(stopped.stopped_early);
    assert_eq!(stopped.total(), 0);
    assert_eq!(census(&app).await[0], ("escalations", 5, 5));

    let next = retention_run(&app, Duration::from_secs(30)).await;
    // Escalations, deliveries, tokens, audit rows, Slack signatures, reply codes,
    // inbound SMS ids, code counters, OAuth states, opt-outs, system events.
    assert_eq!(next.total(), 5 + 15 + 12 + 7 + 4 + 8 + 3 + 2 + 2 + 2 + 2);
}
