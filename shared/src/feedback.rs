//! The `feedback` use case: a batch of provider receipts from the feedback queue, read
//! ([`crate::domain::receipt`]) and applied in one statement ([`crate::db::receipts`]).

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::db::Pool;
use crate::domain::receipt::{self, Receipt};

/// One message of the batch, as the queue gave it.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub id: &'a str,
    pub body: &'a str,
}

/// What became of each message, and counts for the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Messages SQS should deliver again: a receipt that matched no row yet while it is
    /// young (the dispatcher's record of the send may not be committed yet), or every
    /// receipt of the batch when the store failed.
    pub retry: Vec<String>,
    pub receipts: usize,
    pub changed: u64,
    pub suppressed: u64,
    pub woken: u64,
    /// Well-formed events that say nothing about arrival (SES `Send`, a call ringing).
    pub ignored: usize,
    /// Unreadable messages: acknowledged and counted, never retried.
    pub malformed: usize,
    /// Receipts for no row Herald has (anymore), past the retry window: acknowledged.
    pub unmatched: usize,
}

/// What the function needs, built once per cold start.
#[derive(Clone)]
pub struct Feedback {
    pool: Pool,
}

impl Feedback {
    pub async fn new(config: &Config) -> anyhow::Result<Self> {
        Ok(Self {
            pool: crate::db::connect_pool(&config.database).await?,
        })
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Reads and applies a batch. A store failure is the only error that returns
    /// messages to SQS wholesale; everything else is decided per message.
    #[tracing::instrument(name = "feedback batch", skip_all, fields(messages = messages.len()))]
    pub async fn handle(&self, messages: &[Message<'_>], now: DateTime<Utc>) -> BatchOutcome {
        let mut outcome = BatchOutcome::default();
        let mut read: Vec<(&str, Receipt)> = Vec::with_capacity(messages.len());
        for m in messages {
            match receipt::parse(m.body) {
                Ok(Some(r)) => read.push((m.id, r)),
                Ok(None) => outcome.ignored += 1,
                Err(why) => {
                    outcome.malformed += 1;
                    tracing::warn!(message_id = m.id, error.message = %why, "feedback message acknowledged and dropped");
                }
            }
        }
        outcome.receipts = read.len();
        if read.is_empty() {
            return outcome;
        }
        let settled = receipt::settle(read.iter().map(|(_, r)| r.clone()).collect());
        let applied = match self.apply(&settled).await {
            Ok(applied) => applied,
            Err(e) => {
                tracing::warn!(error.message = %crate::telemetry::describe(e.as_ref()), "receipts not applied; SQS will redeliver");
                outcome.retry = read.iter().map(|(id, _)| (*id).to_owned()).collect();
                return outcome;
            }
        };
        outcome.changed = applied.changed;
        outcome.suppressed = applied.suppressed;
        outcome.woken = applied.woken;
        for (id, r) in &read {
            let matched = settled
                .iter()
                .position(|s| {
                    s.channel == r.channel && s.provider_message_id == r.provider_message_id
                })
                .is_some_and(|i| applied.matched[i]);
            if matched {
                continue;
            }
            if r.may_still_match(now) {
                outcome.retry.push((*id).to_owned());
            } else {
                outcome.unmatched += 1;
            }
        }
        outcome
    }

    async fn apply(&self, receipts: &[Receipt]) -> anyhow::Result<crate::db::receipts::Applied> {
        let client = self.pool.get().await?;
        crate::db::receipts::apply(&client, receipts).await
    }
}
