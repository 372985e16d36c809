//! Voice calls through AWS End User Messaging SMS and Voice v2 (`SendVoiceMessage`):
//! Amazon Polly reads an SSML script that says the priority and title twice (a call
//! picked up half asleep misses the first time) and where the links to act went. A
//! call offers no link of its own.
//!
//! The emulator has no such service: tests and the local stack point this one client at
//! a local fake with `AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2` (or an SDK configuration
//! whose endpoint is the fake).

use aws_sdk_pinpointsmsvoicev2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_pinpointsmsvoicev2::types::{VoiceId, VoiceMessageBodyTextType};

use super::{Adapter, Delivery, DeliveryError, FailureKind, Receipt};
use crate::db::notifications::Claimed;
use crate::domain::{Action, Address, Channel};

/// `HERALD_VOICE_ORIGINATION_IDENTITY` (a phone number, its id or ARN, or a pool),
/// `HERALD_VOICE_ID` (a Polly voice, default `JOANNA`) and
/// `HERALD_VOICE_CONFIGURATION_SET` (optional, for call events).
#[derive(Debug, Clone)]
pub struct VoiceSettings {
    pub origination_identity: String,
    pub voice_id: String,
    pub configuration_set: Option<String>,
}

#[derive(Debug, Clone)]
pub struct EndUserMessagingVoice {
    client: aws_sdk_pinpointsmsvoicev2::Client,
    settings: VoiceSettings,
}

/// Escapes text for SSML (XML): the five predefined entities.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The script Polly reads.
pub fn render(n: &Claimed) -> String {
    let priority = escape(n.priority.as_str());
    let title = escape(&n.title);
    let service = n
        .service
        .as_deref()
        .map(|s| format!(" on {}", escape(s)))
        .unwrap_or_default();
    format!(
        "<speak>This is Herald with a <emphasis level=\"strong\">{priority}</emphasis> \
         escalation{service}. <break time=\"600ms\"/>{title}. <break time=\"1s\"/>\
         Again: {priority}. {title}. <break time=\"800ms\"/>\
         To acknowledge or resolve it, open the link in the email, text message or app \
         notification Herald sent you.</speak>"
    )
}

impl Adapter for EndUserMessagingVoice {
    const CHANNEL: Channel = Channel::Voice;
    /// A call carries no link: the links went to the other channels.
    const ACTIONS: &'static [Action] = &[];
    type Settings = VoiceSettings;

    fn settings(config: &crate::Config) -> anyhow::Result<VoiceSettings> {
        let channel = config.channel(Channel::Voice);
        Ok(VoiceSettings {
            origination_identity: channel.require("VOICE_ORIGINATION_IDENTITY")?.to_owned(),
            voice_id: channel
                .get("VOICE_ID")
                .unwrap_or("JOANNA")
                .to_ascii_uppercase(),
            configuration_set: channel.get("VOICE_CONFIGURATION_SET").map(str::to_owned),
        })
    }

    /// SDK-level retries off: a call that timed out may have been placed, and placing
    /// it again inside the SDK would ring twice.
    fn build(settings: VoiceSettings, sdk: &aws_config::SdkConfig) -> anyhow::Result<Self> {
        let config = aws_sdk_pinpointsmsvoicev2::config::Builder::from(sdk)
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
            .build();
        Ok(Self {
            client: aws_sdk_pinpointsmsvoicev2::Client::from_conf(config),
            settings,
        })
    }

    #[tracing::instrument(name = "place call", skip_all, fields(notification_id = %delivery.notification.id))]
    async fn deliver(&self, delivery: &Delivery<'_>) -> Result<Receipt, DeliveryError> {
        let n = delivery.notification;
        let Some(Address::Phone(phone)) = &n.address else {
            return Err(DeliveryError::new(
                FailureKind::AddressInvalid,
                "NoAddress",
                "the recipient has no phone number",
            ));
        };
        let out = self
            .client
            .send_voice_message()
            .destination_phone_number(phone.as_str())
            .origination_identity(&self.settings.origination_identity)
            .message_body(render(n))
            .message_body_text_type(VoiceMessageBodyTextType::Ssml)
            .voice_id(VoiceId::from(self.settings.voice_id.as_str()))
            .set_configuration_set_name(self.settings.configuration_set.clone())
            .context("escalation_id", n.escalation_id.to_string())
            .send()
            .await
            .map_err(classify)?;
        Ok(Receipt {
            provider_message_id: out.message_id,
        })
    }
}

