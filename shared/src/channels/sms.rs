//! SMS through Amazon SNS `Publish` to the recipient's E.164 number, as a
//! `Transactional` message (SNS's higher-reliability route; `Promotional` may be dropped
//! in favour of cost). A number that opted out at the carrier (replied STOP) is
//! `suppressed` / `opted_out_at_carrier`, never a failure: SNS's
//! `CheckIfPhoneNumberIsOptedOut` is asked before sending, its answer kept for a while.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_sns::types::MessageAttributeValue;

use super::{Adapter, Delivery, DeliveryError, FailureKind, Receipt, sns};
use crate::db::notifications::Claimed;
use crate::domain::sms::{self, SmsText};
use crate::domain::sms_reply;
use crate::domain::template::SMS_SEGMENT_BUDGET;
use crate::domain::{Action, Address, Channel};

/// How long an opt-out answer is trusted. A STOP reply takes effect at the carrier at
/// once; this bounds how long Herald may still try (SNS itself refuses to deliver to an
/// opted-out number, so a stale "not opted out" costs one refused publish).
pub const OPT_OUT_CACHE: Duration = Duration::from_secs(300);

/// `HERALD_SMS_SENDER_ID` and `HERALD_SMS_ORIGINATION_NUMBER`, both optional (where the
/// destination country supports them), and `HERALD_SMS_REPLY_CODES`.
#[derive(Debug, Clone, Default)]
pub struct SmsSettings {
    pub sender_id: Option<String>,
    pub origination_number: Option<String>,
    /// Pages say "reply 4a to acknowledge, 4r to resolve" instead of carrying an
    /// acknowledge link (see [`crate::sms_reply`]): needs a two-way origination number
    /// whose inbound messages reach the `sms-reply` function. The link's token is still
    /// minted, for the page that finds no free code.
    pub reply_codes: bool,
}

#[derive(Debug, Clone)]
pub struct SnsSms {
    client: aws_sdk_sns::Client,
    settings: SmsSettings,
    opted_out: Arc<Mutex<HashMap<String, (bool, Instant)>>>,
}

/// The text one notification sends: priority, title (cut to fit) and the acknowledge
/// link, in one segment when it can.
pub fn render(n: &Claimed, acknowledge_url: &str) -> SmsText {
    sms::compose(n.priority.label(), &n.title, "Ack", acknowledge_url)
}

/// The text with reply codes on: priority, title (cut to fit) and the two replies.
pub fn render_with_code(n: &Claimed, code: i16) -> SmsText {
    sms_reply::page(n.priority.label(), &n.title, code)
}

impl SnsSms {
    pub fn new(client: aws_sdk_sns::Client, settings: SmsSettings) -> Self {
        Self {
            client,
            settings,
            opted_out: Arc::default(),
        }
    }

    fn cached_opt_out(&self, number: &str) -> Option<bool> {
        let cache = self.opted_out.lock().ok()?;
        cache
            .get(number)
            .filter(|(_, at)| at.elapsed() < OPT_OUT_CACHE)
            .map(|(opted_out, _)| *opted_out)
    }

    /// Whether the number opted out. When SNS cannot say, the page goes out anyway: SNS
    /// refuses opted-out numbers itself, so a failed check must not delay a page.
    async fn is_opted_out(&self, number: &str) -> bool {
        if let Some(known) = self.cached_opt_out(number) {
            return known;
        }
        match self
            .client
            .check_if_phone_number_is_opted_out()
            .phone_number(number)
            .send()
            .await
        {
            Ok(out) => {
                let opted_out = out.is_opted_out;
                if let Ok(mut cache) = self.opted_out.lock() {
                    if cache.len() > 10_000 {
                        cache.clear();
                    }
                    cache.insert(number.to_owned(), (opted_out, Instant::now()));
                }
                opted_out
            }
            Err(e) => {
                let e = sns::classify(e);
                tracing::warn!(error.code = %e.code, error.message = %e.message, "opt-out check failed; sending anyway");
                false
            }
        }
    }
}

