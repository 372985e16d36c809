//! Mobile push through Amazon SNS `Publish` to the recipient's platform endpoint, with
//! `MessageStructure=json`: one payload per platform. APNs gets `aps.alert`, a sound and
//! an `interruption-level` (`time-sensitive`, so Focus modes let it through; `critical`
//! only for critical escalations, which also rings through the mute switch if the app
//! holds Apple's critical-alerts entitlement); FCM gets an HTTP v1 message
//! (`fcmV1Message`) with high Android priority. The escalation id and the acknowledge
//! link travel in the data, so the app can act without opening a browser.

use serde_json::{Value, json};

use super::{Adapter, Delivery, DeliveryError, FailureKind, Receipt, sns};
use crate::db::notifications::Claimed;
use crate::domain::{Action, Address, Channel, Priority};

/// Longest alert body shown (the whole payload must stay under APNs' 4 KB).
const MAX_BODY_CHARS: usize = 240;

#[derive(Debug, Clone)]
pub struct SnsPush {
    client: aws_sdk_sns::Client,
}

impl SnsPush {
    pub fn new(client: aws_sdk_sns::Client) -> Self {
        Self { client }
    }
}

/// The SNS message: a JSON object with a string per platform (SNS's own format for
/// `MessageStructure=json`), and a `default` for any other platform.
pub fn render(n: &Claimed, acknowledge_url: &str) -> Value {
    let title = format!("[{}] {}", n.priority.label(), n.title);
    let mut body = n.service.clone().unwrap_or_default();
    if !n.body.trim().is_empty() {
        if !body.is_empty() {
            body.push_str(" — ");
        }
        body.push_str(&n.body);
    }
    render_as(n, acknowledge_url, title, &body)
}

/// [`render`] with a title and body of the tenant's template.
pub fn render_as(n: &Claimed, acknowledge_url: &str, title: String, body: &str) -> Value {
    let body = crate::domain::text::cut(&crate::domain::text::one_line(body), MAX_BODY_CHARS);
    let critical = n.priority == Priority::Critical;
    let escalation_id = n.escalation_id.to_string();
    let apns = json!({
        "aps": {
            "alert": { "title": title, "body": body },
            "sound": if critical {
                json!({ "critical": 1, "name": "default", "volume": 1.0 })
            } else {
                json!("default")
            },
            "interruption-level": if critical { "critical" } else { "time-sensitive" },
            "thread-id": escalation_id,
        },
        "escalation_id": escalation_id,
        "acknowledge_url": acknowledge_url,
    });
    let fcm = json!({
        "fcmV1Message": {
            "message": {
                "notification": { "title": title, "body": body },
                "android": { "priority": "high" },
                "data": {
                    "escalation_id": escalation_id,
                    "priority": n.priority.as_str(),
                    "acknowledge_url": acknowledge_url,
                },
            }
        }
    });
    json!({
        "default": title,
        "APNS": apns.to_string(),
        "APNS_SANDBOX": apns.to_string(),
        "GCM": fcm.to_string(),
    })
}

impl Adapter for SnsPush {
    const CHANNEL: Channel = Channel::Push;
    const ACTIONS: &'static [Action] = &[Action::Acknowledge];
    type Settings = ();

    fn settings(_config: &crate::Config) -> anyhow::Result<()> {
        Ok(())
    }

    fn build(_settings: (), sdk: &aws_config::SdkConfig) -> anyhow::Result<Self> {
        Ok(Self::new(sns::client(sdk)))
    }

    #[tracing::instrument(name = "send push", skip_all, fields(notification_id = %delivery.notification.id))]
    async fn deliver(&self, delivery: &Delivery<'_>) -> Result<Receipt, DeliveryError> {
        let n = delivery.notification;
        let Some(Address::Push(endpoint)) = &n.address else {
            return Err(DeliveryError::new(
                FailureKind::AddressInvalid,
                "NoAddress",
                "the recipient has no push endpoint",
            ));
        };
        let acknowledge_url = delivery.link(Action::Acknowledge)?;
        let message = match delivery.templated() {
            Some(own) => render_as(
                n,
                acknowledge_url,
                own.subject.map_or_else(
                    || format!("[{}] {}", n.priority.label(), n.title),
                    |s| crate::domain::text::one_line(&s),
                ),
                &own.text,
            ),
            None => render(n, acknowledge_url),
        };
        let out = self
            .client
            .publish()
            .target_arn(endpoint.as_str())
            .message_structure("json")
            .message(message.to_string())
            .send()
            .await
            .map_err(sns::classify)?;
        Ok(Receipt {
            provider_message_id: out.message_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn claimed(priority: Priority) -> Claimed {
        Claimed {
            title: "DB \"primary\" <down> & out".into(),
            priority,
            ..Claimed::sample(Channel::Push)
        }
    }

    fn platform(message: &Value, key: &str) -> Value {
        serde_json::from_str(message[key].as_str().expect("a string per platform"))
            .expect("the platform payload is JSON")
    }

    #[test]
    fn apns_is_time_sensitive_and_carries_the_link() {
        let m = render(&claimed(Priority::High), "https://h.test/l/ACK");
        let apns = platform(&m, "APNS");
        assert_eq!(apns["aps"]["interruption-level"], "time-sensitive");
        assert_eq!(apns["aps"]["sound"], "default");
        assert_eq!(
            apns["aps"]["alert"]["title"],
            "[HIGH] DB \"primary\" <down> & out"
        );
        assert_eq!(
            apns["aps"]["alert"]["body"],
            "orders-db — p99 latency 2.3 s"
        );
        assert_eq!(apns["acknowledge_url"], "https://h.test/l/ACK");
        assert_eq!(apns["escalation_id"], Uuid::nil().to_string());
        assert_eq!(platform(&m, "APNS_SANDBOX"), apns);
    }

    #[test]
    fn only_critical_escalations_are_critical_alerts() {
        let apns = platform(&render(&claimed(Priority::Critical), "u"), "APNS");
        assert_eq!(apns["aps"]["interruption-level"], "critical");
        assert_eq!(apns["aps"]["sound"]["critical"], 1);
    }

    #[test]
    fn fcm_gets_an_http_v1_message_with_high_priority() {
        let gcm = platform(
            &render(&claimed(Priority::Low), "https://h.test/l/ACK"),
            "GCM",
        );
        let message = &gcm["fcmV1Message"]["message"];
        assert_eq!(message["android"]["priority"], "high");
        assert_eq!(
            message["notification"]["title"],
            "[LOW] DB \"primary\" <down> & out"
        );
        assert_eq!(message["data"]["acknowledge_url"], "https://h.test/l/ACK");
        assert_eq!(message["data"]["priority"], "low");
    }

    #[test]
    fn long_bodies_are_cut() {
        let mut n = claimed(Priority::Info);
        n.body = "x".repeat(5000);
        let apns = platform(&render(&n, "u"), "APNS");
        let body = apns["aps"]["alert"]["body"].as_str().expect("body");
        assert!(body.chars().count() <= MAX_BODY_CHARS + 1);
    }
}
