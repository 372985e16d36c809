//! `herald-local bench`, part two: the scheduled functions on a large table.
//!
//! 5. one retry sweep with 1,000,000 rows in `notification_log` and none due, and the
//!    plans of its statements;
//! 6. the claim rate of the sweep with 100,000 rows due (database alone, and with
//!    `SendMessageBatch` to an instant local SQS endpoint); then (6b) one escalation
//!    engine run with 100,000 open escalations and 1,000 due, and the plan of its claim;
//! 7. retention deleting 1,000,000 expired rows while ingest keeps running, with ingest
//!    latency beside it and without it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use herald::db::sweep::{self, AttemptLimits, Due};
use herald::domain::{Budget, RetryPolicies};
use herald::queue::Queues;
use herald::scheduled::{self, RetrySettings};
use secrecy::SecretString;
use uuid::Uuid;

use crate::bench::{connect, escalation, fresh_database, ms, post};
use crate::stack;

/// Rows in `notification_log` for the sweep figures.
const TABLE_ROWS: i64 = 1_000_000;
const DUE_ROWS: i64 = 100_000;
/// Expired rows for retention: escalations, their delivery rows, old audit rows.
const EXPIRED_ESCALATIONS: i64 = 200_000;
const EXPIRED_EVENTS: i64 = 200_000;
/// Ingest load beside retention: a steady rate, as production traffic is.
const INGEST_RATE: u32 = 100;
/// Open escalations for the engine's figures, and how many of them are due.
const OPEN_ESCALATIONS: i64 = 100_000;
const DUE_ESCALATIONS: i64 = 1_000;

