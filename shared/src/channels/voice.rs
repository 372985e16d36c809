//! Voice calls through AWS End User Messaging SMS and Voice v2 (`SendVoiceMessage`):
//! Amazon Polly reads an SSML script that says the priority and title twice (a call
//! picked up half asleep misses the first time) and where the links to act went. A
//! call offers no link of its own.
//!
//! The emulator has no such service: tests and the local stack point this one client at
//! a local fake with `AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2` (or an SDK configuration
//! whose endpoint is the fake).

use aws_sdk_pinpointsmsvoicev2::error::SdkError;
use aws_sdk_pinpointsmsvoicev2::operation::send_voice_message::SendVoiceMessageError;
use aws_sdk_pinpointsmsvoicev2::types::{
    ConflictExceptionReason, ValidationExceptionReason, VoiceId, VoiceMessageBodyTextType,
};

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

/// Where else the page went, as a listener hears it: "the email and text message" (each
/// answers with a link, a button or a reply).
fn where_else_it_went(channels: &[Channel]) -> Option<String> {
    let names: Vec<&str> = channels
        .iter()
        .filter_map(|c| match c {
            Channel::Email => Some("email"),
            Channel::Sms => Some("text message"),
            Channel::Push => Some("app notification"),
            Channel::Teams => Some("Teams message"),
            Channel::Slack => Some("Slack message"),
            Channel::InApp => Some("Herald inbox entry"),
            Channel::Voice => None,
        })
        .collect();
    match names.as_slice() {
        [] => None,
        [one] => Some(format!("the {one}")),
        [init @ .., last] => Some(format!("the {} and {last}", init.join(", "))),
    }
}

/// What the call says: the tenant's template when it has one (its words read as text,
/// never as SSML of theirs), else Herald's [`render`].
pub fn script(delivery: &Delivery<'_>) -> String {
    match delivery.templated() {
        Some(own) => format!("<speak>{}</speak>", escape(&own.text)),
        None => render(delivery.notification),
    }
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
    let act = match where_else_it_went(&n.other_channels) {
        Some(places) => {
            format!("To acknowledge or resolve it, answer {places} Herald sent you.")
        }
        None => "Herald had no other way to reach you: acknowledge it in Herald.".to_owned(),
    };
    format!(
        "<speak>This is Herald with a <emphasis level=\"strong\">{priority}</emphasis> \
         escalation{service}. <break time=\"600ms\"/>{title}. <break time=\"1s\"/>\
         Again: {priority}. {title}. <break time=\"800ms\"/>{act}</speak>"
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
            .message_body(script(delivery))
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

/// End User Messaging's answers. A number on an opt-out list is a `ConflictException`
/// whose reason says so: suppressed, not failed.
fn classify<R>(err: SdkError<SendVoiceMessageError, R>) -> DeliveryError {
    super::classify_sdk(err, "End User Messaging", |e, code, message| {
        let opted_out = matches!(e, SendVoiceMessageError::ConflictException(c)
            if c.reason() == Some(&ConflictExceptionReason::DestinationPhoneNumberOptedOut));
        if opted_out {
            return DeliveryError::new(FailureKind::OptedOut, code, message);
        }
        let unreachable_number = matches!(e, SendVoiceMessageError::ValidationException(v)
            if matches!(v.reason(), Some(ValidationExceptionReason::DestinationCountryBlocked
                | ValidationExceptionReason::CountryCodeMismatch)));
        if unreachable_number {
            return DeliveryError::new(FailureKind::AddressInvalid, code, message);
        }
        classify_code(code, message)
    })
}

/// By code alone, for what the error's fields did not settle.
pub fn classify_code(code: &str, message: &str) -> DeliveryError {
    let kind = match code {
        "ThrottlingException" => FailureKind::RateLimited,
        "InternalServerException" | "ServiceUnavailableException" => FailureKind::Transient,
        _ => FailureKind::Permanent,
    };
    DeliveryError::new(kind, code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claimed(title: &str) -> Claimed {
        Claimed {
            title: title.into(),
            body: String::new(),
            service: Some("orders&db".into()),
            other_channels: vec![Channel::Email, Channel::Sms, Channel::Push],
            ..Claimed::sample(Channel::Voice)
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
        assert!(ssml.contains("the email, text message and app notification Herald sent you"));
        let mut alone = claimed("x");
        alone.other_channels.clear();
        assert!(render(&alone).contains("acknowledge it in Herald"));
    }

    #[test]
    fn a_tenants_template_is_read_as_text() {
        use crate::domain::template::{Fields, Template};
        let mut n = claimed("DB <primary> down");
        n.template = Some(Template::stored(
            Channel::Voice,
            Fields {
                subject: None,
                text: "Acme on-call. {{ priority }}: {{ title }}. </speak><audio src=\"x\"/>"
                    .into(),
                html: None,
            },
        ));
        let links = super::super::Links::default();
        let delivery = Delivery {
            notification: &n,
            links: &links,
            credential: None,
        };
        let ssml = script(&delivery);
        assert_eq!(
            ssml,
            "<speak>Acme on-call. CRITICAL: DB &lt;primary&gt; down. &lt;/speak&gt;&lt;audio src=&quot;x&quot;/&gt;</speak>"
        );
        n.template = None;
        let delivery = Delivery {
            notification: &n,
            links: &links,
            credential: None,
        };
        assert!(script(&delivery).contains("This is Herald"));
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
        // An opt-out or a bad number is read from the error's reason field (the
        // integration test sends End User Messaging's real shape); the text decides nothing.
        assert_eq!(
            classify_code("ConflictException", "DESTINATION_PHONE_NUMBER_OPTED_OUT").kind,
            FailureKind::Permanent
        );
        assert_eq!(
            classify_code("AccessDeniedException", "not allowed").kind,
            FailureKind::Permanent
        );
    }
}
