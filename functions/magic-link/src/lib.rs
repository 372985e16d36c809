//! `magic-link`: acting on an escalation from the message that paged you.
//!
//! `GET /l/{token}` shows what the link will do and changes NOTHING: mail scanners and
//! link previewers fetch links, and a page view must never acknowledge an incident.
//! `POST /l/{token}` (the page's button) consumes the token atomically and applies the
//! action in the same transaction, recording who did it.
//!
//! `POST /slack/actions` is the Slack app's Interactivity Request URL: a signed button
//! click acts through the same path. Either way, the escalation's Slack messages are
//! then rewritten to say who answered.

pub mod http_handler;
pub mod pages;
pub mod slack_actions;

use herald::Config;
use herald::db::Pool;
use herald::slack::SlackApp;

pub use http_handler::function_handler;

#[derive(Clone)]
pub struct Deps {
    pub pool: Pool,
    /// Present when the function has the keys to open Slack bot tokens.
    pub slack: Option<SlackApp>,
}

impl Deps {
    pub async fn from_config(config: &Config) -> anyhow::Result<Self> {
        Ok(Self {
            pool: herald::db::connect_pool(&config.database).await?,
            slack: SlackApp::from_config(config)?,
        })
    }
}
