//! `magic-link`: the one-time links in messages.
//!
//! `GET /l/{token}` shows what the link will do and changes NOTHING: mail scanners and
//! link previewers fetch links, and a page view must never acknowledge an incident.
//! `POST /l/{token}` (the page's button) consumes the token atomically and applies the
//! action in the same transaction, recording who did it.

pub mod http_handler;
pub mod pages;

use herald::Config;
use herald::db::Pool;

pub use http_handler::function_handler;

#[derive(Clone)]
pub struct Deps {
    pub pool: Pool,
}

impl Deps {
    pub async fn from_config(config: &Config) -> anyhow::Result<Self> {
        Ok(Self {
            pool: herald::db::connect_pool(&config.database).await?,
        })
    }
}
