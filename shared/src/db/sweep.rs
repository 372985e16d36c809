//! The retry sweep's statements. Each takes a bounded batch with `FOR UPDATE SKIP LOCKED`
//! and moves it out of the due set in the same statement, so two overlapping sweeps never
//! take the same row, and a dispatcher or an acknowledgement holding a row is skipped,
//! not waited for.

use std::sync::LazyLock;
use std::time::Duration;

use anyhow::Context;
use uuid::Uuid;

use super::{Client, parse_col};
use crate::domain::{Channel, NotificationStatus, RetryPolicies};

/// Max attempts per channel, bound once per run.
#[derive(Debug, Clone)]
pub struct AttemptLimits {
    channels: Vec<&'static str>,
    max_attempts: Vec<i32>,
}

impl AttemptLimits {
    pub fn new(policies: &RetryPolicies) -> Self {
        let (channels, max_attempts) = policies.max_attempts_by_channel();
        Self {
            channels,
            max_attempts,
        }
    }
}

/// What [`reclaim_expired_leases`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reclaimed {
    /// Now `failed` and due at once, their attempt counted.
    pub due_again: u64,
    /// Out of attempts: final `failed`.
    pub exhausted: u64,
    /// Their escalation was answered meanwhile: `suppressed`.
    pub suppressed: u64,
}

impl Reclaimed {
    pub fn total(&self) -> u64 {
        self.due_again + self.exhausted + self.suppressed
    }
}

static RECLAIM: LazyLock<String> = LazyLock::new(|| {
    RECLAIM_SQL.replace("{answered}", &super::answered_reason("s.escalation_status"))
});

const RECLAIM_SQL: &str = r#"
            WITH stale AS (
                SELECT n.id, e.status AS escalation_status,
                       e.status = 'triggered' AND n.attempt_count >= l.max_attempts AS exhausted
                FROM notification_log AS n
                JOIN escalations AS e ON e.id = n.escalation_id
                JOIN unnest($2::text[], $3::int[]) AS l(channel, max_attempts) ON l.channel = n.channel
                WHERE n.status = 'sending' AND n.lease_expires_at <= now()
                ORDER BY n.lease_expires_at
                LIMIT $1
                FOR UPDATE OF n SKIP LOCKED
            ), updated AS (
                -- Due again, final when that was the last attempt, or suppressed when the
                -- escalation was answered meanwhile (no alarm for a page nobody needs).
                UPDATE notification_log AS n SET
                    status = CASE WHEN s.escalation_status <> 'triggered' THEN 'suppressed'
                                  ELSE 'failed' END,
                    suppressed_reason = {answered},
                    error = 'lease expired: attempt ' || n.attempt_count
                            || ' was claimed but its result never recorded (the dispatcher stopped)'
                            || COALESCE('; previous error: ' || n.error, ''),
                    retryable = true,
                    lease_expires_at = NULL,
                    next_attempt_at = CASE WHEN s.escalation_status = 'triggered' AND NOT s.exhausted
                                           THEN now() END
                FROM stale AS s
                WHERE n.id = s.id
                RETURNING n.id, n.tenant_id, n.escalation_id, n.channel, n.status, n.attempt_count,
                          n.error, n.suppressed_reason, s.exhausted
            ), evt AS (
                INSERT INTO event_log (tenant_id, escalation_id, notification_id, event_type, actor_type, actor_id, detail)
                SELECT tenant_id, escalation_id, id,
                       CASE WHEN status = 'suppressed' THEN 'notification.suppressed'
                            WHEN exhausted THEN 'notification.failed'
                            ELSE 'notification.lease_expired' END,
                       'system', 'retry',
                       jsonb_strip_nulls(jsonb_build_object(
                           'attempt', attempt_count, 'error', error, 'retryable', true,
                           'exhausted', exhausted, 'reason', suppressed_reason))
                FROM updated
            )
            SELECT count(*) FILTER (WHERE status = 'failed' AND NOT exhausted) AS due_again,
                   count(*) FILTER (WHERE exhausted) AS exhausted,
                   count(*) FILTER (WHERE status = 'suppressed') AS suppressed
            FROM updated
            "#;

