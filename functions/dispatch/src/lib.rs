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

pub use event_handler::function_handler;

/// What the handler needs, built once per cold start.
pub struct Deps<C> {
    pub pool: Pool,
    pub channel: C,
    /// Where `/l/{token}` is served.
    pub public_base_url: String,
    pub token_ttl: Duration,
    pub lease: Duration,
    pub retry: RetryPolicy,
}

impl<C: Channel> Deps<C> {
    pub async fn from_config(config: &Config, channel: C) -> anyhow::Result<Self> {
        Ok(Self {
            pool: herald::db::connect_pool(&config.database).await?,
            channel,
            public_base_url: config.require_public_base_url()?.to_owned(),
            token_ttl: config.magic_link_ttl,
            lease: config.sending_lease,
            retry: config.retry,
        })
    }
}