pub async fn run(
    admin_url: &str,
    config: impl Fn(&str, usize) -> herald::Config,
    instant_sqs: SocketAddr,
    seconds: u64,
    engine_only: bool,
) -> anyhow::Result<()> {
    let db_url = fresh_database(admin_url, "herald_bench_scheduled").await?;
    let mut client = connect(&db_url).await?;
    herald::db::migrate(&mut client, &herald::db::migrations_dir()).await?;
    let fast_sdk = crate::bench_channels::instant_sdk(instant_sqs).await;
    let config = config(&db_url, 8);
    let ingest = Arc::new(
        herald_ingest::Deps::new(&config, herald::warm::Warm::ready(fast_sdk.clone())).await?,
    );
    let pool = ingest.pool.clone();
    let (tenant, key) = stack::create_tenant(&pool.get().await?, "Bench").await?;
    let key = Arc::new(key);
    if engine_only {
        let queues = Queues::new(&config, &herald::aws_sdk_sqs::Client::new(&fast_sdk));
        let settings = RetrySettings::from_config(&config);
        return engine(&client, &pool, &queues, &settings, tenant).await;
    }

    println!("\n== 5. retry sweep, {TABLE_ROWS} rows in notification_log, none due");
    let started = Instant::now();
    seed_delivered(&client, tenant, TABLE_ROWS / 3).await?;
    let mix = seed_live_mix(&client).await?;
    client.batch_execute("ANALYZE").await?;
    println!(
        "(seeded {} rows in {:.1} s: {mix})",
        count(&client, "notification_log").await?,
        started.elapsed().as_secs_f64()
    );
    let queues = Queues::new(&config, &herald::aws_sdk_sqs::Client::new(&fast_sdk));
    let settings = RetrySettings::from_config(&config);
    // One warm-up run prepares the statements, as the first run of an instance does.
    scheduled::retry_sweep(&pool, &queues, &settings, long_budget()).await?;
    let mut samples = Vec::new();
    for _ in 0..25 {
        let t = Instant::now();
        let summary = scheduled::retry_sweep(&pool, &queues, &settings, long_budget()).await?;
        samples.push(t.elapsed());
        anyhow::ensure!(summary == quiet(&summary), "nothing is due: {summary:?}");
    }
    samples.sort();
    println!(
        "one sweep (3 statements + pool checkout), 25 runs after a warm-up: median {:.2} ms, p90 {:.2} ms, max {:.2} ms   (target <= 5 ms)",
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() * 9 / 10]),
        ms(samples[samples.len() - 1])
    );
    let conn = pool.get().await?;
    let limits = AttemptLimits::new(&RetryPolicies::default());
    for (step, plan) in sweep::explain(&conn, &limits, settings.outbox_grace).await? {
        // The scan that finds the due rows; any sequential scan would be a regression.
        let scans: Vec<&str> = plan
            .lines()
            .map(|l| l.trim().trim_start_matches("-> ").trim())
            .filter(|l| l.contains("Seq Scan") || l.contains("using notification_log_"))
            .filter(|l| !l.contains("_pkey"))
            .collect();
        println!("plan of {step:<15} {}", scans.join(" | "));
    }

    println!("\n== 6. retry sweep claim rate, {DUE_ROWS} rows due");
    let due = make_due(&client).await?;
    // Three rounds over the same rows, alternating Herald's claim with a bare
    // `UPDATE ... FOR UPDATE SKIP LOCKED` of them in batches of the same size: the ratio
    // holds on any machine, the absolute rate does not.
    let (mut herald_rates, mut bare_rates) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        reset_due(&client, &due).await?;
        let t = Instant::now();
        let mut claimed = 0u64;
        loop {
            let batch =
                sweep::requeue_due(&conn, Due::Retries, &limits, settings.batch_size).await?;
            claimed += batch.to_enqueue.len() as u64;
            if batch.total() < u64::from(settings.batch_size) {
                break;
            }
        }
        herald_rates.push(claimed as f64 / t.elapsed().as_secs_f64());
        reset_due(&client, &due).await?;
        let t = Instant::now();
        let bare = bare_claim_all(&client, settings.batch_size).await?;
        bare_rates.push(bare as f64 / t.elapsed().as_secs_f64());
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (db_rate, bare_rate) = (median(herald_rates), median(bare_rates));
    println!(
        "database only (batches of {}): Herald's claim {db_rate:.0} rows/s; a bare UPDATE ... FOR UPDATE SKIP LOCKED of the same rows {bare_rate:.0} rows/s; ratio {:.0}%",
        settings.batch_size,
        db_rate / bare_rate * 100.0
    );
    reset_due(&client, &due).await?;
    let summary = scheduled::retry_sweep(&pool, &queues, &settings, long_budget()).await?;
    let rate = summary.requeued_failed as f64 / (summary.elapsed_ms.max(1) as f64 / 1000.0);
    println!(
        "full sweep with SendMessageBatch (instant SQS endpoint): {} rows in {:.2} s = {rate:.0} rows/s   (target >= 15000)",
        summary.requeued_failed,
        summary.elapsed_ms as f64 / 1000.0
    );
    // Back to delivered, so the outbox does not see them.
    client
        .batch_execute(
            "UPDATE notification_log SET status = 'sent', next_attempt_at = NULL WHERE status = 'queued'",
        )
        .await?;

    engine(&client, &pool, &queues, &settings, tenant).await?;

    println!(
        "\n== 7. retention of {} expired rows while ingest runs at {INGEST_RATE}/s",
        EXPIRED_ESCALATIONS * 4 + EXPIRED_EVENTS
    );
    seed_expired(&client, tenant).await?;
    client.batch_execute("ANALYZE").await?;
    let alone = paced_ingest(&ingest, &key, Duration::from_secs(seconds), None).await?;
    let retention = herald_retention::Deps::from_config(&config).await?;
    let during = paced_ingest(
        &ingest,
        &key,
        Duration::from_secs(3600),
        Some(Box::pin(async move {
            retention
                .run(long_budget())
                .await
                .map_err(|e| anyhow::anyhow!("{e:#}"))
        })),
    )
    .await?;
    let summary = during.retention.expect("retention ran");
    let deleted = summary.total();
    println!(
        "retention: {deleted} rows in {:.2} s = {:.0} rows/s   (target >= 15000)",
        summary.elapsed_ms as f64 / 1000.0,
        deleted as f64 / (summary.elapsed_ms.max(1) as f64 / 1000.0)
    );
    println!(
        "  per table {:?}; {} statements, longest {} ms   (target <= 250 ms)",
        summary.deleted, summary.statements, summary.longest_statement_ms
    );
    println!(
        "ingest alone:           {} requests, p50 {:.1} ms, p99 {:.1} ms",
        alone.latencies.len(),
        ms(percentile(&alone.latencies, 0.50)),
        ms(percentile(&alone.latencies, 0.99))
    );
    println!(
        "ingest beside retention: {} requests, p50 {:.1} ms, p99 {:.1} ms",
        during.latencies.len(),
        ms(percentile(&during.latencies, 0.50)),
        ms(percentile(&during.latencies, 0.99))
    );
    Ok(())
}