/// Takes back up to `limit` rows left `sending` past their lease: the dispatcher died (or
/// stalled) between claiming and recording. The claim already counted the attempt; the
/// row becomes `failed` and due now, or final `failed` when that was its last attempt,
/// or `suppressed` when its escalation was answered meanwhile.
/// Whether the message went out is unknown, so the next attempt may duplicate it: at
/// least once, never lost. A stalled dispatcher that records later changes nothing (its
/// result is for an attempt the row no longer holds).
#[tracing::instrument(name = "reclaim leases", skip_all, fields(limit = limit))]
pub async fn reclaim_expired_leases(
    client: &Client,
    limits: &AttemptLimits,
    limit: u32,
) -> anyhow::Result<Reclaimed> {
    let stmt = client.prepare_cached(&RECLAIM).await?;
    let row = client
        .query_one(
            &stmt,
            &[&i64::from(limit), &limits.channels, &limits.max_attempts],
        )
        .await
        .context("reclaiming expired leases")?;
    Ok(Reclaimed {
        due_again: count(row.get("due_again")),
        exhausted: count(row.get("exhausted")),
        suppressed: count(row.get("suppressed")),
    })
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Which due rows a requeue step takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// `failed` rows whose `next_attempt_at` has come.
    Retries,
    /// `queued` rows no dispatcher claimed within the grace period since they were last
    /// handed to SQS (the send after the ingest commit failed, or the message was lost).
    Outbox { grace: Duration },
}

/// What a requeue step did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Requeued {
    /// Now `queued`: to be sent to their channel's queue.
    pub to_enqueue: Vec<(Channel, Uuid)>,
    /// Their escalation was acknowledged or resolved meanwhile: `suppressed`, never sent.
    pub suppressed: u64,
    /// Out of attempts: final `failed`.
    pub exhausted: u64,
}

impl Requeued {
    pub fn total(&self) -> u64 {
        self.to_enqueue.len() as u64 + self.suppressed + self.exhausted
    }
}

// The status is a literal in each text, not a parameter, so the planner can match the
// partial index of that kind (`notification_log_due` or `notification_log_outbox`) even
// with a generic plan.
static REQUEUE_RETRIES: LazyLock<String> = LazyLock::new(|| requeue_sql("failed"));
static REQUEUE_OUTBOX: LazyLock<String> = LazyLock::new(|| requeue_sql("queued"));

fn requeue_sql(status: &str) -> String {
    format!(
        r#"
            WITH due AS (
                SELECT n.id, e.status AS escalation_status,
                       n.status = 'failed' AND n.attempt_count >= l.max_attempts AS exhausted
                FROM notification_log AS n
                JOIN escalations AS e ON e.id = n.escalation_id
                JOIN unnest($3::text[], $4::int[]) AS l(channel, max_attempts) ON l.channel = n.channel
                WHERE n.status = '{status}'
                  AND n.next_attempt_at <= now() - make_interval(secs => $2)
                ORDER BY n.next_attempt_at
                LIMIT $1
                FOR UPDATE OF n SKIP LOCKED
            ), updated AS (
                UPDATE notification_log AS n SET
                    status = CASE WHEN d.escalation_status <> 'triggered' THEN 'suppressed'
                                  WHEN d.exhausted THEN 'failed'
                                  ELSE 'queued' END,
                    suppressed_reason = {answered},
                    next_attempt_at = CASE
                        WHEN d.escalation_status <> 'triggered' OR d.exhausted THEN NULL
                        WHEN n.status = 'failed' THEN now()
                        ELSE now() + LEAST(GREATEST(now() - COALESCE(n.last_attempt_at, n.queued_at)
                                                    - make_interval(secs => $2), interval '0'),
                                           interval '15 minutes')
                    END
                FROM due AS d
                WHERE n.id = d.id
                RETURNING n.id, n.tenant_id, n.escalation_id, n.channel, n.status, n.attempt_count,
                          n.error, n.suppressed_reason
            ), evt AS (
                INSERT INTO event_log (tenant_id, escalation_id, notification_id, event_type, actor_type, actor_id, detail)
                SELECT tenant_id, escalation_id, id, 'notification.' || status, 'system', 'retry',
                       jsonb_strip_nulls(jsonb_build_object(
                           'attempt', attempt_count, 'reason', suppressed_reason,
                           'error', CASE WHEN status = 'failed' THEN error END,
                           'exhausted', CASE WHEN status = 'failed' THEN true END))
                FROM updated
                WHERE status <> 'queued'
            )
            SELECT id, channel, status FROM updated
            "#,
        answered = super::answered_reason("d.escalation_status"),
    )
}