fn classify<E: ProvideErrorMetadata, R>(err: SdkError<E, R>) -> DeliveryError {
    match err {
        SdkError::ServiceError(service) => {
            let e = service.into_err();
            classify_code(e.code().unwrap_or("Unknown"), e.message().unwrap_or(""))
        }
        SdkError::TimeoutError(_) => {
            DeliveryError::transient("Timeout", "End User Messaging did not answer in time")
        }
        SdkError::DispatchFailure(_) => {
            DeliveryError::transient("DispatchFailure", "could not reach End User Messaging")
        }
        SdkError::ResponseError(_) => {
            DeliveryError::transient("ResponseError", "unreadable answer from End User Messaging")
        }
        SdkError::ConstructionFailure(_) => {
            DeliveryError::permanent("ConstructionFailure", "could not build the request")
        }
        _ => DeliveryError::transient("Unknown", "unexpected SDK error"),
    }
}

/// End User Messaging's error codes. A number that opted out (or is on the account's
/// opt-out list) is suppressed, not failed.
pub fn classify_code(code: &str, message: &str) -> DeliveryError {
    let lower = message.to_ascii_lowercase();
    let kind = match code {
        _ if lower.contains("opted out") || message.contains("OPTED_OUT") => FailureKind::OptedOut,
        "ThrottlingException" => FailureKind::RateLimited,
        "InternalServerException" | "ServiceUnavailableException" => FailureKind::Transient,
        "ValidationException" if lower.contains("phone") || lower.contains("destination") => {
            FailureKind::AddressInvalid
        }
        _ => FailureKind::Permanent,
    };
    DeliveryError::new(kind, code, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Priority;
    use chrono::TimeZone;
    use uuid::Uuid;

    fn claimed(title: &str) -> Claimed {
        Claimed {
            id: Uuid::nil(),
            tenant_id: Uuid::nil(),
            escalation_id: Uuid::nil(),
            recipient_id: Uuid::nil(),
            channel: Channel::Voice,
            attempt_count: 1,
            title: title.into(),
            body: String::new(),
            priority: Priority::Critical,
            service: Some("orders&db".into()),
            team: None,
            alert_count: 1,
            dashboard_url: None,
            triggered_at: chrono::Utc
                .with_ymd_and_hms(2026, 11, 22, 3, 12, 0)
                .single()
                .expect("valid"),
            recipient_name: None,
            address: None,
            credential: None,
        }
    }

    #[test]
    fn the_script_says_priority_and_title_twice_and_escapes_them() {
        let ssml = render(&claimed(r#"DB <primary> & "replica" 'down'"#));
        assert!(ssml.starts_with("<speak>") && ssml.ends_with("</speak>"));
        let title = "DB &lt;primary&gt; &amp; &quot;replica&quot; &apos;down&apos;";
        assert_eq!(ssml.matches(title).count(), 2, "{ssml}");
        assert_eq!(ssml.matches("critical").count(), 2, "{ssml}");
        assert!(ssml.contains("orders&amp;db"));
        assert!(!ssml.contains("<primary>"));
        assert!(ssml.contains("email, text message or app notification"));
    }

    #[test]
    fn ssml_metacharacters_cannot_close_the_script() {
        let ssml = render(&claimed("</speak><audio src=\"x\"/>"));
        assert_eq!(ssml.matches("</speak>").count(), 1);
        assert!(!ssml.contains("<audio"));
    }

    #[test]
    fn errors_are_classified() {
        assert_eq!(
            classify_code("ThrottlingException", "Rate exceeded").kind,
            FailureKind::RateLimited
        );
        assert_eq!(
            classify_code("InternalServerException", "oops").kind,
            FailureKind::Transient
        );
        assert_eq!(
            classify_code(
                "ConflictException",
                "Reason=DESTINATION_PHONE_NUMBER_OPTED_OUT"
            )
            .kind,
            FailureKind::OptedOut
        );
        assert_eq!(
            classify_code("ValidationException", "Invalid destination phone number").kind,
            FailureKind::AddressInvalid
        );
        assert_eq!(
            classify_code("AccessDeniedException", "not allowed").kind,
            FailureKind::Permanent
        );
    }
}
