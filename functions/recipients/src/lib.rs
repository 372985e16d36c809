//! `recipients`: the HTTP API (API Gateway HTTP API, payload v2) of what belongs to a
//! recipient, a team or the tenant rather than to one escalation: the people themselves
//! (`/v1/recipients/{id}`: contact data, time zone, quiet hours, erasure), the in-app inbox, the
//! person's opt-outs, the Teams webhooks pages are posted to, the tenant's connections
//! (the Slack install) and its suppression list (addresses providers reported bad).
//!
//! It is its own function, apart from `ingest`: apps poll the inbox (the unread count
//! especially) far more often than escalations arrive, and that traffic must not share
//! concurrency, size or permissions with the paging path. Only this function and the
//! dispatchers that send with a credential (`dispatch-teams`, `dispatch-slack`) can read
//! the keys credentials are sealed with.

pub mod handlers;
pub mod http_handler;
pub mod integrations;
pub mod openapi;
pub mod opt_outs;
pub mod people;
pub mod policies;
pub mod stats;
pub mod suppressions;
pub mod system_events;
pub mod templates;

use std::sync::Arc;

use herald::Config;
use herald::api_key::KeyCache;
use herald::db::Pool;
use herald::db::tenants::Principal;
use herald::secrets::Keyring;
use herald::warm::Warm;

pub use http_handler::function_handler;

/// What the handler needs, built once per cold start.
#[derive(Clone)]
pub struct Deps {
    pub pool: Pool,
    /// Keys verified recently on this instance (see [`KeyCache`]).
    pub keys: Arc<KeyCache<Principal>>,
    /// The keys Teams webhook URLs are sealed with (read on first use).
    pub keyring: Option<Warm<Keyring>>,
    /// The hosts a Teams webhook may point at.
    pub teams_webhook_hosts: Vec<String>,
    /// "Add to Slack", when the Slack app's OAuth credentials are configured.
    pub slack_installer: Option<herald::slack::SlackInstaller>,
    /// People's Teams connections, when the Entra ID app is configured.
    pub teams_connector: Option<herald::teams_identity::TeamsConnector>,
}

impl Deps {
    /// The one way to build it, on Lambda as in tests: configuration errors fail now;
    /// the secret keys are read on first use.
    pub async fn new(config: &Config) -> anyhow::Result<Self> {
        let pool = herald::db::connect_pool(&config.database).await?;
        Ok(Self {
            pool,
            keys: Arc::new(KeyCache::new(config.api_key_cache_ttl)),
            keyring: config.secret_keys.as_ref().map(Keyring::warming),
            teams_webhook_hosts: config.teams_webhook_hosts.clone(),
            slack_installer: herald::slack::SlackInstaller::from_config(config)?,
            teams_connector: herald::teams_identity::TeamsConnector::from_config(config)?,
        })
    }
}
