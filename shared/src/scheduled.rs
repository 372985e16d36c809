//! The two scheduled runs, `retry` (every minute) and `retention` (hourly): each works
//! in bounded steps until nothing is left or its time budget is spent, and reports
//! counts. The next run continues where one stopped.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::RetentionConfig;
use crate::db::engine as db_engine;
use crate::db::retention::{self, RULES};
use crate::db::sweep::{self, AttemptLimits, Due};
use crate::db::{Client, Pool};
use crate::domain::engine::{self, Plan};
use crate::domain::{AdaptiveBatch, Budget, RetryPolicies};
use crate::queue::{Envelope, Queues};

/// The budget of a scheduled invocation with this deadline (milliseconds since the
/// epoch, from the Lambda context): until `margin` before it, or `timeout` from now when
/// the deadline is already past (see [`Budget::for_invocation`]).
pub fn invocation_budget(deadline_epoch_ms: u64, timeout: Duration, margin: Duration) -> Budget {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    if deadline_epoch_ms <= now_ms {
        tracing::warn!(
            deadline_epoch_ms,
            "the invocation's deadline is already past; assuming the configured timeout"
        );
    }
    let now = Instant::now();
    let budget = Budget::for_invocation(deadline_epoch_ms, now_ms, now, timeout, margin);
    tracing::debug!(
        deadline_epoch_ms,
        budget_ms = budget.remaining(now).as_millis(),
        "run starts"
    );
    budget
}

/// What the retry sweep needs.
#[derive(Debug, Clone)]
pub struct RetrySettings {
    pub policies: RetryPolicies,
    pub outbox_grace: Duration,
    pub batch_size: u32,
    /// The channels with a queue (the engine records rows for any other as
    /// `channel_not_enabled`, as ingest does) and their receipt windows.
    pub channels: engine::Channels,
}

impl RetrySettings {
    pub fn from_config(config: &crate::Config) -> Self {
        Self {
            policies: config.retry.clone(),
            outbox_grace: config.outbox_grace,
            batch_size: config.retry_batch_size,
            channels: config.engine_channels(),
        }
    }
}

/// Counts per step of one retry run; also its log line.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct RetrySummary {
    /// `failed` rows whose retry was due, handed to their queue again (rows reclaimed
    /// from an expired lease in the same run are counted here too).
    pub requeued_failed: u64,
    /// `sending` rows past their lease, made due again (their attempt counted).
    pub reclaimed_leases: u64,
    /// `queued` rows no dispatcher claimed within the grace period, enqueued again.
    pub requeued_outbox: u64,
    /// Rows out of attempts, now final `failed` (recorded in `event_log`).
    pub exhausted: u64,
    /// Due rows of escalations acknowledged or resolved meanwhile: never sent.
    pub suppressed: u64,
    /// Rows SQS did not accept this time; they stay `queued` for the outbox step.
    pub enqueue_failed: u64,
    /// The escalation engine's part of the run.
    pub engine: EngineSummary,
    /// Channels whose dead-letter queue holds messages (each has an open `dlq_messages`
    /// system event).
    pub dead_letter_channels: u64,
    /// The run stopped at its time budget with work left; the next run continues.
    pub stopped_early: bool,
    pub elapsed_ms: u64,
}

impl RetrySummary {
    /// Counts an enqueue of `sent_or_failed` rows of step `due`, `failed` of them refused.
    fn credit(&mut self, due: Due, sent_or_failed: u64, failed: u64) {
        self.enqueue_failed += failed;
        match due {
            Due::Retries => self.requeued_failed += sent_or_failed - failed,
            Due::Outbox { .. } => self.requeued_outbox += sent_or_failed - failed,
        }
    }

