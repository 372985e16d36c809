//! Section 9 of the bench: delivery receipts through the feedback statement, and the
//! delivery figures (`GET /v1/stats/deliveries`) over 10,000,000 rows.

use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use herald::feedback::{Feedback, Message};
use uuid::Uuid;

use crate::bench::{connect, fresh_database, percentile};

/// Rows of the figures' table, and how far back they reach.
const STATS_ROWS: i64 = 10_000_000;
const STATS_DAYS: i64 = 30;

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

pub async fn run(
    admin_url: &str,
    config: impl Fn(&str, usize) -> herald::Config,
    seconds: u64,
) -> anyhow::Result<()> {
    let db_url = fresh_database(admin_url, "herald_bench_receipts").await?;
    let mut client = connect(&db_url).await?;
    herald::db::migrate(&mut client, &herald::db::migrations_dir()).await?;
    let pool = herald::db::connect_pool(&config(&db_url, 1).database).await?;
    let (tenant, _) = crate::stack::create_tenant(&pool.get().await?, "Bench").await?;

    println!(
        "== 9. delivery receipts ({seconds} s; batches of 10 as SQS hands them, one Lambda-like instance, a pool of one)"
    );
    let sent: i64 = 200_000;
    seed(&client, tenant, sent, 1, 0).await?;
    // As autovacuum would have by now: the planner knows the table's size.
    client.batch_execute("ANALYZE").await?;
    // Every sent row's provider id, in a random order: receipts come in any order.
    let ids: Vec<String> = client
        .query(
            "SELECT provider_message_id FROM notification_log \
             WHERE provider_message_id IS NOT NULL ORDER BY random()",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let feedback = Feedback::new(&config(&db_url, 1)).await?;
    let now = Utc::now();
    let bodies: Vec<String> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            // Most are deliveries; one in ten a permanent bounce (which also lists the
            // address and wakes the escalation).
            let verdict = if i % 10 == 9 { "Bounce" } else { "Delivery" };
            ses_event(verdict, id, &format!("bench{i}@example.com"), now)
        })
        .collect();
    let mut samples = Vec::new();
    let (mut receipts, mut changed) = (0usize, 0u64);
    let started = Instant::now();
    for (n, batch) in bodies.chunks(10).enumerate() {
        if started.elapsed() >= Duration::from_secs(seconds) {
            break;
        }
        let messages: Vec<Message<'_>> = batch
            .iter()
            .enumerate()
            .map(|(i, body)| Message {
                id: if i == 0 { "first" } else { "next" },
                body,
            })
            .collect();
        let t = Instant::now();
        let outcome = feedback.handle(&messages, now).await;
        samples.push(t.elapsed());
        anyhow::ensure!(outcome.retry.is_empty(), "batch {n}: {outcome:?}");
        receipts += outcome.receipts;
        changed += outcome.changed;
    }
    let elapsed = started.elapsed();
    println!(
        "receipts   {receipts} in {} batches: {:.0} receipts/s; per batch of 10 p50 {}, p90 {}, p99 {}; {changed} rows changed; 1 statement per batch (db::receipts::apply, one query_one)",
        samples.len(),
        receipts as f64 / elapsed.as_secs_f64(),
        ms(percentile(&samples, 0.5)),
        ms(percentile(&samples, 0.9)),
        ms(percentile(&samples, 0.99)),
    );

    println!(
        "== 9b. delivery figures (GET /v1/stats/deliveries) over {STATS_ROWS} notification_log rows of one tenant, {STATS_DAYS} days"
    );
    let seeding = Instant::now();
    client
        .batch_execute("TRUNCATE notification_log, escalations CASCADE")
        .await?;
    // A bulk load: the table's other indexes (which the figures never read) are dropped
    // first, so 10M rows load in minutes rather than maintaining nine indexes row by row.
    let others: Vec<String> = client
        .query(
            "SELECT indexrelid::regclass::text FROM pg_index \
             WHERE indrelid = 'notification_log'::regclass AND NOT indisprimary \
               AND NOT indisunique AND indexrelid::regclass::text <> 'notification_log_tenant_recent'",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for index in &others {
        client.batch_execute(&format!("DROP INDEX {index}")).await?;
    }
    seed(&client, tenant, STATS_ROWS / 5, 5, STATS_DAYS).await?;
    client
        .batch_execute("VACUUM ANALYZE notification_log")
        .await?;
    let rows: i64 = client
        .query_one("SELECT count(*) FROM notification_log", &[])
        .await?
        .get(0);
    println!(
        "seeded     {rows} rows in {:.0} s (FK triggers off and {} other indexes dropped while seeding; vacuumed, so the scan is index-only)",
        seeding.elapsed().as_secs_f64(),
        others.len()
    );
    let pool_client = pool.get().await?;
    for window in ["1h", "24h"] {
        let span = herald::domain::stats::parse_window(window).map_err(anyhow::Error::msg)?;
        let mut samples = Vec::new();
        let mut figures = Vec::new();
        for _ in 0..7 {
            let to = Utc::now();
            let t = Instant::now();
            figures = herald::db::stats::deliveries(&pool_client, tenant, to - span, to).await?;
            samples.push(t.elapsed());
        }
        let in_window: i64 = figures.iter().map(|c| c.total).sum();
        println!(
            "window {window:>3} {in_window} rows in the window: median {} of 7, max {} (target <= 100 ms for 1h)",
            ms(percentile(&samples, 0.5)),
            ms(percentile(&samples, 1.0)),
        );
    }
    let plan: Vec<String> = client
        .query(
            "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) \
             SELECT channel, count(*) FROM notification_log \
             WHERE tenant_id = $1 AND queued_at >= now() - interval '1 hour' AND queued_at < now() \
             GROUP BY channel",
            &[&tenant],
        )
        .await?
        .iter()
        .map(|r| r.get::<_, String>(0))
        .filter(|l| l.contains("Scan") || l.contains("Heap Fetches"))
        .collect();
    println!("plan       {}", plan.join(" | ").trim());
    Ok(())
}

