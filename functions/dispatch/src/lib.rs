//! `dispatch-*`: SQS-triggered dispatchers, one binary per channel, one generic handler.
//!
//! Per batch: parse the envelopes, claim the rows in ONE statement, send concurrently,
//! record every result in ONE statement. Infrastructure failures (database unreachable)
//! are reported in `batchItemFailures` so SQS redelivers; provider failures are recorded
//! on the row (transient ones with their next attempt) and the message is acknowledged.

pub mod event_handler;

use std::time::Duration;

use herald::Config;
use herald::channels::Channel;
use herald::db::Pool;
use herald::domain::RetryPolicy;
use herald::warm::Warm;

pub use event_handler::function_handler;

/// What the handler needs, built once per cold start.
pub struct Deps<C: Clone> {
    pub pool: Pool,
    /// The provider adapter (its SDK client may still be warming up).
    pub channel: Warm<C>,
    /// Which channel `channel` delivers, known without waiting for it.
    pub kind: herald::domain::Channel,
    /// Where `/l/{token}` is served.
    pub public_base_url: String,
    pub token_ttl: Duration,
    pub lease: Duration,
    pub retry: RetryPolicy,
}

impl<C: Channel + Clone + 'static> Deps<C> {
    /// With the adapter built now (tests, the local runner).
    pub async fn from_config(config: &Config, channel: C) -> anyhow::Result<Self> {
        let kind = channel.kind();
        Self::warming(config, kind, Warm::ready(channel)).await
    }

    /// For Lambda's cold start: the adapter is built on first use, overlapping the first
    /// batch's claim.
    pub async fn warming(
        config: &Config,
        kind: herald::domain::Channel,
        channel: Warm<C>,
    ) -> anyhow::Result<Self> {
        let pool = herald::db::connect_pool(&config.database).await?;
        Ok(Self {
            pool,
            channel,
            kind,
            public_base_url: config.require_public_base_url()?.to_owned(),
            token_ttl: config.magic_link_ttl,
            lease: config.sending_lease,
            retry: config.retry.for_channel(kind),
        })
    }
}
