//! Slack through the Web API's `chat.postMessage`, with the bot token of the tenant's
//! Slack installation, to the recipient's Slack member id (the app's direct message to
//! them). The message is Block Kit: a header, the escalation's facts, its body, and
//! Acknowledge / Resolve buttons to the magic links.
//!
//! Everything the escalation's sender wrote goes in as `plain_text`, or escaped where
//! Slack reads mrkdwn (`&`, `<`, `>`): a title cannot ping `<!channel>` or hide a link.
//!
//! Slack answers HTTP 200 with `{"ok": false, "error": "<code>"}` for most refusals;
//! [`classify_error`] sorts those codes. HTTP 429 carries `Retry-After`; 5xx is retried.
//! The bot token arrives as the delivery's credential, opened for this send only, and
//! never reaches a log line or the `error` column.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Adapter, Delivery, DeliveryError, FailureKind, Receipt};
use crate::db::escalations::{EscalationState, Stamp};
use crate::db::notifications::Claimed;
use crate::domain::address::Address;
use crate::domain::slack::{ACKNOWLEDGE_ACTION_ID, RESOLVE_ACTION_ID};
use crate::domain::{Action, Channel, EscalationStatus, Priority};

/// Slack's Web API, unless `HERALD_SLACK_API_BASE_URL` says otherwise (a local fake).
pub const DEFAULT_API_BASE_URL: &str = "https://slack.com/api";
/// Block Kit limits a header's text to 150 characters and a section's to 3000 (`cut`
/// adds its ellipsis after these).
const MAX_HEADER_CHARS: usize = 149;
const MAX_SECTION_CHARS: usize = 2_900;

#[derive(Debug, Clone)]
pub struct SlackChat {
    http: reqwest::Client,
    post_message_url: String,
    update_url: String,
    interactive: bool,
}

#[derive(Debug, Clone)]
pub struct SlackSettings {
    pub api_base_url: String,
    /// `HERALD_SLACK_INTERACTIVE=true`: the app's Interactivity Request URL is Herald's
    /// `POST /slack/actions`, so the buttons post back to it (no magic link is minted);
    /// otherwise they are links to one-time magic links.
    pub interactive: bool,
}

impl SlackSettings {
    /// From `HERALD_SLACK_API_BASE_URL` and `HERALD_SLACK_INTERACTIVE`, checked: the bot
    /// token goes wherever the base URL points.
    pub fn from_config(config: &crate::Config) -> anyhow::Result<Self> {
        let slack = config.channel(Channel::Slack);
        let api_base_url = slack
            .get("SLACK_API_BASE_URL")
            .unwrap_or(DEFAULT_API_BASE_URL)
            .to_owned();
        let url = url::Url::parse(&api_base_url)
            .map_err(|e| anyhow::anyhow!("HERALD_SLACK_API_BASE_URL is not a URL: {e}"))?;
        crate::domain::webhook::check_provider_url(&url)
            .map_err(|why| anyhow::anyhow!("HERALD_SLACK_API_BASE_URL {why}"))?;
        let interactive = slack.flag("SLACK_INTERACTIVE")?;
        Ok(Self {
            api_base_url,
            interactive,
        })
    }
}

impl SlackChat {
    pub fn new(http: reqwest::Client, settings: &SlackSettings) -> Self {
        let base = settings.api_base_url.trim_end_matches('/');
        Self {
            http,
            post_message_url: format!("{base}/chat.postMessage"),
            update_url: format!("{base}/chat.update"),
            interactive: settings.interactive,
        }
    }

    pub fn is_interactive(&self) -> bool {
        self.interactive
    }

    /// Replaces the message `channel`/`ts` with `body` (`chat.update`), with `token`.
    #[tracing::instrument(name = "update slack message", skip_all)]
    pub async fn update(&self, token: &SecretString, body: &Value) -> Result<(), DeliveryError> {
        self.call(&self.update_url, token, body).await.map(|_| ())
    }