fn string_attribute(value: &str) -> Result<MessageAttributeValue, DeliveryError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| DeliveryError::permanent("BuildError", e.to_string()))
}

/// One transactional SMS to `phone` through SNS `Publish` (pages, and the answers to
/// replies); SNS's message id.
pub async fn publish(
    client: &aws_sdk_sns::Client,
    phone: &str,
    text: String,
    sender_id: Option<&str>,
    origination_number: Option<&str>,
) -> Result<Option<String>, DeliveryError> {
    let mut publish = client
        .publish()
        .phone_number(phone)
        .message(text)
        .message_attributes("AWS.SNS.SMS.SMSType", string_attribute("Transactional")?);
    if let Some(sender_id) = sender_id {
        publish = publish.message_attributes("AWS.SNS.SMS.SenderID", string_attribute(sender_id)?);
    }
    if let Some(number) = origination_number {
        publish =
            publish.message_attributes("AWS.MM.SMS.OriginationNumber", string_attribute(number)?);
    }
    let out = publish.send().await.map_err(sns::classify)?;
    Ok(out.message_id)
}

impl Adapter for SnsSms {
    const CHANNEL: Channel = Channel::Sms;
    const ACTIONS: &'static [Action] = &[Action::Acknowledge];
    type Settings = SmsSettings;

    fn settings(config: &crate::Config) -> anyhow::Result<SmsSettings> {
        let channel = config.channel(Channel::Sms);
        Ok(SmsSettings {
            sender_id: channel.get("SMS_SENDER_ID").map(str::to_owned),
            origination_number: channel.get("SMS_ORIGINATION_NUMBER").map(str::to_owned),
            reply_codes: channel.flag("SMS_REPLY_CODES")?,
        })
    }

    fn reply_codes(settings: &SmsSettings) -> bool {
        settings.reply_codes
    }

    fn build(settings: SmsSettings, sdk: &aws_config::SdkConfig) -> anyhow::Result<Self> {
        Ok(Self::new(sns::client(sdk), settings))
    }

    #[tracing::instrument(name = "send sms", skip_all, fields(notification_id = %delivery.notification.id, sms.encoding, sms.units, sms.segments))]
    async fn deliver(&self, delivery: &Delivery<'_>) -> Result<Receipt, DeliveryError> {
        let n = delivery.notification;
        let Some(Address::Phone(phone)) = &n.address else {
            return Err(DeliveryError::new(
                FailureKind::AddressInvalid,
                "NoAddress",
                "the recipient has no phone number",
            ));
        };
        if self.is_opted_out(phone.as_str()).await {
            return Err(DeliveryError::new(
                FailureKind::OptedOut,
                "OptedOut",
                "the number opted out of SMS at the carrier",
            ));
        }
        // With replies on, the claim gave the page its code, unless every code of the
        // number still stands for an open page: then it carries its link, as without.
        let own = delivery.templated().map(|t| sms::measured(t.text)).filter(|t| {
            let fits = t.segments <= SMS_SEGMENT_BUDGET;
            if !fits {
                tracing::warn!(segments = t.segments, "the tenant's SMS template is over budget on this page; Herald's default text goes instead");
            }
            fits
        });
        let text = match (own, self.settings.reply_codes, n.reply_code) {
            (Some(own), _, _) => own,
            (None, true, Some(code)) => render_with_code(n, code),
            (None, _, _) => render(n, delivery.link(Action::Acknowledge)?),
        };
        let span = tracing::Span::current();
        span.record("sms.encoding", text.encoding.as_str());
        span.record("sms.units", text.units);
        span.record("sms.segments", text.segments);
        let message_id = publish(
            &self.client,
            phone.as_str(),
            text.text,
            self.settings.sender_id.as_deref(),
            self.settings.origination_number.as_deref(),
        )
        .await?;
        Ok(Receipt {
            provider_message_id: message_id,
        })
    }
}
