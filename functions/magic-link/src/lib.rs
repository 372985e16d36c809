//! `magic-link`: acting on an escalation from the message that paged you.
//!
//! `GET /l/{token}` shows what the link will do and changes NOTHING: mail scanners and
//! link previewers fetch links, and a page view must never acknowledge an incident.
//! `POST /l/{token}` (the page's button) consumes the token atomically and applies the
//! action in the same transaction, recording who did it.
//!
//! `POST /slack/actions` is the Slack app's Interactivity Request URL: a signed button
//! click acts through the same path. Either way, the answer is then announced on the
//! Slack queue, and the Slack dispatcher rewrites the escalation's Slack messages to say
//! who answered (this function holds no bot token and has no route to the internet).

pub mod http_handler;
pub mod pages;
pub mod slack_actions;

use herald::Config;
use herald::db::Pool;
use herald::queue::Queues;
use herald::slack::SlackApp;
use herald::warm::Warm;

pub use http_handler::function_handler;

#[derive(Clone)]
pub struct Deps {
    pub pool: Pool,
    /// Slack's interactions, when a signing secret is configured.
    pub slack: Option<SlackApp>,
    /// Where an answer is announced, so the Slack dispatcher rewrites the escalation's
    /// Slack messages (`HERALD_QUEUE_URL_SLACK`; its SQS client may still be warming up).
    pub queues: Warm<Queues>,
}

impl Deps {
    /// The one way to build it, on Lambda as in tests: configuration errors fail now;
    /// the SQS client is built from `sdk` on first use.
    pub async fn new(
        config: &Config,
        sdk: Warm<herald::aws_config::SdkConfig>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            pool: herald::db::connect_pool(&config.database).await?,
            slack: SlackApp::from_config(config),
            queues: Queues::warming(config, sdk),
        })
    }

    /// Tells the channels that show answers (Slack) that `escalation_id` was answered.
    pub async fn announce_answer(&self, escalation_id: uuid::Uuid) {
        self.queues.announce_answer(escalation_id).await;
    }
}