    /// One Web API call: the HTTP status, then Slack's `ok`, classified.
    async fn call(
        &self,
        url: &str,
        token: &SecretString,
        body: &Value,
    ) -> Result<ApiAnswer, DeliveryError> {
        let response = self
            .http
            .post(url)
            .bearer_auth(token.expose_secret())
            .json(body)
            .send()
            .await
            .map_err(super::classify_transport)?;
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            let retry_after = super::retry_after_header(&response);
            return Err(classify_status(status.as_u16(), retry_after.as_deref()));
        }
        // A 200 whose body we cannot read most likely did what was asked: sending it
        // again could page twice, so this is final (and visible in the delivery log).
        let answer: ApiAnswer = response.json().await.map_err(|_| {
            DeliveryError::permanent(
                "UnreadableAnswer",
                "Slack answered 200 with a body that is not the JSON it documents; not re-sent, it may have been posted",
            )
        })?;
        if !answer.ok {
            return Err(classify_error(
                answer.error.as_deref().unwrap_or("unknown_error"),
            ));
        }
        Ok(answer)
    }
}

/// Slack's mrkdwn escaping: only these three are control characters.
pub fn escape_mrkdwn(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// What a Herald message shows of its escalation: the same whether it is posted by the
/// dispatcher or rewritten once someone answered.
#[derive(Debug, Clone, Copy)]
pub struct Card<'a> {
    pub escalation_id: Uuid,
    pub title: &'a str,
    pub body: &'a str,
    pub priority: Priority,
    pub service: Option<&'a str>,
    pub team: Option<&'a str>,
    pub alert_count: i32,
    pub dashboard_url: Option<&'a str>,
    pub triggered_at: DateTime<Utc>,
}

impl<'a> From<&'a Claimed> for Card<'a> {
    fn from(n: &'a Claimed) -> Self {
        Self {
            escalation_id: n.escalation_id,
            title: &n.title,
            body: &n.body,
            priority: n.priority,
            service: n.service.as_deref(),
            team: n.team.as_deref(),
            alert_count: n.alert_count,
            dashboard_url: n.dashboard_url.as_deref(),
            triggered_at: n.triggered_at,
        }
    }
}

/// The message's buttons.
#[derive(Debug, Clone)]
pub enum Controls<'a> {
    /// Link buttons to one-time magic links (Slack interactivity is not set up).
    Links {
        acknowledge: &'a str,
        resolve: &'a str,
    },
    /// Buttons Slack posts to Herald's `POST /slack/actions`.
    Interactive,
    /// Someone answered: who, when, and (interactive only) Resolve while it is only
    /// acknowledged. A magic link cannot be offered again: only its hash is kept.
    Answered {
        state: &'a EscalationState,
        interactive: bool,
    },
}

/// The `chat.postMessage` body for `n`, to `channel` (a member id: Slack opens the DM).
pub fn render(n: &Claimed, channel: &str, controls: &Controls<'_>) -> Value {
    let mut message = message(&Card::from(n), controls);
    message["channel"] = json!(channel);
    message["unfurl_links"] = json!(false);
    message["unfurl_media"] = json!(false);
    message
}

/// The `chat.update` body that rewrites the message `channel`/`ts` once someone
/// answered (Slack keeps `unfurl_*` from the original post).
pub fn render_update(card: &Card<'_>, channel: &str, ts: &str, controls: &Controls<'_>) -> Value {
    let mut message = message(card, controls);
    message["channel"] = json!(channel);
    message["ts"] = json!(ts);
    message
}

