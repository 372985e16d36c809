//! Herald's Slack app beyond posting pages: a signed button click acknowledges or
//! resolves through [`crate::actions`] (the path a magic link takes); once an escalation
//! is answered, whichever way, the Slack dispatcher (the one function that holds the bot
//! tokens and talks to Slack) rewrites every Slack message Herald posted for it
//! (`chat.update`) to say who answered, so nobody else starts on an incident someone
//! already has (GoAlert #19): [`rewrite_answered`], fed by an
//! [`crate::queue::AnsweredEnvelope`] on the Slack queue. And "Add to Slack": the OAuth
//! v2 install that stores a tenant's installation, and the same flow for one person,
//! which connects their own Slack account to their recipient ([`SlackInstaller`]).

use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use crate::actions::{self, Outcome};
use crate::channels::slack::{Card, Controls, SlackChat, SlackSettings, render_update};
use crate::db::{Client, Pool};
use crate::domain::oauth::{Provider, StateError};
use crate::domain::slack::{self as rules, Event, Interaction, PayloadError, SignatureError};
use crate::secrets::{Keyring, Owner};
use crate::warm::Warm;

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
    Button(Outcome),
    /// An interaction Herald does not act on (the Dashboard link button...).
    Ignored,
}

/// What a request to `POST /slack/events` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventAnswer {
    /// Slack's URL check: its challenge, to answer.
    Challenge(String),
    /// Tokens Slack revoked, marked (how many credentials).
    Marked(u64),
    Ignored,
}

/// Slack's interactions, in the magic-link function: it checks and acts, and holds no
/// bot token (the Slack dispatcher rewrites the messages).
#[derive(Clone)]
pub struct SlackApp {
    signing_secret: Warm<SecretString>,
}

impl SlackApp {
    /// `None` without a signing secret: Slack interactivity is off (`/slack/actions` is
    /// 404, and the buttons are magic links).
    pub fn from_config(config: &crate::Config) -> Option<Self> {
        let source = config.slack_signing_secret.clone()?;
        Some(Self {
            signing_secret: Warm::lazy(move || {
                let source = source.clone();
                async move { source.read().await }
            }),
        })
    }