    pub fn log(&self) {
        tracing::info!(
            requeued_failed = self.requeued_failed,
            reclaimed_leases = self.reclaimed_leases,
            requeued_outbox = self.requeued_outbox,
            exhausted = self.exhausted,
            suppressed = self.suppressed,
            enqueue_failed = self.enqueue_failed,
            escalations_stepped = self.engine.escalations,
            levels_fired = self.engine.levels_fired,
            tiers_started = self.engine.tiers_started,
            escalations_exhausted = self.engine.exhausted,
            ack_timeouts = self.engine.ack_timeouts,
            engine_enqueued = self.engine.enqueued,
            dead_letter_channels = self.dead_letter_channels,
            stopped_early = self.stopped_early,
            elapsed_ms = self.elapsed_ms,
            "retry sweep done"
        );
        for (name, value) in [
            ("RequeuedFailed", self.requeued_failed),
            ("ReclaimedLeases", self.reclaimed_leases),
            ("RequeuedOutbox", self.requeued_outbox),
            ("Exhausted", self.exhausted),
            ("SuppressedOnSweep", self.suppressed),
            (
                "EnqueueFailed",
                self.enqueue_failed + self.engine.enqueue_failed,
            ),
            ("EscalationsStepped", self.engine.escalations),
            ("LevelsFired", self.engine.levels_fired),
            ("TiersStarted", self.engine.tiers_started),
            ("EscalationsExhausted", self.engine.exhausted),
            ("AckTimeouts", self.engine.ack_timeouts),
            ("StoppedEarly", u64::from(self.stopped_early)),
        ] {
            metrics::counter!(name).increment(value);
        }
        metrics::gauge!("DeadLetterChannels").set(self.dead_letter_channels as f64);
        metrics::histogram!("SweepMs").record(self.elapsed_ms as f64);
    }
}

/// Counts of the escalation engine's steps in one run.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct EngineSummary {
    /// Escalations whose due step was planned and applied.
    pub escalations: u64,
    pub levels_fired: u64,
    /// Secondary and fallback tiers started.
    pub tiers_started: u64,
    /// Escalations whose last round ended unanswered.
    pub exhausted: u64,
    /// Acknowledged escalations whose acknowledgement timed out: triggered again, the
    /// policy starting over.
    pub ack_timeouts: u64,
    /// Notification rows written.
    pub rows: u64,
    /// Queued rows handed to their channel's queue.
    pub enqueued: u64,
    /// Queued rows SQS did not take: the outbox step sends them later.
    pub enqueue_failed: u64,
    pub stopped_early: bool,
}

impl std::ops::AddAssign<&EngineSummary> for EngineSummary {
    /// Adds another run's counts (a run stopped early makes the total so).
    fn add_assign(&mut self, run: &EngineSummary) {
        self.escalations += run.escalations;
        self.levels_fired += run.levels_fired;
        self.tiers_started += run.tiers_started;
        self.exhausted += run.exhausted;
        self.ack_timeouts += run.ack_timeouts;
        self.rows += run.rows;
        self.enqueued += run.enqueued;
        self.enqueue_failed += run.enqueue_failed;
        self.stopped_early |= run.stopped_early;
    }
}

/// What one batch of a sweep step found (zero2prod's `ExecutionOutcome`): a full batch
/// means more may be due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StepOutcome {
    MoreDue,
    Drained,
}

impl StepOutcome {
    fn of(taken: usize, batch: u32) -> Self {
        if taken as u64 >= u64::from(batch) {
            StepOutcome::MoreDue
        } else {
            StepOutcome::Drained
        }
    }
}

/// Runs one sweep step batch after batch until it drains or the run's budget is spent
/// (then `$stopped_early` is set and the next run continues). `$batch` is an async block
/// doing one batch (its own transaction, so what was done stays done) and answering a
/// [`StepOutcome`]; an error stops the step and is returned. A macro rather than a
/// function taking a closure: the batch borrows the run's connection and summary
/// afresh each time, and the run's future must stay `Send` for the runtime.
macro_rules! run_step {
    ($budget:expr, $stopped_early:expr, $batch:expr) => {
        loop {
            if !$budget.allows(Instant::now()) {
                *$stopped_early = true;
                break;
            }
            let outcome: StepOutcome = $batch.await?;
            if outcome == StepOutcome::Drained {
                break;
            }
        }
    };
}