/// `escalations` escalations of `tenant` with `per` rows each (email, sms, push, voice,
/// slack), queued over the last `days` (0: just now): mostly sent, a tenth delivered with
/// a receipt, a few failed, suppressed or still queued. FK checks off while seeding.
async fn seed(
    client: &tokio_postgres::Client,
    tenant: Uuid,
    escalations: i64,
    per: i64,
    days: i64,
) -> anyhow::Result<()> {
    client
        .batch_execute("SET session_replication_role = replica")
        .await?;
    client
        .execute(
            "INSERT INTO recipients (tenant_id, external_id, email) \
             SELECT $1, 'bench-' || g, 'bench' || g || '@example.com' FROM generate_series(1, 1000) g \
             ON CONFLICT DO NOTHING",
            &[&tenant],
        )
        .await?;
    let spread = TimeDelta::days(days).num_seconds() as f64;
    client
        .execute(
            r#"WITH e AS (
                 INSERT INTO escalations (tenant_id, title, body, priority, channel_policy, triggered_at)
                 SELECT $1, 'bench', 'body', 'high', '{}',
                        now() - make_interval(secs => $4::float8 * g / $2)
                 FROM generate_series(1, $2::bigint) g
                 RETURNING id, triggered_at
               ), r AS (SELECT array_agg(id) AS ids FROM recipients WHERE tenant_id = $1)
               INSERT INTO notification_log (tenant_id, escalation_id, recipient_id, channel, status,
                                             suppressed_reason, attempt_count, queued_at, sent_at,
                                             delivered_at, receipt, provider_message_id)
               SELECT $1, e.id, r.ids[1 + (abs(hashtext(e.id::text)) % 1000)], c.channel,
                      s.status, CASE s.status WHEN 'suppressed' THEN 'channel_not_enabled' END,
                      1, e.triggered_at,
                      CASE WHEN s.status IN ('sent', 'delivered', 'failed')
                           THEN e.triggered_at + interval '300 milliseconds' END,
                      CASE WHEN s.status = 'delivered' THEN e.triggered_at + interval '4 seconds' END,
                      CASE s.status WHEN 'delivered' THEN 'delivered' WHEN 'failed' THEN 'bounced' END,
                      CASE WHEN s.status = 'sent' THEN 'bench-' || gen_random_uuid() END
               FROM e, r,
                    LATERAL (SELECT unnest(ARRAY['email', 'sms', 'push', 'voice', 'slack']) AS channel
                             LIMIT $3) c,
                    LATERAL (SELECT CASE WHEN random() < 0.10 THEN 'delivered'
                                         WHEN random() < 0.02 THEN 'failed'
                                         WHEN random() < 0.02 THEN 'suppressed'
                                         ELSE 'sent' END AS status) s"#,
            &[&tenant, &escalations, &per, &spread],
        )
        .await?;
    client
        .batch_execute("SET session_replication_role = DEFAULT")
        .await?;
    Ok(())
}

/// An SES event-publishing record (`Delivery` or a permanent `Bounce`) for `message_id`.
fn ses_event(kind: &str, message_id: &str, to: &str, at: chrono::DateTime<Utc>) -> String {
    let at = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mail = serde_json::json!({
        "timestamp": at, "source": "bench@alerts.example.com", "messageId": message_id,
        "destination": [to], "headersTruncated": false
    });
    let event = if kind == "Bounce" {
        serde_json::json!({ "eventType": "Bounce", "mail": mail, "bounce": {
            "bounceType": "Permanent", "bounceSubType": "General", "timestamp": at,
            "bouncedRecipients": [{ "emailAddress": to, "status": "5.1.1",
                                    "diagnosticCode": "smtp; 550 5.1.1 user unknown" }] } })
    } else {
        serde_json::json!({ "eventType": "Delivery", "mail": mail, "delivery": {
            "timestamp": at, "recipients": [to], "smtpResponse": "250 2.6.0 Message received" } })
    };
    event.to_string()
}

#[cfg(test)]
mod tests {
    use herald::domain::Channel;
    use herald::domain::receipt::{Receipt, Verdict};

    use super::*;

    #[test]
    fn the_bench_events_read_as_receipts() {
        let now = Utc::now();
        let r: Receipt = herald::domain::receipt::parse(&ses_event("Bounce", "m1", "a@b.c", now))
            .expect("readable")
            .expect("a receipt");
        assert_eq!(
            (r.channel, r.verdict, r.suppress),
            (
                Channel::Email,
                Verdict::Failed { permanent: true },
                vec!["a@b.c".to_owned()]
            )
        );
    }
}