fn long_budget() -> Budget {
    Budget::for_duration(Instant::now(), Duration::from_secs(600))
}

fn quiet(s: &scheduled::RetrySummary) -> scheduled::RetrySummary {
    scheduled::RetrySummary {
        elapsed_ms: s.elapsed_ms,
        ..Default::default()
    }
}

async fn count(client: &tokio_postgres::Client, table: &str) -> anyhow::Result<i64> {
    Ok(client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await?
        .get(0))
}

/// `escalations` open escalations, each with a sent email and two suppressed rows:
/// the shape ingest and dispatch leave behind.
pub(crate) async fn seed_delivered(
    client: &tokio_postgres::Client,
    tenant: Uuid,
    escalations: i64,
) -> anyhow::Result<()> {
    client
        .execute(
            "INSERT INTO recipients (tenant_id, external_id, email) \
             SELECT $1, 'bench-' || g, 'bench' || g || '@example.com' FROM generate_series(1, 1000) g",
            &[&tenant],
        )
        .await?;
    client
        .execute(
            "INSERT INTO escalations (tenant_id, title, body, priority, channel_policy, triggered_at) \
             SELECT $1, 'bench', 'body', 'high', '{}', now() - interval '1 hour' FROM generate_series(1, $2::bigint)",
            &[&tenant, &escalations],
        )
        .await?;
    client
        .execute(
            "INSERT INTO notification_log (tenant_id, escalation_id, recipient_id, channel, status, \
                                           suppressed_reason, attempt_count, sent_at) \
             SELECT e.tenant_id, e.id, r.id, c.channel, c.status, c.reason, c.attempts, now() \
             FROM (SELECT id, tenant_id, row_number() OVER () AS n FROM escalations WHERE title = 'bench') e \
             JOIN recipients r ON r.external_id = 'bench-' || (1 + e.n % 1000) \
             CROSS JOIN (VALUES ('email', 'sent', NULL, 1), \
                                ('sms', 'suppressed', 'channel_not_enabled', 0), \
                                ('push', 'suppressed', 'channel_not_enabled', 0)) \
                  AS c(channel, status, reason, attempts) \
             WHERE e.tenant_id = $1",
            &[&tenant],
        )
        .await?;
    Ok(())
}

/// What a live table holds besides finished rows, none of it due: failed rows waiting
/// for their retry (up to 15 min out), live leases of dispatchers at work, and fresh
/// outbox rows still within the grace period. Each sits in the partial index its sweep
/// step scans, so "none due" is measured against non-empty indexes.
/// Opt-outs in the path without changing what is sent: every person whose id is LIKE
/// `people` has one on each channel that ran out an hour ago (the claim finds the row
/// and checks its expiry), and 10,000 other people of the tenant hold live ones.
pub(crate) async fn seed_opt_outs(
    client: &tokio_postgres::Client,
    tenant: Uuid,
    people: &str,
) -> anyhow::Result<u64> {
    Ok(client
        .execute(
            r#"WITH others AS (
                 INSERT INTO recipients (tenant_id, external_id)
                 SELECT $1, 'opted-out-' || i FROM generate_series(1, 10000) AS i
                 RETURNING id
               ), live AS (
                 INSERT INTO opt_outs (recipient_id, tenant_id, channel, reason)
                 SELECT id, $1, c, 'bench' FROM others, unnest(ARRAY['sms', 'voice']) AS c
               )
               INSERT INTO opt_outs (recipient_id, tenant_id, channel, expires_at)
               SELECT r.id, $1, c, now() - interval '1 hour'
               FROM recipients r,
                    unnest(ARRAY['all', 'email', 'sms', 'push', 'slack', 'teams', 'voice']) AS c
               WHERE r.tenant_id = $1 AND r.external_id LIKE $2"#,
            &[&tenant, &people],
        )
        .await?
        + 20_000)
}