fn message(card: &Card<'_>, controls: &Controls<'_>) -> Value {
    let headline = format!("[{}] {}", card.priority.label(), card.title);
    let mut fields = vec![format!("*Priority*\n{}", card.priority.label())];
    for (name, value) in [("Service", card.service), ("Team", card.team)] {
        if let Some(value) = value {
            fields.push(format!("*{name}*\n{}", escape_mrkdwn(value)));
        }
    }
    fields.push(format!("*Alerts*\n{}", card.alert_count));
    fields.push(format!(
        "*Triggered*\n{}",
        card.triggered_at.format("%Y-%m-%d %H:%M:%S UTC")
    ));
    let mut blocks = vec![
        json!({
            "type": "header",
            "text": { "type": "plain_text", "text": crate::domain::text::cut(&headline, MAX_HEADER_CHARS), "emoji": false }
        }),
        json!({
            "type": "section",
            "fields": fields.iter().map(|f| json!({ "type": "mrkdwn", "text": f })).collect::<Vec<_>>()
        }),
    ];
    if !card.body.trim().is_empty() {
        blocks.push(json!({
            "type": "section",
            "text": { "type": "plain_text", "text": crate::domain::text::cut(card.body, MAX_SECTION_CHARS), "emoji": false }
        }));
    }
    // The notification's text (and what screen readers say): mrkdwn, so escaped.
    let mut text = escape_mrkdwn(&headline);
    let value = card.escalation_id.to_string();
    let button = |action: Action, url: Option<&str>| {
        let (action_id, label) = match action {
            Action::Acknowledge => (ACKNOWLEDGE_ACTION_ID, "Acknowledge"),
            Action::Resolve => (RESOLVE_ACTION_ID, "Resolve"),
        };
        let mut b = json!({
            "type": "button", "action_id": action_id,
            "text": { "type": "plain_text", "text": label }, "value": value
        });
        if action == Action::Acknowledge {
            b["style"] = json!("primary");
        }
        if let Some(url) = url {
            b["url"] = json!(url);
        }
        b
    };
    let mut buttons = match controls {
        Controls::Links {
            acknowledge,
            resolve,
        } => vec![
            button(Action::Acknowledge, Some(*acknowledge)),
            button(Action::Resolve, Some(*resolve)),
        ],
        Controls::Interactive => vec![
            button(Action::Acknowledge, None),
            button(Action::Resolve, None),
        ],
        Controls::Answered { state, interactive } => {
            let line = answered_line(state);
            blocks.push(json!({
                "type": "context",
                "elements": [{ "type": "plain_text", "text": line, "emoji": false }]
            }));
            text = format!("{} {text}", escape_mrkdwn(&line));
            if *interactive && state.status == EscalationStatus::Acknowledged {
                vec![button(Action::Resolve, None)]
            } else {
                vec![]
            }
        }
    };
    if let Some(dashboard) = card.dashboard_url {
        buttons.push(json!({
            "type": "button", "action_id": "herald_dashboard",
            "text": { "type": "plain_text", "text": "Dashboard" }, "url": dashboard
        }));
    }
    if !buttons.is_empty() {
        blocks
            .push(json!({ "type": "actions", "block_id": "herald_actions", "elements": buttons }));
    }
    json!({ "text": text, "blocks": blocks })
}

/// "✅ Acknowledged by Alice Martin at 2026-11-22 03:14 UTC", or the resolution once
/// there is one.
pub fn answered_line(state: &EscalationState) -> String {
    let part = |verb: &str, stamp: &Stamp| {
        format!(
            "{verb} by {} at {}",
            stamp.by.as_deref().unwrap_or("someone"),
            stamp.at.format("%Y-%m-%d %H:%M UTC")
        )
    };
    match (&state.acknowledged, &state.resolved) {
        (_, Some(resolved)) if state.status == EscalationStatus::Resolved => {
            let mut line = format!("☑️ {}", part("Resolved", resolved));
            if let Some(ack) = &state.acknowledged {
                line.push_str(&format!(
                    " (acknowledged by {})",
                    ack.by.as_deref().unwrap_or("someone")
                ));
            }
            line
        }
        (Some(ack), _) => format!("✅ {}", part("Acknowledged", ack)),
        _ => format!("Now {}", state.status.as_str()),
    }
}

/// What an `ok: false` error code means. Codes Slack adds later are permanent: a
/// request Slack refuses does not improve by being sent again.
pub fn classify_error(code: &str) -> DeliveryError {
    let message = format!("Slack refused the message: {code}");
    let kind = match code {
        "ratelimited" | "rate_limited" => FailureKind::RateLimited,
        "request_timeout"
        | "service_unavailable"
        | "internal_error"
        | "fatal_error"
        | "team_added_to_org"
        // The workspace is being migrated: it passes.
        | "org_login_required" => FailureKind::Transient,
        // The installation's token itself is dead: the tenant's admin must install again
        // (the credential is marked, and shown to them).
        "invalid_auth" | "not_authed" | "account_inactive" | "token_revoked" | "token_expired" => {
            FailureKind::CredentialRevoked
        }
        // Refused for this message or channel, not the token: permanent for this row only.
        "missing_scope" | "no_permission" | "ekm_access_denied" => FailureKind::Permanent,
        "channel_not_found"
        | "user_not_found"
        | "user_disabled"
        | "cannot_dm_bot"
        | "messages_tab_disabled" => FailureKind::AddressInvalid,
        _ => FailureKind::Permanent,
    };
    DeliveryError::new(kind, code.to_owned(), message)
}