/// The escalation engine, batch by batch until a batch comes back short or the budget
/// is spent: each batch locks due escalations, plans each at `now` (see
/// [`crate::domain::engine`]) and applies the plans in the same transaction, then
/// enqueues the new rows. Tests pass their own `now` to drive time.
pub async fn escalate(
    pool: &Pool,
    queues: &Queues,
    channels: &engine::Channels,
    batch: u32,
    budget: Budget,
    now: impl Fn() -> DateTime<Utc>,
) -> anyhow::Result<EngineSummary> {
    let mut client = pool.get().await?;
    let mut summary = EngineSummary::default();
    let mut stopped_early = false;
    // First the acknowledgements that timed out: triggered again and due at once, so
    // the claim below fires their first level in this same run.
    run_step!(budget, &mut stopped_early, async {
        let tx = client.transaction().await?;
        let back = db_engine::retrigger_timed_out(&tx, now(), batch).await?;
        tx.commit().await?;
        summary.ack_timeouts += back.len() as u64;
        anyhow::Ok(StepOutcome::of(back.len(), batch))
    });
    if !stopped_early {
        run_step!(budget, &mut stopped_early, async {
            let now = now();
            let tx = client.transaction().await?;
            let due = db_engine::claim_due(&tx, now, batch).await?;
            if due.is_empty() {
                tx.commit().await?;
                return anyhow::Ok(StepOutcome::Drained);
            }
            let plans: Vec<(uuid::Uuid, Plan)> = due
                .iter()
                .map(|d| {
                    let plan = engine::plan(
                        &d.policy,
                        &d.progress,
                        &d.deliveries,
                        &d.people,
                        channels,
                        now,
                    );
                    (d.id, plan)
                })
                .collect();
            let applied = db_engine::apply(&tx, now, &plans).await?;
            tx.commit().await?;
            summary.escalations += due.len() as u64;
            summary.levels_fired += applied.levels_fired;
            summary.tiers_started += applied.tiers_started;
            summary.exhausted += applied.exhausted;
            summary.rows += applied.rows;
            let failed = enqueue(queues, &applied.to_enqueue, budget).await;
            summary.enqueued += applied.to_enqueue.len() as u64 - failed;
            summary.enqueue_failed += failed;
            anyhow::Ok(StepOutcome::of(due.len(), batch))
        });
    }
    summary.stopped_early = stopped_early;
    Ok(summary)
}

/// One retry run: reclaim expired leases (they become due), step the escalations that
/// are due, then sweep the outbox, then re-enqueue due failures. Each step goes batch by batch until a batch comes
/// back short or the budget is spent.
///
/// On a database error the run stops and returns it; what was already done stays done
/// (every batch is its own transaction), and the summary so far is logged.
pub async fn retry_sweep(
    pool: &Pool,
    queues: &Queues,
    settings: &RetrySettings,
    budget: Budget,
) -> anyhow::Result<RetrySummary> {
    let started = Instant::now();
    let mut summary = RetrySummary::default();
    let result = retry_steps(pool, queues, settings, budget, &mut summary).await;
    summary.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    summary.log();
    result.map(|()| summary)
}