pub(crate) async fn seed_live_mix(client: &tokio_postgres::Client) -> anyhow::Result<String> {
    let failed = client
        .execute(
            "UPDATE notification_log SET status = 'failed', retryable = true, error = 'Throttling', \
                    attempt_count = 2, next_attempt_at = now() + interval '2 minutes' + random() * interval '13 minutes' \
             WHERE id IN (SELECT id FROM notification_log WHERE channel = 'email' AND status = 'sent' LIMIT 20000)",
            &[],
        )
        .await?;
    let leases = client
        .execute(
            "UPDATE notification_log SET status = 'sending', attempt_count = 1, sent_at = NULL, \
                    last_attempt_at = now(), lease_expires_at = now() + interval '5 minutes' \
             WHERE id IN (SELECT id FROM notification_log WHERE channel = 'email' AND status = 'sent' LIMIT 2000)",
            &[],
        )
        .await?;
    let outbox = client
        .execute(
            "UPDATE notification_log SET status = 'queued', attempt_count = 0, sent_at = NULL, \
                    next_attempt_at = now() \
             WHERE id IN (SELECT id FROM notification_log WHERE channel = 'email' AND status = 'sent' LIMIT 2000)",
            &[],
        )
        .await?;
    Ok(format!(
        "{failed} failed with a retry not yet due, {leases} live leases, {outbox} fresh outbox rows, the rest sent or suppressed"
    ))
}

