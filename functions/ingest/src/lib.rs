//! `ingest`: the HTTP API (API Gateway HTTP API, payload v2) that validates, stores and
//! enqueues escalations, shows them with their delivery log, and acknowledges or
//! resolves them on a caller's behalf.

pub mod api;
pub mod error;
pub mod http_handler;

use herald::Config;
use herald::db::Pool;
use std::sync::Arc;

use herald::api_key::KeyCache;
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
    /// One queue per deliverable channel (its SQS client may still be warming up).
    pub queues: Warm<Queues>,
}

impl Deps {
    /// With clients built now (tests, the local runner).
    pub async fn from_config(
        config: &Config,
        sdk: &herald::aws_config::SdkConfig,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            pool: herald::db::connect_pool(&config.database).await?,
            keys: Arc::new(KeyCache::new(config.api_key_cache_ttl)),
            queues: Warm::ready(Queues::from_config(
                config,
                &herald::aws_sdk_sqs::Client::new(sdk),
            )?),
        })
    }

    /// For Lambda's cold start: configuration errors fail now; the SQS client is built on
    /// first use, overlapping the first request's database work.
    pub async fn warming(config: &Config) -> anyhow::Result<Self> {
        let queues = Queues::warming(config)?;
        let pool = herald::db::connect_pool(&config.database).await?;
        Ok(Self {
            pool,
            keys: Arc::new(KeyCache::new(config.api_key_cache_ttl)),
            queues,
        })
    }
}
