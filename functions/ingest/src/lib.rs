//! `ingest`: the HTTP API (API Gateway HTTP API, payload v2) that validates, stores and
//! enqueues escalations, shows them with their delivery log, and acknowledges or
//! resolves them on a caller's behalf. A recipient's inbox and webhooks are served by
//! the `recipients` function.

pub mod api;
pub mod http_handler;
pub mod openapi;

use std::sync::Arc;

use herald::Config;
use herald::api_key::KeyCache;
use herald::db::Pool;
use herald::db::tenants::Principal;
use herald::queue::Queues;
use herald::warm::Warm;

pub use http_handler::function_handler;

/// What the handler needs, built once per cold start.
#[derive(Clone)]
pub struct Deps {
    pub pool: Pool,
    /// Keys verified recently on this instance (see [`KeyCache`]).
    pub keys: Arc<KeyCache<Principal>>,
    /// One queue per enabled channel (its SQS client may still be warming up).
    pub queues: Warm<Queues>,
    /// The channels with a queue (rows for any other are `channel_not_enabled`) and
    /// their receipt windows, for the first wave's plan.
    pub channels: herald::domain::engine::Channels,
}

impl Deps {
    /// The one way to build it, on Lambda as in tests: configuration errors fail now;
    /// the SQS client is built from `sdk` on first use, overlapping the first request's
    /// database work (Lambda passes [`herald::config::aws_sdk_config_warming`]).
    pub async fn new(
        config: &Config,
        sdk: Warm<herald::aws_config::SdkConfig>,
    ) -> anyhow::Result<Self> {
        let pool = herald::db::connect_pool(&config.database).await?;
        Ok(Self {
            pool,
            keys: Arc::new(KeyCache::new(config.api_key_cache_ttl)),
            queues: Queues::warming(config, sdk),
            channels: config.engine_channels(),
        })
    }
}
