//! Microsoft Teams through a Power Automate Workflows webhook ("When a Teams webhook
//! request is received"; the Office 365 connectors are retired). The body is a message
//! with one Adaptive Card attachment, version 1.4 (what Teams renders everywhere), whose
//! buttons are `Action.OpenUrl` to the magic links: a webhook card cannot post back.
//! Any 2xx is success (Workflows answers 202 Accepted, with no message id); 429 and 5xx
//! are retried (honouring `Retry-After`); any other 4xx is permanent, and 401/403/404/410
//! mean the webhook itself is gone or no longer allowed.
//!
//! The webhook URL is a bearer secret: it arrives as the delivery's credential, opened
//! for this send only, and never reaches a log line or the `error` column (reqwest
//! errors are stripped of their URL, and every message passes through `redact`).

use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::{Adapter, Delivery, DeliveryError, FailureKind, Receipt};
use crate::db::notifications::Claimed;
use crate::domain::{Action, Channel, Priority};

/// Teams refuses cards over 28 KB; Herald keeps well under it.
pub const MAX_CARD_BYTES: usize = 28 * 1024;
const MAX_BODY_CHARS: usize = 2_000;

#[derive(Debug, Clone)]
pub struct TeamsWebhook {
    http: reqwest::Client,
}

impl TeamsWebhook {
    pub fn new(http: reqwest::Client) -> Self {
        Self { http }
    }
}

/// The webhook body: a `message` with one Adaptive Card. Text goes in as JSON strings
/// (serde escapes quotes and control characters; Adaptive Cards do not interpret HTML).
pub fn render(n: &Claimed, acknowledge_url: &str, resolve_url: &str) -> Value {
    let mut body_chars = MAX_BODY_CHARS;
    loop {
        let card = card(n, acknowledge_url, resolve_url, body_chars);
        if card.to_string().len() <= MAX_CARD_BYTES || body_chars == 0 {
            return card;
        }
        body_chars /= 2;
    }
}

fn card(n: &Claimed, acknowledge_url: &str, resolve_url: &str, body_chars: usize) -> Value {
    let color = match n.priority {
        Priority::Critical | Priority::High => "Attention",
        Priority::Medium => "Warning",
        Priority::Low | Priority::Info => "Accent",
    };
    let mut facts = vec![json!({ "title": "Priority", "value": n.priority.label() })];
    for (title, value) in [("Service", &n.service), ("Team", &n.team)] {
        if let Some(value) = value {
            facts.push(json!({ "title": title, "value": value }));
        }
    }
    facts.push(json!({ "title": "Alerts", "value": n.alert_count.to_string() }));
    facts.push(json!({
        "title": "Triggered",
        "value": n.triggered_at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
    }));
    // A team's webhook carries the page for everyone in its channel without their own.
    let team_channel = n.credential.as_ref().and_then(|c| c.team.as_deref());
    match (team_channel, &n.recipient_name) {
        (Some(team), _) => {
            facts.push(json!({ "title": "For", "value": format!("the {team} team") }))
        }
        (None, Some(name)) => facts.push(json!({ "title": "For", "value": name })),
        (None, None) => {}
    }
    let mut body = vec![
        json!({
            "type": "TextBlock", "text": format!("[{}] {}", n.priority.label(), n.title),
            "weight": "Bolder", "size": "Large", "color": color, "wrap": true
        }),
        json!({ "type": "FactSet", "facts": facts }),
    ];
    if !n.body.trim().is_empty() && body_chars > 0 {
        body.push(json!({ "type": "TextBlock", "text": crate::domain::text::cut(&n.body, body_chars), "wrap": true }));
    }
    let mut actions = vec![
        json!({ "type": "Action.OpenUrl", "title": "Acknowledge", "url": acknowledge_url }),
        json!({ "type": "Action.OpenUrl", "title": "Resolve", "url": resolve_url }),
    ];
    if let Some(dashboard) = &n.dashboard_url {
        actions.push(json!({ "type": "Action.OpenUrl", "title": "Dashboard", "url": dashboard }));
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
                "actions": actions,
            }
        }]
    })
}

