//! `ingest`: the HTTP API (API Gateway HTTP API, payload v2) that validates, stores and
//! enqueues escalations, shows them with their delivery log, and acknowledges or
//! resolves them on a caller's behalf.

pub mod api;
pub mod error;
pub mod http_handler;

use herald::Config;
use herald::db::Pool;
use herald::queue::Queues;

pub use http_handler::function_handler;

/// What the handler needs, built once per cold start.
#[derive(Clone)]
pub struct Deps {
    pub pool: Pool,
    /// One queue per deliverable channel.
    pub queues: Queues,
}

impl Deps {
    pub async fn from_config(
        config: &Config,
        sdk: &herald::aws_config::SdkConfig,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            pool: herald::db::connect_pool(&config.database).await?,
            queues: Queues::from_config(config, &herald::aws_sdk_sqs::Client::new(sdk))?,
        })
    }
}
