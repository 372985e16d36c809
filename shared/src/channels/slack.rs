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

use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Adapter, Delivery, DeliveryError, FailureKind, Receipt};
use crate::db::notifications::Claimed;
use crate::domain::address::Address;
use crate::domain::{Action, Channel};

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
}

#[derive(Debug, Clone)]
pub struct SlackSettings {
    pub api_base_url: String,
}

impl SlackChat {
    pub fn new(http: reqwest::Client, settings: &SlackSettings) -> Self {
        Self {
            http,
            post_message_url: format!(
                "{}/chat.postMessage",
                settings.api_base_url.trim_end_matches('/')
            ),
        }
    }
}

/// Slack's mrkdwn escaping: only these three are control characters.
pub fn escape_mrkdwn(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The `chat.postMessage` body for `n`, to `channel` (a member id: Slack opens the DM).
pub fn render(n: &Claimed, channel: &str, acknowledge_url: &str, resolve_url: &str) -> Value {
    let headline = format!("[{}] {}", n.priority.label(), n.title);
    let mut fields = vec![format!("*Priority*\n{}", n.priority.label())];
    for (name, value) in [("Service", &n.service), ("Team", &n.team)] {
        if let Some(value) = value {
            fields.push(format!("*{name}*\n{}", escape_mrkdwn(value)));
        }
    }
    fields.push(format!("*Alerts*\n{}", n.alert_count));
    fields.push(format!(
        "*Triggered*\n{}",
        n.triggered_at.format("%Y-%m-%d %H:%M:%S UTC")
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
    if !n.body.trim().is_empty() {
        blocks.push(json!({
            "type": "section",
            "text": { "type": "plain_text", "text": crate::domain::text::cut(&n.body, MAX_SECTION_CHARS), "emoji": false }
        }));
    }
    let mut buttons = vec![
        json!({
            "type": "button", "action_id": "herald_acknowledge", "style": "primary",
            "text": { "type": "plain_text", "text": "Acknowledge" },
            "value": n.escalation_id.to_string(), "url": acknowledge_url
        }),
        json!({
            "type": "button", "action_id": "herald_resolve",
            "text": { "type": "plain_text", "text": "Resolve" },
            "value": n.escalation_id.to_string(), "url": resolve_url
        }),
    ];
    if let Some(dashboard) = &n.dashboard_url {
        buttons.push(json!({
            "type": "button", "action_id": "herald_dashboard",
            "text": { "type": "plain_text", "text": "Dashboard" }, "url": dashboard
        }));
    }
    blocks.push(json!({ "type": "actions", "block_id": "herald_actions", "elements": buttons }));
    json!({
        "channel": channel,
        // The notification's text (and what screen readers say): mrkdwn, so escaped.
        "text": escape_mrkdwn(&headline),
        "blocks": blocks,
        "unfurl_links": false,
        "unfurl_media": false,
    })
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
        | "team_added_to_org" => FailureKind::Transient,
        "invalid_auth" | "not_authed" | "account_inactive" | "token_revoked" | "token_expired"
        | "missing_scope" | "no_permission" | "org_login_required" | "ekm_access_denied" => {
            FailureKind::CredentialRevoked
        }
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
struct PostMessageAnswer {
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
        let api_base_url = config
            .channel(Channel::Slack)
            .get("SLACK_API_BASE_URL")
            .unwrap_or(DEFAULT_API_BASE_URL)
            .to_owned();
        // The bot token goes wherever this points.
        let url = url::Url::parse(&api_base_url)
            .map_err(|e| anyhow::anyhow!("HERALD_SLACK_API_BASE_URL is not a URL: {e}"))?;
        crate::domain::webhook::check_provider_url(&url)
            .map_err(|why| anyhow::anyhow!("HERALD_SLACK_API_BASE_URL {why}"))?;
        Ok(SlackSettings { api_base_url })
    }

    fn build(settings: SlackSettings, _sdk: &aws_config::SdkConfig) -> anyhow::Result<Self> {
        Ok(Self::new(super::https_client()?, &settings))
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
        let body = render(
            n,
            user.as_str(),
            delivery.link(Action::Acknowledge)?,
            delivery.link(Action::Resolve)?,
        );
        let response = self
            .http
            .post(&self.post_message_url)
            .bearer_auth(token.expose_secret())
            .json(&body)
            .send()
            .await
            .map_err(super::classify_transport)?;
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            let retry_after = super::retry_after_header(&response);
            return Err(classify_status(status.as_u16(), retry_after.as_deref()));
        }
        // A 200 whose body we cannot read most likely posted the message: sending it
        // again could page twice, so this is final (and visible in the delivery log).
        let answer: PostMessageAnswer = response.json().await.map_err(|_| {
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

    #[test]
    fn the_message_is_block_kit_with_link_buttons() {
        let m = render(
            &claimed(),
            "U024BE7LH",
            "https://h/l/ACK",
            "https://h/l/RES",
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
    fn what_the_sender_wrote_cannot_ping_or_hide_links() {
        let m = render(&claimed(), "U024BE7LH", "https://h/l/A", "https://h/l/R");
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
        let m = render(&n, "U024BE7LH", "https://h/l/A", "https://h/l/R");
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