/// What an HTTP status from the webhook means.
pub fn classify_status(status: u16, retry_after_header: Option<&str>) -> DeliveryError {
    if let Some(e) = super::classify_http_status("the webhook", status, retry_after_header) {
        return e;
    }
    let message = format!("the webhook answered HTTP {status}");
    match status {
        401 | 403 | 404 | 410 => DeliveryError::new(
            FailureKind::CredentialRevoked,
            format!("HTTP{status}"),
            message,
        ),
        _ => DeliveryError::permanent(format!("HTTP{status}"), message),
    }
}

impl Adapter for TeamsWebhook {
    const CHANNEL: Channel = Channel::Teams;
    const ACTIONS: &'static [Action] = &[Action::Acknowledge, Action::Resolve];
    const CREDENTIAL: bool = true;
    type Settings = ();

    fn settings(_config: &crate::Config) -> anyhow::Result<()> {
        Ok(())
    }

    fn build(_settings: (), _sdk: &aws_config::SdkConfig) -> anyhow::Result<Self> {
        Ok(Self::new(super::https_client()?))
    }

    #[tracing::instrument(name = "send teams", skip_all, fields(notification_id = %delivery.notification.id))]
    async fn deliver(&self, delivery: &Delivery<'_>) -> Result<Receipt, DeliveryError> {
        let webhook = delivery.credential.ok_or_else(|| {
            DeliveryError::new(FailureKind::AddressInvalid, "NoWebhook", "no Teams webhook")
        })?;
        let card = render(
            delivery.notification,
            delivery.link(Action::Acknowledge)?,
            delivery.link(Action::Resolve)?,
        );
        let response = self
            .http
            .post(webhook.expose_secret())
            .json(&card)
            .send()
            .await
            .map_err(super::classify_transport)?;
        let status = response.status();
        if status.is_success() {
            return Ok(Receipt::default());
        }
        let retry_after = super::retry_after_header(&response);
        Err(classify_status(status.as_u16(), retry_after.as_deref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn claimed() -> Claimed {
        Claimed {
            title: r#"DB <primary> & "replica""#.into(),
            team: Some("platform".into()),
            alert_count: 3,
            dashboard_url: Some("https://grafana.example.com/d/x".into()),
            recipient_name: Some("Alice".into()),
            ..Claimed::sample(Channel::Teams)
        }
    }

    #[test]
    fn the_card_is_adaptive_1_4_with_open_url_buttons() {
        let m = render(&claimed(), "https://h/l/ACK", "https://h/l/RES");
        assert_eq!(m["type"], "message");
        let card = &m["attachments"][0];
        assert_eq!(
            card["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        let content = &card["content"];
        assert_eq!(content["version"], "1.4");
        assert_eq!(
            content["body"][0]["text"],
            r#"[CRITICAL] DB <primary> & "replica""#
        );
        let actions = content["actions"].as_array().expect("actions");
        assert!(actions.iter().all(|a| a["type"] == "Action.OpenUrl"));
        assert_eq!(actions[0]["url"], "https://h/l/ACK");
        assert_eq!(actions[1]["url"], "https://h/l/RES");
    }

    #[test]
    fn a_huge_body_is_cut_to_keep_the_card_under_28_kb() {
        let mut n = claimed();
        n.body = "é".repeat(60_000);
        let m = render(&n, "a", "b");
        assert!(m.to_string().len() <= MAX_CARD_BYTES);
    }

    #[test]
    fn statuses_are_classified() {
        let e = classify_status(429, Some("7"));
        assert_eq!(
            (e.kind, e.retry_after),
            (FailureKind::RateLimited, Some(Duration::from_secs(7)))
        );
        assert_eq!(classify_status(503, None).kind, FailureKind::Transient);
        assert_eq!(classify_status(400, None).kind, FailureKind::Permanent);
        for gone in [401, 403, 404, 410] {
            assert_eq!(
                classify_status(gone, None).kind,
                FailureKind::CredentialRevoked
            );
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        use crate::channels::retry_after;
        assert_eq!(retry_after("120"), Some(Duration::from_secs(120)));
        let later = (chrono::Utc::now() + chrono::Duration::seconds(90)).to_rfc2822();
        let d = retry_after(&later).expect("a date");
        assert!(d > Duration::from_secs(80) && d <= Duration::from_secs(90));
        assert_eq!(retry_after("soon"), None);
    }
}
