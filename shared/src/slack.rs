//! Herald's Slack app beyond posting pages: a signed button click acknowledges or
//! resolves through [`crate::actions`] (the path a magic link takes), and once an
//! escalation is answered every Slack message Herald posted for it is rewritten
//! (`chat.update`) to say who answered, so nobody else starts on an incident someone
//! already has (GoAlert #19).

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use crate::actions::{self, ButtonOutcome};
use crate::channels::slack::{Card, Controls, SlackChat, SlackSettings, render_update};
use crate::db::{Client, Pool};
use crate::domain::slack::{self as rules, Interaction, PayloadError, SignatureError};
use crate::secrets::{Keyring, Owner};
use crate::warm::Warm;

/// How long rewriting an escalation's messages may take in all: a click must be
/// answered within Slack's 3 s.
pub const REFRESH_BUDGET: Duration = Duration::from_millis(1_500);

/// What `POST /slack/actions` can fail with (each maps to one HTTP status, in the
/// function's handler).
#[derive(Debug, thiserror::Error)]
pub enum InteractionError {
    /// Not signed by Slack with our secret, too old, or seen before: 401, nothing read.
    #[error("not a request from Slack: {0}")]
    Unauthorized(&'static str),
    /// Signed, but not what Slack documents: 400.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// No signing secret is configured: interactivity is off (404).
    #[error("Slack interactivity is not configured (set HERALD_SLACK_SIGNING_SECRET)")]
    NotConfigured,
    #[error("the store is unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// What a request to `POST /slack/actions` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answered {
    Button(ButtonOutcome),
    /// An interaction Herald does not act on (the Dashboard link button...).
    Ignored,
}

/// The Slack side of the magic-link function.
#[derive(Clone)]
pub struct SlackApp {
    signing_secret: Option<Warm<SecretString>>,
    chat: SlackChat,
    keyring: Warm<Keyring>,
}

impl SlackApp {
    /// `None` when the function was given no keys to open bot tokens with
    /// (`HERALD_SECRET_KEYS[_ARN]`): it cannot rewrite Slack messages, and takes no
    /// Slack interaction either.
    pub fn from_config(config: &crate::Config) -> anyhow::Result<Option<Self>> {
        let Some(keys) = &config.secret_keys else {
            if config.slack_signing_secret.is_some() {
                anyhow::bail!(
                    "HERALD_SLACK_SIGNING_SECRET is set without HERALD_SECRET_KEYS[_ARN]: Slack messages could not be updated"
                );
            }
            return Ok(None);
        };
        let settings = SlackSettings::from_config(config)?;
        let signing_secret = config.slack_signing_secret.clone().map(|source| {
            Warm::lazy(move || {
                let source = source.clone();
                async move { source.read().await }
            })
        });
        Ok(Some(Self {
            signing_secret,
            chat: SlackChat::new(crate::channels::https_client()?, &settings),
            keyring: Keyring::warming(keys),
        }))
    }

    /// Checks the request is Slack's (signature over the raw body, five-minute window,
    /// never seen before), then applies the button's action. `now` is Unix seconds.
    #[tracing::instrument(name = "slack interaction", skip_all)]
    pub async fn interaction(
        &self,
        pool: &Pool,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<Answered, InteractionError> {
        let secret = self
            .signing_secret
            .as_ref()
            .ok_or(InteractionError::NotConfigured)?
            .get()
            .await?;
        let tag = rules::verify_signature(
            secret.expose_secret().as_bytes(),
            timestamp,
            signature,
            body,
            now,
        )
        .map_err(|e| {
            tracing::warn!(reason = %e, "Slack request refused");
            InteractionError::Unauthorized(match e {
                SignatureError::Missing => "unsigned",
                SignatureError::BadTimestamp | SignatureError::Stale => "stale",
                SignatureError::Mismatch => "bad signature",
            })
        })?;
        let mut client = pool
            .get()
            .await
            .map_err(|e| InteractionError::Unavailable(e.into()))?;
        if !crate::db::slack::remember_signature(&client, &tag).await? {
            tracing::warn!("replayed Slack request refused");
            return Err(InteractionError::Unauthorized("replayed"));
        }
        let Interaction::Button {
            team_id,
            user_id,
            action,
            escalation_id,
            ..
        } = rules::parse_interaction(body)?
        else {
            return Ok(Answered::Ignored);
        };
        let outcome =
            actions::press_slack_button(&mut client, &team_id, &user_id, escalation_id, action)
                .await?;
        match &outcome {
            ButtonOutcome::Applied { state, .. } | ButtonOutcome::AlreadyDone(state) => {
                self.refresh_with(&client, state.id).await;
            }
            ButtonOutcome::Refused(why) => {
                tracing::info!(why, "Slack button press refused");
            }
        }
        Ok(Answered::Button(outcome))
    }

    /// Rewrites every Slack message of the escalation to show who answered it, within
    /// [`REFRESH_BUDGET`]. Best effort: the answer itself is already recorded; a message
    /// that cannot be rewritten is logged (without the token) and left as it was.
    pub async fn refresh(&self, pool: &Pool, escalation_id: Uuid) {
        match pool.get().await {
            Ok(client) => self.refresh_with(&client, escalation_id).await,
            Err(e) => tracing::warn!(error.message = %e, "no connection to rewrite Slack messages"),
        }
    }

    #[tracing::instrument(name = "refresh slack messages", skip_all, fields(escalation_id = %escalation_id))]
    async fn refresh_with(&self, client: &Client, escalation_id: Uuid) {
        let work = async {
            let Some(thread) = crate::db::slack::thread(client, escalation_id).await? else {
                return Ok(0);
            };
            let Some(sealed) = thread
                .bot_token
                .as_ref()
                .filter(|_| !thread.messages.is_empty())
            else {
                return Ok(0);
            };
            let keyring = self.keyring.get().await?;
            let token = keyring.open(sealed, &Owner::slack_bot_token(thread.state.tenant_id))?;
            let card = Card {
                escalation_id,
                title: &thread.state.title,
                body: &thread.body,
                priority: thread.state.priority,
                service: thread.state.service.as_deref(),
                team: thread.team.as_deref(),
                alert_count: thread.alert_count,
                dashboard_url: thread.dashboard_url.as_deref(),
                triggered_at: thread.triggered_at,
            };
            let controls = Controls::Answered {
                state: &thread.state,
                interactive: self.chat.is_interactive(),
            };
            let updates = thread.messages.iter().map(|(channel, ts)| {
                let body = render_update(&card, channel, ts, &controls);
                let chat = &self.chat;
                let token = &token;
                async move { chat.update(token, &body).await }
            });
            let results = futures::future::join_all(updates).await;
            for e in results.iter().filter_map(|r| r.as_ref().err()) {
                tracing::warn!(error.code = %e.code, error.message = %e.message, "a Slack message was not rewritten");
            }
            anyhow::Ok(results.iter().filter(|r| r.is_ok()).count())
        };
        match tokio::time::timeout(REFRESH_BUDGET, work).await {
            Ok(Ok(updated)) => tracing::info!(updated, "Slack messages rewritten"),
            Ok(Err(e)) => {
                tracing::warn!(error.message = %crate::telemetry::describe(e.as_ref()), "Slack messages not rewritten")
            }
            Err(_) => tracing::warn!("rewriting Slack messages took too long; left as they were"),
        }
    }
}