    /// Checks a request is Slack's: signature over the raw body, five-minute window,
    /// never seen before. Gives back a connection for what the request asks.
    async fn verified(
        &self,
        pool: &Pool,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<Client, InteractionError> {
        let secret = self.signing_secret.get().await?;
        // A secret pasted with a trailing newline must not turn every click into a 401.
        let tag = rules::verify_signature(
            secret.expose_secret().trim().as_bytes(),
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
        let client = pool
            .get()
            .await
            .map_err(|e| InteractionError::Unavailable(e.into()))?;
        if !crate::db::slack::remember_signature(&client, &tag).await? {
            tracing::warn!("replayed Slack request refused");
            return Err(InteractionError::Unauthorized("replayed"));
        }
        Ok(client)
    }

    /// Checks the request is Slack's (see [`Self::verified`]), then applies the button's
    /// action. `now` is Unix seconds.
    #[tracing::instrument(name = "slack interaction", skip_all)]
    pub async fn interaction(
        &self,
        pool: &Pool,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<Answered, InteractionError> {
        let mut client = self.verified(pool, timestamp, signature, body, now).await?;
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
        if let Outcome::Refused(why) = &outcome {
            tracing::info!(why, "Slack button press refused");
        }
        Ok(Answered::Button(outcome))
    }

    /// An Events API request (`POST /slack/events`), checked like an interaction: the
    /// URL check is answered; revoked tokens are marked, so admins see them and the
    /// bot's is no longer sent with. Everything else is acknowledged and ignored.
    #[tracing::instrument(name = "slack event", skip_all)]
    pub async fn event(
        &self,
        pool: &Pool,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<EventAnswer, InteractionError> {
        let client = self.verified(pool, timestamp, signature, body, now).await?;
        let (team_id, revoked, reason) = match rules::parse_event(body)? {
            Event::UrlVerification { challenge } => {
                return Ok(EventAnswer::Challenge(challenge));
            }
            Event::Other => return Ok(EventAnswer::Ignored),
            Event::TokensRevoked {
                team_id,
                users,
                bots,
            } => (team_id, Some((users, !bots.is_empty())), "tokens_revoked"),
            Event::AppUninstalled { team_id } => (team_id, None, "app_uninstalled"),
        };
        let revoked = match &revoked {
            Some((users, bot)) => crate::db::slack::Revoked::Tokens { users, bot: *bot },
            None => crate::db::slack::Revoked::Everything,
        };
        let marked = crate::db::slack::mark_revoked(&client, &team_id, &revoked, reason).await?;
        tracing::warn!(slack_team_id = %team_id, reason, marked, "Slack revoked tokens");
        Ok(EventAnswer::Marked(marked))
    }
}

/// Rewrites every Slack message Herald posted for `escalation_id` to show who answered
/// it, with the installation's bot token; how many were rewritten. It reads the
/// escalation as it is now, so a late or repeated rewrite shows the latest state. `Err`
/// (the message goes back to SQS) when the store fails or Slack refuses for now
/// (rate limited, down); a message Slack refuses for good (deleted, token revoked) is
/// logged and left.
#[tracing::instrument(name = "rewrite slack messages", skip_all, fields(escalation_id = %escalation_id))]
pub async fn rewrite_answered(
    chat: &SlackChat,
    pool: &Pool,
    keyring: Option<&Keyring>,
    escalation_id: Uuid,
) -> anyhow::Result<usize> {
    let client = pool.get().await?;
    let Some(thread) = crate::db::slack::thread(&client, escalation_id).await? else {
        return Ok(0);
    };
    drop(client);
    // Only an answer is shown: a stray message about an open escalation changes nothing.
    if thread.state.status == crate::domain::EscalationStatus::Triggered {
        return Ok(0);
    }
    let Some(sealed) = thread
        .bot_token
        .as_ref()
        .filter(|_| !thread.messages.is_empty())
    else {
        return Ok(0);
    };
    // A missing or wrong key does not heal by retrying: logged, and the message acknowledged
    // (the dispatcher's own sends fail loudly on the same key).
    let Some(keyring) = keyring else {
        tracing::warn!("no keys to open the bot token; Slack messages left as they were");
        return Ok(0);
    };
    let token = match keyring.open(sealed, &Owner::slack_bot_token(thread.state.tenant_id)) {
        Ok(token) => token,
        Err(e) => {
            tracing::warn!(error.message = %e, "the bot token does not open; Slack messages left as they were");
            return Ok(0);
        }
    };
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
        interactive: chat.is_interactive(),
    };
    let updates = thread.messages.iter().map(|(channel, ts)| {
        let body = render_update(&card, channel, ts, &controls);
        let token = &token;
        async move { chat.update(token, &body).await }
    });
    let results = futures::future::join_all(updates).await;
    let mut retry = 0;
    for e in results.iter().filter_map(|r| r.as_ref().err()) {
        tracing::warn!(error.code = %e.code, error.message = %e.message, retryable = e.retryable(), "a Slack message was not rewritten");
        retry += usize::from(e.retryable());
    }
    if retry > 0 {
        anyhow::bail!("{retry} Slack message(s) not rewritten for now; trying again");
    }
    Ok(results.iter().filter(|r| r.is_ok()).count())
}

/// The bot scopes Herald asks for: post its direct messages, and open them.
pub const BOT_SCOPES: &str = "chat:write,im:write";
/// The one user scope a person's connection asks for (Slack needs one): enough for
/// Slack to say who they are, nothing that reads or posts their messages.
pub const USER_SCOPES: &str = "users:read";
/// Slack's consent page, unless `HERALD_SLACK_AUTHORIZE_URL` says otherwise.
pub const DEFAULT_AUTHORIZE_URL: &str = "https://slack.com/oauth/v2/authorize";

/// What "Add to Slack" can fail with (each maps to one HTTP status, in the recipients
/// function's handler).
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(
        "Slack installs are not configured (set HERALD_SLACK_CLIENT_ID and HERALD_SLACK_CLIENT_SECRET)"
    )]
    NotConfigured,
    /// Forged, altered or expired: 400, nothing stored.
    #[error("this install link is not valid: {0}")]
    State(#[from] StateError),
    /// The admin said no, or Slack refused the code (`invalid_code`...): 400.
    #[error("Slack did not grant the install: {0}")]
    Denied(String),
    /// Slack answered, but not with a bot token for a workspace: 502.
    #[error("Slack's answer to the code exchange is unusable: {0}")]
    BadAnswer(&'static str),
    /// The workspace is another tenant's, or the tenant has another one: 409.
    #[error("{0}")]
    Conflict(String),
    /// Slack could not be reached or failed: 502, try again.
    #[error("Slack could not be reached: {0}")]
    Upstream(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<crate::oauth::Refused> for InstallError {
    fn from(e: crate::oauth::Refused) -> Self {
        match e {
            crate::oauth::Refused::State(e) => Self::State(e),
            crate::oauth::Refused::Unexpected(e) => Self::Unexpected(e),
        }
    }
}

/// A finished flow: the tenant's installation, or one person's connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completed {
    Installed(Installed),
    Connected(Connected),
}

/// A finished install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub tenant_id: Uuid,
    pub slack_team_id: String,
    pub team_name: Option<String>,
}

/// A person's Slack account, connected to their recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connected {
    pub tenant_id: Uuid,
    pub recipient_id: Uuid,
    pub slack_team_id: String,
    pub slack_user_id: String,
}

/// Slack's OAuth v2 install of Herald's app in a tenant's workspace: the redirect to the
/// consent page with a signed `state`, and the callback that trades the `code` for the
/// bot token at `oauth.v2.access`, seals it and stores the installation.
#[derive(Clone)]
pub struct SlackInstaller {
    client_id: String,
    client_secret: Warm<SecretString>,
    authorize_url: String,
    access_url: String,
    redirect_uri: String,
    http: reqwest::Client,
    keyring: Warm<Keyring>,
}

#[derive(serde::Deserialize)]
struct AccessAnswer {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    bot_user_id: Option<String>,
    #[serde(default)]
    team: Option<AccessTeam>,
    #[serde(default)]
    authed_user: Option<AuthedUser>,
}

#[derive(serde::Deserialize)]
struct AuthedUser {
    id: String,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

#[derive(serde::Deserialize)]
struct AccessTeam {
    id: String,
    #[serde(default)]
    name: Option<String>,
}

impl SlackInstaller {
    /// `None` without `HERALD_SLACK_CLIENT_ID`: installs are not offered.
    pub fn from_config(config: &crate::Config) -> anyhow::Result<Option<Self>> {
        let Some(oauth) = &config.slack_oauth else {
            return Ok(None);
        };
        let settings = SlackSettings::from_config(config)?;
        let base = settings.api_base_url.trim_end_matches('/');
        let source = oauth.client_secret.clone();
        Ok(Some(Self {
            client_id: oauth.client_id.clone(),
            client_secret: Warm::lazy(move || {
                let source = source.clone();
                async move { source.read().await }
            }),
            authorize_url: oauth.authorize_url.clone(),
            access_url: format!("{base}/oauth.v2.access"),
            redirect_uri: format!(
                "{}/v1/integrations/slack/callback",
                config.require_public_base_url()?
            ),
            http: crate::channels::https_client()?,
            keyring: Keyring::warming(config.require_secret_keys()?),
        }))
    }

    /// The key `state` is signed with: derived from the client secret, so there is no
    /// other secret to keep, and rotating the client secret voids pending installs.
    async fn state_key(&self) -> anyhow::Result<Vec<u8>> {
        let secret = self.client_secret.get().await?;
        Ok(crate::domain::oauth::derive_key(
            Provider::Slack,
            secret.expose_secret().as_bytes(),
        ))
    }

    /// Slack's consent page for `tenant_id`'s installation (`recipient: None`) or for the
    /// recipient connecting their own account, valid once for ten minutes from `now`.
    pub async fn authorize_url(
        &self,
        client: &Client,
        tenant_id: Uuid,
        recipient: Option<Uuid>,
        now: i64,
    ) -> anyhow::Result<String> {
        let state = crate::oauth::issue(
            client,
            Provider::Slack,
            &self.state_key().await?,
            tenant_id,
            recipient,
            now,
        )
        .await?;
        let mut url = url::Url::parse(&self.authorize_url)?;
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("client_id", &self.client_id);
            match recipient {
                None => query.append_pair("scope", BOT_SCOPES),
                Some(_) => query.append_pair("user_scope", USER_SCOPES),
            };
            query
                .append_pair("redirect_uri", &self.redirect_uri)
                .append_pair("state", &state);
        }
        Ok(url.into())
    }

    /// What the callback's confirmation page names (the Herald account, and the person
    /// for a connection), for a state that is ours, unexpired and unused; nothing is
    /// used or sent to Slack.
    pub async fn preview(
        &self,
        pool: &Pool,
        state: &str,
        now: i64,
    ) -> Result<crate::db::oauth::PendingView, InstallError> {
        let key = self.state_key().await?;
        Ok(crate::oauth::preview(pool, Provider::Slack, &key, state, now).await?)
    }

    /// The callback: the state first (nothing is sent to Slack for a forged, expired or
    /// used one: each state works once), then the code exchange; the token is sealed
    /// before it is stored and is never logged or shown.
    #[tracing::instrument(name = "complete slack install", skip_all)]
    pub async fn complete(
        &self,
        pool: &Pool,
        code: &str,
        state: &str,
        now: i64,
    ) -> Result<Completed, InstallError> {
        let key = self.state_key().await?;
        let (tenant_id, pending) =
            crate::oauth::take(pool, Provider::Slack, &key, state, now).await?;
        let connect = async || {
            pool.get()
                .await
                .map_err(|e| InstallError::Unexpected(e.into()))
        };
        let secret = self.client_secret.get().await?;
        let response = self
            .http
            .post(&self.access_url)
            .form(&[
                ("client_id", self.client_id.as_str()),
                ("client_secret", secret.expose_secret()),
                ("code", code),
                ("redirect_uri", self.redirect_uri.as_str()),
            ])
            .send()
            .await
            .map_err(|e| InstallError::Upstream(crate::channels::classify_transport(e).message))?;
        let status = response.status();
        if !status.is_success() {
            return Err(InstallError::Upstream(format!(
                "Slack answered HTTP {status}"
            )));
        }
        let answer: AccessAnswer = response
            .json()
            .await
            .map_err(|_| InstallError::BadAnswer("not the JSON Slack documents"))?;
        if !answer.ok {
            let code = answer.error.unwrap_or_else(|| "unknown_error".into());
            return Err(InstallError::Denied(crate::channels::redact(&code)));
        }
        let team = answer
            .team
            .as_ref()
            .ok_or(InstallError::BadAnswer("no workspace"))?;
        if !well_formed(&team.id, &['T', 'E']) {
            return Err(InstallError::BadAnswer(
                "a workspace id that is not Slack's",
            ));
        }
        let keyring = self.keyring.get().await?;
        let client = connect().await?;
        match pending.recipient_id {
            None => {
                self.store_installation(&client, &keyring, tenant_id, answer)
                    .await
            }
            Some(recipient_id) => {
                self.store_connection(&client, &keyring, tenant_id, recipient_id, answer)
                    .await
            }
        }
    }

    async fn store_installation(
        &self,
        client: &Client,
        keyring: &Keyring,
        tenant_id: Uuid,
        answer: AccessAnswer,
    ) -> Result<Completed, InstallError> {
        let token = answer
            .access_token
            .filter(|t| t.starts_with("xoxb-"))
            .map(SecretString::from)
            .ok_or(InstallError::BadAnswer("no bot token"))?;
        let team = answer.team.ok_or(InstallError::BadAnswer("no workspace"))?;
        let bot_user_id = answer
            .bot_user_id
            .filter(|id| well_formed(id, &['U', 'W', 'B']));
        let sealed = keyring.seal(&token, &Owner::slack_bot_token(tenant_id));
        crate::db::slack::install(client, tenant_id, &team.id, bot_user_id.as_deref(), &sealed)
            .await
            .map_err(|e| {
                if e.is::<crate::db::slack::WorkspaceTaken>()
                    || e.is::<crate::db::slack::OtherWorkspaceInstalled>()
                {
                    InstallError::Conflict(e.to_string())
                } else {
                    InstallError::Unexpected(e)
                }
            })?;
        tracing::info!(slack_team_id = %team.id, "Slack installed");
        Ok(Completed::Installed(Installed {
            tenant_id,
            slack_team_id: team.id,
            team_name: team.name,
        }))
    }

    async fn store_connection(
        &self,
        client: &Client,
        keyring: &Keyring,
        tenant_id: Uuid,
        recipient_id: Uuid,
        answer: AccessAnswer,
    ) -> Result<Completed, InstallError> {
        let team = answer.team.ok_or(InstallError::BadAnswer("no workspace"))?;
        let user = answer
            .authed_user
            .ok_or(InstallError::BadAnswer("no user"))?;
        if !well_formed(&user.id, &['U', 'W']) {
            return Err(InstallError::BadAnswer("a user id that is not Slack's"));
        }
        let token = user
            .access_token
            // `xoxe.xoxp-`: a user token with rotation on.
            .filter(|t| t.starts_with("xoxp-") || t.starts_with("xoxe.xoxp-"))
            .map(SecretString::from)
            .ok_or(InstallError::BadAnswer("no user token"))?;
        let scopes = user.scope.unwrap_or_default();
        let sealed = keyring.seal(&token, &Owner::slack_user_token(tenant_id, recipient_id));
        crate::db::slack::connect(
            client,
            &crate::db::slack::Connection {
                tenant_id,
                recipient_id,
                slack_team_id: &team.id,
                slack_user_id: &user.id,
                scopes: scopes.get(..500).unwrap_or(&scopes),
            },
            &sealed,
        )
        .await
        .map_err(|e| match e.downcast::<crate::db::slack::ConnectRefused>() {
            Ok(refused) => InstallError::Conflict(refused.to_string()),
            Err(e) => InstallError::Unexpected(e),
        })?;
        tracing::info!(slack_team_id = %team.id, slack_user_id = %user.id, "Slack account connected");
        Ok(Completed::Connected(Connected {
            tenant_id,
            recipient_id,
            slack_team_id: team.id,
            slack_user_id: user.id,
        }))
    }
}

/// A Slack id: its kind's first letter, then 2 to 20 capitals or digits.
fn well_formed(id: &str, first: &[char]) -> bool {
    id.starts_with(first)
        && (3..=21).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}