/// `DUE_ROWS` delivered emails become throttled failures whose retry is due; their ids.
async fn make_due(client: &tokio_postgres::Client) -> anyhow::Result<Vec<Uuid>> {
    let ids: Vec<Uuid> = client
        .query(
            "SELECT id FROM notification_log WHERE channel = 'email' AND status = 'sent' LIMIT $1",
            &[&DUE_ROWS],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    reset_due(client, &ids).await?;
    client.batch_execute("ANALYZE notification_log").await?;
    Ok(ids)
}

/// Makes exactly these rows due failures again.
async fn reset_due(client: &tokio_postgres::Client, ids: &[Uuid]) -> anyhow::Result<()> {
    client
        .execute(
            "UPDATE notification_log SET status = 'failed', retryable = true, error = 'Throttling', \
                    attempt_count = 1, next_attempt_at = now() - interval '1 minute' \
             WHERE id = ANY($1)",
            &[&ids],
        )
        .await?;
    Ok(())
}

/// The physical limit of a claim: due rows moved to `queued` by a bare `UPDATE` over a
/// `FOR UPDATE SKIP LOCKED` subquery of the same index, batch by batch, nothing else.
async fn bare_claim_all(client: &tokio_postgres::Client, batch: u32) -> anyhow::Result<u64> {
    let stmt = client
        .prepare(
            "UPDATE notification_log SET status = 'queued', next_attempt_at = now() \
             WHERE id IN (SELECT id FROM notification_log \
                          WHERE status = 'failed' AND next_attempt_at IS NOT NULL AND next_attempt_at <= now() \
                          ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)",
        )
        .await?;
    let mut total = 0;
    loop {
        let n = client.execute(&stmt, &[&i64::from(batch)]).await?;
        total += n;
        if n < u64::from(batch) {
            return Ok(total);
        }
    }
}

/// Escalations resolved 91 days ago with three delivery rows each, and audit rows
/// older than a year.
async fn seed_expired(client: &tokio_postgres::Client, tenant: Uuid) -> anyhow::Result<()> {
    client
        .execute(
            "INSERT INTO escalations (tenant_id, title, body, priority, channel_policy, status, triggered_at, resolved_at) \
             SELECT $1, 'expired', 'body', 'high', '{}', 'resolved', now() - interval '100 days', \
                    now() - interval '91 days' FROM generate_series(1, $2::bigint)",
            &[&tenant, &EXPIRED_ESCALATIONS],
        )
        .await?;
    client
        .execute(
            "INSERT INTO notification_log (tenant_id, escalation_id, recipient_id, channel, status, attempt_count, sent_at) \
             SELECT e.tenant_id, e.id, r.id, c, 'sent', 1, now() - interval '100 days' \
             FROM (SELECT id, tenant_id, row_number() OVER () AS n FROM escalations WHERE title = 'expired') e \
             JOIN recipients r ON r.external_id = 'bench-' || (1 + e.n % 1000) \
             CROSS JOIN unnest(ARRAY['email', 'slack', 'push']) AS c",
            &[],
        )
        .await?;
    client
        .execute(
            "INSERT INTO event_log (tenant_id, event_type, actor_type, occurred_at) \
             SELECT $1, 'notification.sent', 'system', now() - interval '400 days' \
             FROM generate_series(1, $2::bigint)",
            &[&tenant, &EXPIRED_EVENTS],
        )
        .await?;
    Ok(())
}

type Side = std::pin::Pin<
    Box<dyn std::future::Future<Output = anyhow::Result<scheduled::RetentionSummary>> + Send>,
>;

struct Load {
    latencies: Vec<Duration>,
    retention: Option<scheduled::RetentionSummary>,
}

/// Posts escalations at `INGEST_RATE` per second (each on its own task, so a slow one
/// does not delay the next) for `duration`, or until `side` finishes when given.
async fn paced_ingest(
    ingest: &Arc<herald_ingest::Deps>,
    key: &Arc<SecretString>,
    duration: Duration,
    side: Option<Side>,
) -> anyhow::Result<Load> {
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1) / INGEST_RATE);
    let mut tasks = Vec::new();
    let mut side = side.map(tokio::spawn);
    let mut retention = None;
    let mut n = 0u64;
    loop {
        if let Some(handle) = side.as_mut() {
            if handle.is_finished() {
                retention = Some(handle.await??);
                break;
            }
        } else if started.elapsed() >= duration {
            break;
        }
        tick.tick().await;
        n += 1;
        let (ingest, key, latencies) = (ingest.clone(), key.clone(), latencies.clone());
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let status = post(&ingest, &key, &escalation(1_000_000 + n)).await?;
            anyhow::ensure!(status == 202, "ingest answered {status}");
            latencies.lock().expect("lock").push(t.elapsed());
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let mut latencies = std::mem::take(&mut *latencies.lock().expect("lock"));
    latencies.sort();
    Ok(Load {
        latencies,
        retention,
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// Section 6b: the escalation engine. 100,000 open escalations, each with its primary
/// email sent 10 minutes ago to one of 1,000 people; 1,000 of them are due (their
/// secondary SMS tier), the rest not for a day. One sweep claims the due ones, plans
/// each, writes the SMS rows and enqueues them (instant SQS endpoint). Three rounds,
/// the due escalations reset between them.
async fn engine(
    client: &tokio_postgres::Client,
    pool: &herald::db::Pool,
    queues: &Queues,
    settings: &RetrySettings,
    tenant: Uuid,
) -> anyhow::Result<()> {
    println!(
        "\n== 6b. escalation engine, {OPEN_ESCALATIONS} open escalations, {DUE_ESCALATIONS} due"
    );
    let started = Instant::now();
    client
        .execute(
            "INSERT INTO recipients (tenant_id, external_id, email, phone) \
             SELECT $1, 'eng-' || i, 'eng' || i || '@example.com', '+1415555' || lpad(i::text, 4, '0') \
             FROM generate_series(0, 999) AS i",
            &[&tenant],
        )
        .await?;
    client
        .execute(
            r#"WITH e AS (
                 INSERT INTO escalations (tenant_id, title, body, priority, channel_policy, policy,
                                          current_level, round_started_at, triggered_at, next_escalation_at)
                 SELECT $1, 'engine bench ' || i, '', 'high', '{}',
                        jsonb_build_object('repeat', 0, 'levels', jsonb_build_array(jsonb_build_object(
                            'after_minutes', 0, 'recipients', jsonb_build_array('eng-' || (i % 1000)),
                            'channels', '{"primary": ["email"], "secondary": ["sms"], "fallback": []}'::jsonb,
                            'secondary_after_minutes', 5, 'fallback_after_minutes', 10))),
                        0, now() - interval '10 minutes', now() - interval '10 minutes',
                        CASE WHEN i < $2::bigint THEN now() - interval '1 minute' ELSE now() + interval '1 day' END
                 FROM generate_series(0, $3::bigint - 1) AS i
                 RETURNING id, title
               )
               INSERT INTO notification_log (tenant_id, escalation_id, recipient_id, channel, status, queued_at, sent_at)
               SELECT $1, e.id, r.id, 'email', 'sent', now() - interval '10 minutes', now() - interval '10 minutes'
               FROM e JOIN recipients r
                 ON r.tenant_id = $1 AND r.external_id = 'eng-' || (split_part(e.title, ' ', 3)::int % 1000)"#,
            &[&tenant, &DUE_ESCALATIONS, &OPEN_ESCALATIONS],
        )
        .await?;
    let opt_outs = seed_opt_outs(client, tenant, "eng-%").await?;
    println!("({opt_outs} opt-outs: each person's ran out an hour ago, 10,000 others' hold)");
    client.batch_execute("ANALYZE").await?;
    println!(
        "(seeded {} escalations in {:.1} s)",
        count(client, "escalations").await?,
        started.elapsed().as_secs_f64()
    );
    let due: Vec<Uuid> = client
        .query(
            "SELECT id FROM escalations WHERE next_escalation_at < now() AND policy IS NOT NULL",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut samples = Vec::new();
    let mut steps = 0;
    for round in 0..4 {
        let t = Instant::now();
        let summary = scheduled::escalate(
            pool,
            queues,
            &settings.channels,
            settings.batch_size,
            long_budget(),
            chrono::Utc::now,
        )
        .await?;
        let took = t.elapsed();
        anyhow::ensure!(
            summary.tiers_started == DUE_ESCALATIONS as u64
                && summary.enqueued == summary.tiers_started,
            "every due escalation starts its SMS tier: {summary:?}"
        );
        // The first round prepares the statements, as an instance's first run does.
        if round > 0 {
            samples.push(took);
            steps += summary.tiers_started + summary.levels_fired;
        }
        client
            .execute(
                "DELETE FROM notification_log WHERE tier = 'secondary' AND escalation_id = ANY($1)",
                &[&due],
            )
            .await?;
        client
            .execute(
                "UPDATE escalations SET next_escalation_at = now() - interval '1 minute' WHERE id = ANY($1)",
                &[&due],
            )
            .await?;
    }
    samples.sort();
    let busy: Duration = samples.iter().sum();
    println!(
        "one engine run over the {DUE_ESCALATIONS} due (claim + plan + write, batches of {}, then SendMessageBatch): median {:.1} ms of 3",
        settings.batch_size,
        ms(samples[samples.len() / 2]),
    );
    println!(
        "steps applied: {:.0}/s   (target >= 5000/s; a step here = one person's tier started, its row written and enqueued)",
        steps as f64 / busy.as_secs_f64()
    );
    // The sweep itself: the claim that finds and locks the due ones, alone (rolled back).
    let mut conn = pool.get().await?;
    let mut sweeps = Vec::new();
    for _ in 0..5 {
        let tx = conn.transaction().await?;
        let t = Instant::now();
        let due =
            herald::db::engine::claim_due(&tx, chrono::Utc::now(), DUE_ESCALATIONS as u32).await?;
        sweeps.push(t.elapsed());
        tx.rollback().await?;
        anyhow::ensure!(
            due.len() as i64 == DUE_ESCALATIONS,
            "the sweep finds every due escalation"
        );
    }
    sweeps.sort();
    println!(
        "the sweep: one claim of the {DUE_ESCALATIONS} due among {OPEN_ESCALATIONS} open (locked, with their policies, deliveries and contacts): median {:.1} ms of 5, max {:.1} ms   (target <= 50 ms)",
        ms(sweeps[2]),
        ms(sweeps[4]),
    );
    let plan = herald::db::engine::explain_claim(&conn).await?;
    let scans: Vec<&str> = plan
        .lines()
        .map(|l| l.trim().trim_start_matches("-> ").trim())
        .filter(|l| l.contains("Scan"))
        .collect();
    println!("plan of the engine's claim: {}", scans.join(" | "));
    Ok(())
}