async fn retry_steps(
    pool: &Pool,
    queues: &Queues,
    settings: &RetrySettings,
    budget: Budget,
    summary: &mut RetrySummary,
) -> anyhow::Result<()> {
    let batch = settings.batch_size;
    // First (and on a connection of its own, returned before the others start): the
    // pages the engine starts now go out in this run. Meanwhile, a look at the
    // dead-letter queues.
    let (engine, dead_letters) = tokio::join!(
        escalate(pool, queues, &settings.channels, batch, budget, Utc::now),
        watch_dead_letters(pool, queues)
    );
    summary.engine = engine?;
    summary.dead_letter_channels = dead_letters;
    summary.stopped_early |= summary.engine.stopped_early;

    let client = pool.get().await?;
    let limits = AttemptLimits::new(&settings.policies);

    let mut stopped_early = false;
    run_step!(budget, &mut stopped_early, async {
        let reclaimed = sweep::reclaim_expired_leases(&client, &limits, batch).await?;
        summary.reclaimed_leases += reclaimed.due_again;
        summary.exhausted += reclaimed.exhausted;
        summary.suppressed += reclaimed.suppressed;
        anyhow::Ok(StepOutcome::of(
            usize::try_from(reclaimed.total()).unwrap_or(usize::MAX),
            batch,
        ))
    });
    if stopped_early {
        summary.stopped_early = true;
        return Ok(());
    }

    // The outbox first: first pages whose enqueue failed must not wait behind a retry
    // backlog, and rows the retries step requeues in this run are not taken again.
    for due in [
        Due::Outbox {
            grace: settings.outbox_grace,
        },
        Due::Retries,
    ] {
        // Pipelined: while one batch goes to SQS, the next is claimed.
        let mut claimed: Vec<(crate::domain::Channel, uuid::Uuid)> = Vec::new();
        let mut finished = false;
        while !finished {
            let may_claim = budget.allows(Instant::now());
            if !may_claim {
                summary.stopped_early = true;
            }
            let claim = async {
                if may_claim {
                    Some(sweep::requeue_due(&client, due, &limits, batch).await)
                } else {
                    None
                }
            };
            let in_flight = claimed.len() as u64;
            let (next, failed) = tokio::join!(claim, enqueue(queues, &claimed, budget));
            summary.credit(due, in_flight, failed);
            let sqs_down = in_flight > 0 && failed == in_flight;
            let Some(requeued) = next else {
                return Ok(());
            };
            let requeued = requeued?;
            summary.suppressed += requeued.suppressed;
            summary.exhausted += requeued.exhausted;
            finished = requeued.total() < u64::from(batch);
            claimed = requeued.to_enqueue;
            if sqs_down && !finished {
                // SQS is not taking messages: the rows wait in the outbox (their clock
                // is set); moving more of them would only churn.
                tracing::warn!(failed, "SQS accepted nothing; the next run continues");
                finished = true;
            }
        }
        let in_flight = claimed.len() as u64;
        let failed = enqueue(queues, &claimed, budget).await;
        summary.credit(due, in_flight, failed);
    }
    Ok(())
}

/// Raises (or resolves) the `dlq_messages` system events from the dead-letter queues'
/// depths; returns how many hold messages. Never fails the sweep: a depth it cannot read
/// or record is logged and looked at again next run.
async fn watch_dead_letters(pool: &Pool, queues: &Queues) -> u64 {
    let depths = queues.dead_letter_depths().await;
    if depths.is_empty() {
        return 0;
    }
    let recorded =
        async { crate::db::system_events::dead_letters(&pool.get().await?, &depths).await }.await;
    match recorded {
        Ok(holding) => u64::try_from(holding).unwrap_or(0),
        Err(e) => {
            tracing::warn!(error.message = %crate::telemetry::describe(e.as_ref()), "could not record the dead-letter queues' depths");
            0
        }
    }
}