/// What an HTTP status other than 200 means.
pub fn classify_status(status: u16, retry_after_header: Option<&str>) -> DeliveryError {
    super::classify_http_status("Slack", status, retry_after_header).unwrap_or_else(|| {
        DeliveryError::permanent(
            format!("HTTP{status}"),
            format!("Slack answered HTTP {status}"),
        )
    })
}

#[derive(Debug, Deserialize)]
struct ApiAnswer {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    ts: Option<String>,
}

impl Adapter for SlackChat {
    const CHANNEL: Channel = Channel::Slack;
    const ACTIONS: &'static [Action] = &[Action::Acknowledge, Action::Resolve];
    const CREDENTIAL: bool = true;
    const MISSING_CREDENTIAL: &'static str = crate::domain::policy::reason::NOT_CONNECTED;
    type Settings = SlackSettings;

    fn settings(config: &crate::Config) -> anyhow::Result<SlackSettings> {
        SlackSettings::from_config(config)
    }

    fn actions(settings: &SlackSettings) -> &'static [Action] {
        // Interactive buttons act through `POST /slack/actions`: no link to mint.
        if settings.interactive {
            &[]
        } else {
            Self::ACTIONS
        }
    }

    fn build(settings: SlackSettings, _sdk: &aws_config::SdkConfig) -> anyhow::Result<Self> {
        Ok(Self::new(super::https_client()?, &settings))
    }

    /// Rewrites the escalation's messages to say who answered (see
    /// [`crate::slack::rewrite_answered`]).
    fn answered(
        &self,
        pool: &crate::db::Pool,
        keyring: Option<&crate::secrets::Keyring>,
        escalation_id: Uuid,
    ) -> impl std::future::Future<Output = anyhow::Result<usize>> + Send {
        crate::slack::rewrite_answered(self, pool, keyring, escalation_id)
    }

    #[tracing::instrument(name = "send slack", skip_all, fields(notification_id = %delivery.notification.id))]
    async fn deliver(&self, delivery: &Delivery<'_>) -> Result<Receipt, DeliveryError> {
        let n = delivery.notification;
        let Some(Address::Slack(user)) = &n.address else {
            return Err(DeliveryError::new(
                FailureKind::AddressInvalid,
                "NoSlackUser",
                "no Slack user id",
            ));
        };
        let token = delivery.credential.ok_or_else(|| {
            DeliveryError::new(
                FailureKind::CredentialRevoked,
                "NotInstalled",
                "Slack is not installed for this tenant",
            )
        })?;
        let controls = if self.interactive {
            Controls::Interactive
        } else {
            Controls::Links {
                acknowledge: delivery.link(Action::Acknowledge)?,
                resolve: delivery.link(Action::Resolve)?,
            }
        };
        let body = render(n, user.as_str(), &controls);
        let answer = self.call(&self.post_message_url, token, &body).await?;
        // `channel ts` names the message for `chat.update` (when it is acknowledged).
        let provider_message_id = match (answer.channel, answer.ts) {
            (Some(channel), Some(ts)) => Some(format!("{channel}/{ts}")),
            (_, ts) => ts,
        };
        Ok(Receipt {
            provider_message_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claimed() -> Claimed {
        Claimed {
            title: "<!channel> DB <https://evil.example|primary> & co".into(),
            body: "p99 *2.3 s* <@U0000000>".into(),
            service: Some("orders<db>".into()),
            team: Some("platform".into()),
            alert_count: 3,
            dashboard_url: Some("https://grafana.example.com/d/x".into()),
            ..Claimed::sample(Channel::Slack)
        }
    }

    fn links<'a>(acknowledge: &'a str, resolve: &'a str) -> Controls<'a> {
        Controls::Links {
            acknowledge,
            resolve,
        }
    }

    #[test]
    fn the_message_is_block_kit_with_link_buttons() {
        let m = render(
            &claimed(),
            "U024BE7LH",
            &links("https://h/l/ACK", "https://h/l/RES"),
        );
        assert_eq!(m["channel"], "U024BE7LH");
        assert_eq!(m["unfurl_links"], false);
        let blocks = m["blocks"].as_array().expect("blocks");
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(blocks[0]["text"]["type"], "plain_text");
        let actions = blocks.last().expect("actions");
        assert_eq!(actions["type"], "actions");
        let buttons = actions["elements"].as_array().expect("buttons");
        assert_eq!(buttons[0]["action_id"], "herald_acknowledge");
        assert_eq!(buttons[0]["url"], "https://h/l/ACK");
        assert_eq!(buttons[1]["url"], "https://h/l/RES");
        assert_eq!(buttons[2]["url"], "https://grafana.example.com/d/x");
    }

    #[test]
    fn interactive_buttons_post_back_with_the_escalation_id() {
        let n = claimed();
        let m = render(&n, "U024BE7LH", &Controls::Interactive);
        let buttons = m["blocks"]
            .as_array()
            .expect("blocks")
            .last()
            .expect("actions")["elements"]
            .clone();
        assert_eq!(buttons[0]["action_id"], ACKNOWLEDGE_ACTION_ID);
        assert_eq!(buttons[1]["action_id"], RESOLVE_ACTION_ID);
        for b in [&buttons[0], &buttons[1]] {
            assert!(
                b.get("url").is_none(),
                "no link: Slack posts the click: {b}"
            );
            assert_eq!(b["value"], n.escalation_id.to_string());
        }
    }

    fn answered(status: EscalationStatus, by: &str) -> EscalationState {
        let stamp = Some(Stamp {
            by: Some(by.into()),
            at: Claimed::sample(Channel::Slack).triggered_at,
        });
        EscalationState {
            id: Uuid::nil(),
            tenant_id: Uuid::nil(),
            title: "t".into(),
            priority: Priority::High,
            service: None,
            status,
            acknowledged: stamp.clone(),
            resolved: (status == EscalationStatus::Resolved)
                .then_some(stamp)
                .flatten(),
        }
    }

    #[test]
    fn an_answered_message_says_who_and_keeps_only_what_still_applies() {
        let n = claimed();
        let card = Card::from(&n);
        let state = answered(EscalationStatus::Acknowledged, "Alice <Martin>");
        let m = render_update(
            &card,
            "D0C",
            "1.2",
            &Controls::Answered {
                state: &state,
                interactive: true,
            },
        );
        assert_eq!(
            (m["channel"].as_str(), m["ts"].as_str()),
            (Some("D0C"), Some("1.2"))
        );
        let blocks = m["blocks"].as_array().expect("blocks");
        let context = blocks
            .iter()
            .find(|b| b["type"] == "context")
            .expect("context");
        assert_eq!(
            context["elements"][0]["text"],
            "✅ Acknowledged by Alice <Martin> at 2026-11-22 03:12 UTC"
        );
        assert_eq!(context["elements"][0]["type"], "plain_text");
        let text = m["text"].as_str().expect("text");
        assert!(
            text.starts_with("✅ Acknowledged by Alice &lt;Martin&gt;"),
            "{text}"
        );
        let buttons = blocks.last().expect("actions")["elements"]
            .as_array()
            .expect("buttons")
            .clone();
        assert_eq!(
            buttons[0]["action_id"], RESOLVE_ACTION_ID,
            "Resolve is still possible"
        );
        assert_eq!(buttons.len(), 2, "and the dashboard link");

        // Link mode cannot offer Resolve again; once resolved nothing is left to press.
        let m = render_update(
            &card,
            "D0C",
            "1.2",
            &Controls::Answered {
                state: &state,
                interactive: false,
            },
        );
        assert!(!m.to_string().contains(RESOLVE_ACTION_ID));
        let resolved = answered(EscalationStatus::Resolved, "Bob");
        let n = Claimed {
            dashboard_url: None,
            ..claimed()
        };
        let m = render_update(
            &Card::from(&n),
            "D0C",
            "1.2",
            &Controls::Answered {
                state: &resolved,
                interactive: true,
            },
        );
        assert!(
            m["blocks"]
                .as_array()
                .expect("blocks")
                .iter()
                .all(|b| b["type"] != "actions")
        );
        assert!(m.to_string().contains("Resolved by Bob"), "{m}");
    }

    #[test]
    fn what_the_sender_wrote_cannot_ping_or_hide_links() {
        let m = render(
            &claimed(),
            "U024BE7LH",
            &links("https://h/l/A", "https://h/l/R"),
        );
        let text = m["text"].as_str().expect("text");
        assert!(!text.contains('<') && !text.contains('>'), "{text}");
        assert!(text.contains("&lt;!channel&gt;"), "{text}");
        assert!(text.contains("&amp; co"), "{text}");
        // Header and body are plain_text: Slack shows them as written.
        assert_eq!(m["blocks"][2]["text"]["type"], "plain_text");
        let fields = m["blocks"][1]["fields"].to_string();
        assert!(fields.contains("orders&lt;db&gt;"), "{fields}");
    }

    #[test]
    fn long_titles_and_bodies_fit_the_block_limits() {
        let n = Claimed {
            title: "x".repeat(400),
            body: "y".repeat(10_000),
            ..Claimed::sample(Channel::Slack)
        };
        let m = render(&n, "U024BE7LH", &links("https://h/l/A", "https://h/l/R"));
        assert!(
            m["blocks"][0]["text"]["text"]
                .as_str()
                .expect("h")
                .chars()
                .count()
                <= 150
        );
        assert!(
            m["blocks"][2]["text"]["text"]
                .as_str()
                .expect("b")
                .chars()
                .count()
                <= 3_000
        );
    }

    #[test]
    fn error_codes_are_classified() {
        for code in [
            "channel_not_found",
            "not_in_channel",
            "is_archived",
            "invalid_auth",
            "not_authed",
            "account_inactive",
            "token_revoked",
            "missing_scope",
            "invalid_blocks",
            "msg_too_long",
            "something_new",
        ] {
            assert!(!classify_error(code).retryable(), "{code} is permanent");
        }
        for code in [
            "ratelimited",
            "request_timeout",
            "service_unavailable",
            "internal_error",
            "fatal_error",
        ] {
            assert!(classify_error(code).retryable(), "{code} is transient");
        }
        assert_eq!(
            classify_error("token_revoked").kind,
            FailureKind::CredentialRevoked
        );
        assert_eq!(
            classify_error("channel_not_found").kind,
            FailureKind::AddressInvalid
        );
        assert_eq!(classify_error("ratelimited").kind, FailureKind::RateLimited);
        // Only a dead token marks the tenant's installation; a refusal of one message or
        // channel, or a workspace migration, does not switch Slack off for everyone.
        for code in ["missing_scope", "no_permission", "ekm_access_denied"] {
            assert_eq!(classify_error(code).kind, FailureKind::Permanent, "{code}");
        }
        assert_eq!(
            classify_error("org_login_required").kind,
            FailureKind::Transient
        );
    }

    #[test]
    fn the_api_base_must_be_https_or_loopback() {
        let settings = |base: &str| {
            let config = crate::Config::from_pairs([
                ("HERALD_DATABASE_URL", "postgres://x@127.0.0.1/db"),
                ("HERALD_SLACK_API_BASE_URL", base),
            ])
            .expect("config");
            SlackChat::settings(&config)
        };
        assert!(settings("https://slack.com/api").is_ok());
        assert!(settings("http://127.0.0.1:9014/api").is_ok());
        assert!(settings("http://slack.example.com/api").is_err());
        assert!(settings("ftp://127.0.0.1/api").is_err());
        assert!(settings("https://user:pw@slack.com/api").is_err());
    }

    #[test]
    fn http_statuses_are_classified() {
        let e = classify_status(429, Some("30"));
        assert_eq!(e.kind, FailureKind::RateLimited);
        assert_eq!(e.retry_after, Some(std::time::Duration::from_secs(30)));
        assert!(classify_status(503, None).retryable());
        assert!(!classify_status(400, None).retryable());
    }
}