/// Takes up to `limit` due rows (oldest first) and, in the same statement, marks each
/// `queued` with a fresh outbox clock, or `suppressed` when its escalation is no longer
/// `triggered`, or final `failed` when it has no attempt left. The caller then enqueues
/// the `queued` ones; should that fail, the outbox step finds them again after the grace.
///
/// An outbox row's clock is pushed further each time (the wait doubles with its age,
/// up to 15 minutes), so a long dispatcher outage does not flood the queue with copies.
#[tracing::instrument(name = "requeue due", skip_all, fields(?due, limit = limit))]
pub async fn requeue_due(
    client: &Client,
    due: Due,
    limits: &AttemptLimits,
    limit: u32,
) -> anyhow::Result<Requeued> {
    let (sql, grace) = match due {
        Due::Retries => (&*REQUEUE_RETRIES, Duration::ZERO),
        Due::Outbox { grace } => (&*REQUEUE_OUTBOX, grace),
    };
    let stmt = client.prepare_cached(sql).await?;
    let rows = client
        .query(
            &stmt,
            &[
                &i64::from(limit),
                &grace.as_secs_f64(),
                &limits.channels,
                &limits.max_attempts,
            ],
        )
        .await
        .context("requeueing due notifications")?;
    let mut out = Requeued::default();
    for row in &rows {
        match parse_col::<NotificationStatus>(row, "status")? {
            NotificationStatus::Queued => out
                .to_enqueue
                .push((parse_col(row, "channel")?, row.get("id"))),
            NotificationStatus::Suppressed => out.suppressed += 1,
            _ => out.exhausted += 1,
        }
    }
    Ok(out)
}

/// The plan of each sweep statement as the database would run it now (for the bench:
/// with a large table, each must be an index scan of its partial index, not a
/// sequential scan).
pub async fn explain(
    client: &Client,
    limits: &AttemptLimits,
    grace: Duration,
) -> anyhow::Result<Vec<(&'static str, String)>> {
    let limit = 500i64;
    let grace = grace.as_secs_f64();
    let mut plans = Vec::new();
    for (step, sql, with_grace) in [
        ("expired leases", RECLAIM.as_str(), false),
        ("due retries", REQUEUE_RETRIES.as_str(), true),
        ("outbox", REQUEUE_OUTBOX.as_str(), true),
    ] {
        let explain = format!("EXPLAIN (COSTS OFF) {sql}");
        let rows = if with_grace {
            client
                .query(
                    &explain,
                    &[&limit, &grace, &limits.channels, &limits.max_attempts],
                )
                .await?
        } else {
            client
                .query(&explain, &[&limit, &limits.channels, &limits.max_attempts])
                .await?
        };
        let plan: Vec<String> = rows.iter().map(|r| r.get::<_, String>(0)).collect();
        plans.push((step, plan.join("\n")));
    }
    Ok(plans)
}