/// Enqueues the rows; returns how many SQS did not accept. Bounded by what is left of
/// the budget plus its margin (at least a second): rows not sent in time stay `queued`
/// with their outbox clock set, so nothing is lost by giving up.
async fn enqueue(
    queues: &Queues,
    rows: &[(crate::domain::Channel, uuid::Uuid)],
    budget: Budget,
) -> u64 {
    if rows.is_empty() {
        return 0;
    }
    let limit = budget.remaining(Instant::now()).max(Duration::from_secs(1));
    let items: Vec<_> = rows
        .iter()
        .map(|(channel, id)| {
            (
                *channel,
                Envelope {
                    notification_id: *id,
                    trace_id: None,
                },
            )
        })
        .collect();
    match tokio::time::timeout(limit, queues.enqueue(&items)).await {
        Ok(report) => report.failed.len() as u64,
        Err(_) => {
            tracing::warn!(
                rows = rows.len(),
                "SQS too slow for the time left; the outbox sends them later"
            );
            rows.len() as u64
        }
    }
}

/// Counts of one retention run; also its log line.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct RetentionSummary {
    /// Rows deleted, per table.
    pub deleted: BTreeMap<&'static str, u64>,
    pub statements: u64,
    pub longest_statement_ms: u64,
    /// The run stopped at its time budget with rows left; the next run continues.
    pub stopped_early: bool,
    pub elapsed_ms: u64,
}

impl RetentionSummary {
    pub fn total(&self) -> u64 {
        self.deleted.values().sum()
    }

    pub fn log(&self) {
        tracing::info!(
            deleted = ?self.deleted,
            deleted_total = self.total(),
            statements = self.statements,
            longest_statement_ms = self.longest_statement_ms,
            stopped_early = self.stopped_early,
            elapsed_ms = self.elapsed_ms,
            "retention done"
        );
        for (table, deleted) in &self.deleted {
            metrics::counter!("Deleted", "Table" => *table).increment(*deleted);
        }
        metrics::histogram!("SweepMs").record(self.elapsed_ms as f64);
    }
}

/// Each statement aims at this duration, so none holds its locks for long.
pub const RETENTION_STATEMENT_TARGET: Duration = Duration::from_millis(100);

/// The longest a retention statement waits for a lock before the run gives up.
pub const RETENTION_LOCK_TIMEOUT: Duration = Duration::from_secs(2);

/// One retention run over [`RULES`], in order, each in adaptive batches.
pub async fn retention(
    pool: &Pool,
    config: &RetentionConfig,
    budget: Budget,
) -> anyhow::Result<RetentionSummary> {
    let started = Instant::now();
    let mut summary = RetentionSummary::default();
    for rule in RULES {
        summary.deleted.entry(rule.table).or_insert(0);
    }
    let result = match pool.get().await {
        Ok(client) => retention_steps(&client, config, budget, &mut summary).await,
        Err(e) => Err(e.into()),
    };
    summary.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    summary.log();
    result.map(|()| summary)
}

async fn retention_steps(
    client: &Client,
    config: &RetentionConfig,
    budget: Budget,
    summary: &mut RetentionSummary,
) -> anyhow::Result<()> {
    retention::bound_lock_waits(client, RETENTION_LOCK_TIMEOUT).await?;
    for rule in RULES {
        let window = rule.window.of(config);
        let mut batch = AdaptiveBatch::new(
            200,
            100.min(config.max_batch),
            config.max_batch,
            RETENTION_STATEMENT_TARGET,
        );
        loop {
            if !budget.allows(Instant::now()) {
                summary.stopped_early = true;
                return Ok(());
            }
            let size = batch.size();
            let started = Instant::now();
            let deleted = retention::delete_batch(client, rule, window, size).await?;
            let took = started.elapsed();
            batch.observe(took);
            summary.statements += 1;
            summary.longest_statement_ms = summary
                .longest_statement_ms
                .max(u64::try_from(took.as_millis()).unwrap_or(u64::MAX));
            for (table, n) in &deleted.per_table {
                *summary.deleted.entry(table).or_insert(0) += n;
            }
            if deleted.rows < u64::from(size) {
                break;
            }
            // Leave the database room for live traffic: at most two thirds of the time
            // deleting.
            tokio::time::sleep(took / 2).await;
        }
    }
    Ok(())
}
