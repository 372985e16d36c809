//! Delivery receipts: what a provider says became of a message after it took it. "Sent"
//! is not "delivered": a bounced email or an SMS the carrier dropped must not look like
//! a read one. The rules, each in one place here:
//! - what each provider's event means ([`parse`]): SES event publishing (configuration
//!   set -> SNS -> SQS), End User Messaging SMS and voice events, SNS SMS and push
//!   delivery-status logs; events that say nothing about arrival (SES `Send`, `Open`,
//!   `Click`, a call ringing) are read as nothing;
//! - latest state wins, in a fixed order whatever order receipts come in
//!   ([`Verdict::rank`]): a bounce after `delivered` wins, a late `delivered` after a
//!   bounce does not undo it, a delay is not a bounce, a repeat changes nothing;
//! - a permanent bounce, an invalid number or a complaint puts that address on the
//!   tenant's suppression list for the channel ([`Receipt::suppress`]);
//! - a receipt for a message Herald does not know is acknowledged and counted, never
//!   retried forever; only while it is young ([`UNMATCHED_RETRY_WINDOW`]) is it retried,
//!   as the provider's receipt can overtake the dispatcher's own record of the send.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::Channel;

/// How long after the send an unmatched receipt is handed back to SQS to try again
/// (the dispatcher records a send within milliseconds; this covers a slow database).
pub const UNMATCHED_RETRY_WINDOW: TimeDelta = TimeDelta::minutes(5);

/// Longest provider detail kept on the row (diagnostic codes, carrier answers).
const MAX_DETAIL: usize = 200;

/// What a receipt says about the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not yet: the provider is still trying (SES `DeliveryDelay`). Changes nothing.
    Delayed,
    /// It reached the mailbox, the phone (its carrier accepted it), the device or the
    /// person on the call.
    Delivered,
    /// The person marked it as spam: it arrived, and that address gets no more.
    Complained,
    /// It never will: bounced, rejected, dropped by the carrier, the call went
    /// unanswered. `permanent`: the address itself is bad (suppressed from now on).
    Failed { permanent: bool },
}

impl Verdict {
    /// Latest-state-wins order: a receipt changes a row only when it ranks above what
    /// the row already says (`sent` is 0). Equal ranks (a repeat) change nothing.
    pub fn rank(self) -> i16 {
        match self {
            Verdict::Delayed => 0,
            Verdict::Delivered | Verdict::Complained => 1,
            Verdict::Failed { .. } => 2,
        }
    }

    /// The row's status once this receipt is applied, if it changes it.
    pub fn status(self) -> Option<super::NotificationStatus> {
        use super::NotificationStatus::{Delivered, Failed};
        match self {
            Verdict::Delayed => None,
            Verdict::Delivered | Verdict::Complained => Some(Delivered),
            Verdict::Failed { .. } => Some(Failed),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Delayed => "delayed",
            Verdict::Delivered => "delivered",
            Verdict::Complained => "complained",
            Verdict::Failed { permanent: true } => "bounced",
            Verdict::Failed { permanent: false } => "failed",
        }
    }

    /// Whether the escalation should look again now: nobody was reached by this message.
    pub fn is_negative(self) -> bool {
        matches!(self, Verdict::Failed { .. })
    }
}

/// One receipt, matched to its row by the provider's message id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub channel: Channel,
    pub provider_message_id: String,
    pub verdict: Verdict,
    /// When the provider saw what it reports.
    pub at: DateTime<Utc>,
    /// When the message was sent, when the event says (for the unmatched retry window).
    pub sent_at: Option<DateTime<Utc>>,
    /// The provider's reason, bounded (`5.1.1 smtp; 550 user unknown`). Never the body.
    pub detail: Option<String>,
    /// Addresses to put on the tenant's suppression list for `channel`, normalised as
    /// [`suppression_key`] does.
    pub suppress: Vec<String>,
}

impl Receipt {
    /// Whether an unmatched receipt is still young enough to be tried again later.
    pub fn may_still_match(&self, now: DateTime<Utc>) -> bool {
        let sent = self.sent_at.unwrap_or(self.at);
        now - sent < UNMATCHED_RETRY_WINDOW
    }
}

/// The form an address takes on the suppression list: an email address in lower case
/// (mailbox providers treat it so, and SES's own list does), a phone number as it is.
pub fn suppression_key(channel: Channel, address: &str) -> String {
    let address = address.trim();
    match channel {
        Channel::Email => address.to_lowercase(),
        _ => address.to_owned(),
    }
}

/// Why a message on the feedback queue could not be read: permanent (acknowledged and
/// counted, never retried).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable receipt: {0}")]
pub struct Malformed(pub String);

/// Reads one message from the feedback queue: an SNS notification (or its raw message)
/// holding an SES event, an End User Messaging event, or an SNS delivery-status log
/// line. `Ok(None)`: a well-formed event that says nothing about arrival.
pub fn parse(body: &str) -> Result<Option<Receipt>, Malformed> {
    let value: Value =
        serde_json::from_str(body).map_err(|e| Malformed(format!("not JSON: {e}")))?;
    // Through SNS without raw delivery: the event is the envelope's `Message` string.
    let value = match (
        value.get("Type").and_then(Value::as_str),
        value.get("Message"),
    ) {
        (Some("Notification"), Some(Value::String(inner))) => serde_json::from_str(inner)
            .map_err(|e| Malformed(format!("the SNS message is not JSON: {e}")))?,
        (Some("SubscriptionConfirmation" | "UnsubscribeConfirmation"), _) => return Ok(None),
        _ => value,
    };
    if value.get("mail").is_some() {
        ses(value)
    } else if value.get("messageStatus").is_some() {
        end_user_messaging(value)
    } else if value.get("notification").is_some() && value.get("delivery").is_some() {
        sns_delivery_log(value)
    } else {
        Err(Malformed(
            "neither an SES event, an End User Messaging event nor an SNS delivery log".into(),
        ))
    }
}

fn read<T: serde::de::DeserializeOwned>(value: Value, what: &str) -> Result<T, Malformed> {
    serde_json::from_value(value).map_err(|e| Malformed(format!("{what}: {e}")))
}

fn detail(parts: &[Option<&str>]) -> Option<String> {
    let text = parts
        .iter()
        .flatten()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    (!text.is_empty()).then(|| text.chars().take(MAX_DETAIL).collect())
}

fn millis(ms: Option<i64>) -> Option<DateTime<Utc>> {
    ms.and_then(DateTime::from_timestamp_millis)
}

// --- SES event publishing ---------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SesEvent {
    /// `notificationType` when feedback comes from the identity, not a configuration set.
    #[serde(alias = "notificationType")]
    event_type: String,
    mail: SesMail,
    bounce: Option<SesBounce>,
    complaint: Option<SesComplaint>,
    delivery: Option<SesTimestamp>,
    delivery_delay: Option<SesDelay>,
    reject: Option<SesReject>,
    failure: Option<SesFailure>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SesMail {
    message_id: String,
    timestamp: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SesBounce {
    bounce_type: String,
    bounce_sub_type: Option<String>,
    #[serde(default)]
    bounced_recipients: Vec<SesRecipient>,
    timestamp: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SesRecipient {
    email_address: String,
    status: Option<String>,
    diagnostic_code: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SesComplaint {
    #[serde(default)]
    complained_recipients: Vec<SesRecipient>,
    complaint_feedback_type: Option<String>,
    timestamp: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct SesTimestamp {
    timestamp: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SesDelay {
    delay_type: Option<String>,
    timestamp: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct SesReject {
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SesFailure {
    error_message: Option<String>,
}

fn ses(value: Value) -> Result<Option<Receipt>, Malformed> {
    let event: SesEvent = read(value, "SES event")?;
    let sent_at = event.mail.timestamp;
    let receipt = |verdict, at: Option<DateTime<Utc>>, detail, suppress| Receipt {
        channel: Channel::Email,
        provider_message_id: event.mail.message_id.clone(),
        verdict,
        at: at.or(sent_at).unwrap_or_else(Utc::now),
        sent_at,
        detail,
        suppress,
    };
    let addresses = |list: &[SesRecipient]| {
        list.iter()
            .map(|r| suppression_key(Channel::Email, &r.email_address))
            .collect::<Vec<_>>()
    };
    Ok(Some(match event.event_type.as_str() {
        "Delivery" => receipt(
            Verdict::Delivered,
            event.delivery.as_ref().and_then(|d| d.timestamp),
            None,
            vec![],
        ),
        "Bounce" => {
            let bounce = event
                .bounce
                .as_ref()
                .ok_or_else(|| Malformed("a Bounce event without `bounce`".into()))?;
            // `Undetermined`: SES could not tell; the address is not blamed for it.
            let permanent = bounce.bounce_type == "Permanent";
            let first = bounce.bounced_recipients.first();
            receipt(
                Verdict::Failed { permanent },
                bounce.timestamp,
                detail(&[
                    Some("bounce:"),
                    Some(&bounce.bounce_type),
                    bounce.bounce_sub_type.as_deref(),
                    first.and_then(|r| r.status.as_deref()),
                    first.and_then(|r| r.diagnostic_code.as_deref()),
                ]),
                if permanent {
                    addresses(&bounce.bounced_recipients)
                } else {
                    vec![]
                },
            )
        }
        "Complaint" => {
            let complaint = event
                .complaint
                .as_ref()
                .ok_or_else(|| Malformed("a Complaint event without `complaint`".into()))?;
            receipt(
                Verdict::Complained,
                complaint.timestamp,
                detail(&[
                    Some("complaint:"),
                    complaint.complaint_feedback_type.as_deref(),
                ]),
                addresses(&complaint.complained_recipients),
            )
        }
        "DeliveryDelay" => receipt(
            Verdict::Delayed,
            event.delivery_delay.as_ref().and_then(|d| d.timestamp),
            detail(&[
                Some("delayed:"),
                event
                    .delivery_delay
                    .as_ref()
                    .and_then(|d| d.delay_type.as_deref()),
            ]),
            vec![],
        ),
        // SES refused the message itself (a virus, say): nothing about the address.
        "Reject" => receipt(
            Verdict::Failed { permanent: false },
            None,
            detail(&[
                Some("rejected:"),
                event.reject.as_ref().and_then(|r| r.reason.as_deref()),
            ]),
            vec![],
        ),
        "Rendering Failure" | "RenderingFailure" => receipt(
            Verdict::Failed { permanent: false },
            None,
            detail(&[
                Some("rendering failure:"),
                event
                    .failure
                    .as_ref()
                    .and_then(|f| f.error_message.as_deref()),
            ]),
            vec![],
        ),
        // Send, Open, Click, Subscription: nothing about arrival.
        _ => return Ok(None),
    }))
}

// --- End User Messaging (SMS and voice) ------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EumEvent {
    event_type: String,
    message_id: String,
    message_status: String,
    message_status_description: Option<String>,
    event_timestamp: Option<i64>,
    message_request_timestamp: Option<i64>,
    destination_phone_number: Option<String>,
}

fn end_user_messaging(value: Value) -> Result<Option<Receipt>, Malformed> {
    let event: EumEvent = read(value, "End User Messaging event")?;
    let (channel, status) = if let Some(status) = event.event_type.strip_prefix("TEXT_") {
        (Channel::Sms, status)
    } else if let Some(status) = event.event_type.strip_prefix("VOICE_") {
        (Channel::Voice, status)
    } else {
        // MMS, RCS, registration changes: not Herald's.
        return Ok(None);
    };
    let verdict = match (channel, status) {
        // The carrier accepted it (many carriers send nothing more), or the phone did.
        (Channel::Sms, "SUCCESSFUL" | "DELIVERED") => Verdict::Delivered,
        (Channel::Sms, "PENDING" | "QUEUED") => return Ok(None),
        // The number does not exist: no point paging it again.
        (Channel::Sms, "INVALID") => Verdict::Failed { permanent: true },
        (Channel::Voice, "ANSWERED" | "COMPLETED") => Verdict::Delivered,
        (Channel::Voice, "INITIATED" | "RINGING") => return Ok(None),
        // Blocked, unreachable, spam, expired, unknown; busy, no answer, failed.
        _ => Verdict::Failed { permanent: false },
    };
    let suppress = match (verdict, &event.destination_phone_number) {
        (Verdict::Failed { permanent: true }, Some(phone)) => {
            vec![suppression_key(channel, phone)]
        }
        _ => vec![],
    };
    let sent_at = millis(event.message_request_timestamp);
    Ok(Some(Receipt {
        channel,
        provider_message_id: event.message_id,
        verdict,
        at: millis(event.event_timestamp)
            .or(sent_at)
            .unwrap_or_else(Utc::now),
        sent_at,
        detail: detail(&[
            Some(&event.message_status),
            event.message_status_description.as_deref(),
        ]),
        suppress,
    }))
}

// --- SNS delivery-status logs (SMS, mobile push) ---------------------------------

#[derive(Deserialize)]
struct SnsLog {
    notification: SnsLogNotification,
    delivery: SnsLogDelivery,
    status: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SnsLogNotification {
    message_id: String,
    /// `2016-06-28 00:40:34.558`, UTC.
    timestamp: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SnsLogDelivery {
    destination: Option<String>,
    provider_response: Option<String>,
    dwell_time_ms: Option<i64>,
}

fn sns_delivery_log(value: Value) -> Result<Option<Receipt>, Malformed> {
    let log: SnsLog = read(value, "SNS delivery log")?;
    let destination = log.delivery.destination.as_deref().unwrap_or_default();
    // A push log names the platform endpoint; an SMS log the phone number.
    let channel = if destination.starts_with("arn:") {
        Channel::Push
    } else {
        Channel::Sms
    };
    let sent_at = log
        .notification
        .timestamp
        .as_deref()
        .and_then(|t| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f").ok())
        .map(|t| t.and_utc());
    let response = log.delivery.provider_response.as_deref();
    let verdict = match log.status.as_str() {
        "SUCCESS" => Verdict::Delivered,
        "FAILURE" => Verdict::Failed {
            // SNS words it "Invalid phone number" / "…is not valid": the number is bad.
            permanent: channel == Channel::Sms
                && response.is_some_and(|r| {
                    let r = r.to_ascii_lowercase();
                    r.contains("invalid") || r.contains("not valid")
                }),
        },
        other => return Err(Malformed(format!("unknown SNS delivery status `{other}`"))),
    };
    let suppress = match verdict {
        Verdict::Failed { permanent: true } if !destination.is_empty() => {
            vec![suppression_key(channel, destination)]
        }
        _ => vec![],
    };
    let at = sent_at.map(|t| t + TimeDelta::milliseconds(log.delivery.dwell_time_ms.unwrap_or(0)));
    Ok(Some(Receipt {
        channel,
        provider_message_id: log.notification.message_id,
        verdict,
        at: at.unwrap_or_else(Utc::now),
        sent_at,
        detail: detail(&[Some(&log.status), response]),
        suppress,
    }))
}

/// Keeps one receipt per message: the one that ranks highest (latest state wins), the
/// later one of equal rank. A batch may hold a message's `Delivery` and its `Bounce`.
pub fn settle(mut receipts: Vec<Receipt>) -> Vec<Receipt> {
    receipts.sort_by(|a, b| {
        (a.channel, &a.provider_message_id)
            .cmp(&(b.channel, &b.provider_message_id))
            .then(b.verdict.rank().cmp(&a.verdict.rank()))
            .then(b.at.cmp(&a.at))
    });
    let mut kept: Vec<Receipt> = Vec::with_capacity(receipts.len());
    for r in receipts {
        match kept.last_mut() {
            Some(last)
                if last.channel == r.channel
                    && last.provider_message_id == r.provider_message_id =>
            {
                // A lower-ranked receipt still names addresses to suppress (a complaint
                // beside a later bounce): keep them.
                for a in r.suppress {
                    if !last.suppress.contains(&a) {
                        last.suppress.push(a);
                    }
                }
            }
            _ => kept.push(r),
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented event shapes (AWS's examples, Herald's ids), as the queue gets them.
    fn fixture(name: &str) -> &'static str {
        match name {
            "ses-bounce" => include_str!("../../../events/feedback/ses-bounce.json"),
            "ses-delivery" => include_str!("../../../events/feedback/ses-delivery.json"),
            "ses-complaint" => include_str!("../../../events/feedback/ses-complaint.json"),
            "ses-delivery-delay" => {
                include_str!("../../../events/feedback/ses-delivery-delay.json")
            }
            "ses-reject" => include_str!("../../../events/feedback/ses-reject.json"),
            "eum-sms-delivered" => include_str!("../../../events/feedback/eum-sms-delivered.json"),
            "eum-sms-invalid" => include_str!("../../../events/feedback/eum-sms-invalid.json"),
            "eum-voice-no-answer" => {
                include_str!("../../../events/feedback/eum-voice-no-answer.json")
            }
            "sns-sms-success" => include_str!("../../../events/feedback/sns-sms-success.json"),
            "sns-sms-failure" => include_str!("../../../events/feedback/sns-sms-failure.json"),
            other => panic!("no fixture {other}"),
        }
    }

    fn receipt(name: &str) -> Receipt {
        parse(fixture(name)).expect("readable").expect("a receipt")
    }

    /// What SNS puts in SQS without raw message delivery.
    fn through_sns(event: &str) -> String {
        serde_json::json!({
            "Type": "Notification",
            "MessageId": "2d7b7e0a-4f1e-5b6e-9d0c-1a2b3c4d5e6f",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:herald-feedback",
            "Message": event,
            "Timestamp": "2026-12-07T03:00:05.200Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLE",
            "SigningCertURL": "https://sns.us-east-1.amazonaws.com/cert.pem",
            "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe"
        })
        .to_string()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().expect("rfc3339")
    }

    #[test]
    fn a_permanent_bounce_fails_the_row_and_suppresses_the_address_in_lower_case() {
        let r = receipt("ses-bounce");
        assert_eq!(r.channel, Channel::Email);
        assert_eq!(r.provider_message_id, "HERALD-SES-BOUNCE-0001");
        assert_eq!(r.verdict, Verdict::Failed { permanent: true });
        assert_eq!(r.at, utc("2026-12-07T03:00:05.123Z"));
        assert_eq!(r.sent_at, Some(utc("2026-12-07T03:00:01.012Z")));
        assert_eq!(r.suppress, ["alice@example.com"]);
        assert_eq!(
            r.detail.as_deref(),
            Some("bounce: Permanent General 5.1.1 smtp; 550 5.1.1 user unknown")
        );
        // The same event through SNS's envelope reads the same.
        assert_eq!(parse(&through_sns(fixture("ses-bounce"))), Ok(Some(r)));
    }

    #[test]
    fn a_transient_or_undetermined_bounce_fails_the_row_but_blames_no_address() {
        for kind in ["Transient", "Undetermined"] {
            let body = fixture("ses-bounce").replace("\"Permanent\"", &format!("\"{kind}\""));
            let r = parse(&body).expect("readable").expect("a receipt");
            assert_eq!(r.verdict, Verdict::Failed { permanent: false }, "{kind}");
            assert!(r.suppress.is_empty(), "{kind}");
        }
    }

    #[test]
    fn each_ses_event_means_what_it_says() {
        let r = receipt("ses-delivery");
        assert_eq!(r.verdict, Verdict::Delivered);
        assert_eq!(r.at, utc("2026-12-07T03:00:03.133Z"));
        let r = receipt("ses-complaint");
        assert_eq!(r.verdict, Verdict::Complained);
        assert_eq!(r.suppress, ["carol@example.com"]);
        assert_eq!(r.detail.as_deref(), Some("complaint: abuse"));
        // A delay is not a bounce.
        let r = receipt("ses-delivery-delay");
        assert_eq!(r.verdict, Verdict::Delayed);
        assert_eq!(r.verdict.status(), None);
        let r = receipt("ses-reject");
        assert_eq!(r.verdict, Verdict::Failed { permanent: false });
        assert!(r.suppress.is_empty());
        // Send, Open, Click: nothing about arrival.
        for kind in ["Send", "Open", "Click"] {
            let body = fixture("ses-delivery").replace("\"Delivery\"", &format!("\"{kind}\""));
            assert_eq!(parse(&body), Ok(None), "{kind}");
        }
        // Identity notifications (no configuration set) name the type differently.
        let body = fixture("ses-delivery").replace("\"eventType\"", "\"notificationType\"");
        assert_eq!(
            parse(&body).expect("readable").map(|r| r.verdict),
            Some(Verdict::Delivered)
        );
    }

    #[test]
    fn end_user_messaging_events_for_sms_and_voice() {
        let r = receipt("eum-sms-delivered");
        assert_eq!((r.channel, r.verdict), (Channel::Sms, Verdict::Delivered));
        assert_eq!(r.at, utc("2026-12-07T03:00:05Z"));
        assert_eq!(r.sent_at, Some(utc("2026-12-07T03:00:01Z")));
        let r = receipt("eum-sms-invalid");
        assert_eq!(r.verdict, Verdict::Failed { permanent: true });
        assert_eq!(r.suppress, ["+14255550199"]);
        let r = receipt("eum-voice-no-answer");
        assert_eq!(
            (r.channel, r.verdict),
            (Channel::Voice, Verdict::Failed { permanent: false })
        );
        assert!(r.suppress.is_empty());
        assert_eq!(
            r.detail.as_deref(),
            Some("NO_ANSWER The call was not answered")
        );
        // Steps on the way, and other products' events, are nothing.
        for (from, to) in [
            ("TEXT_DELIVERED", "TEXT_PENDING"),
            ("TEXT_DELIVERED", "MEDIA_DELIVERED"),
        ] {
            let body = fixture("eum-sms-delivered").replace(from, to);
            let body = body.replace("\"DELIVERED\"", "\"PENDING\"");
            assert_eq!(parse(&body), Ok(None), "{to}");
        }
    }

    #[test]
    fn sns_delivery_logs_for_sms_and_push() {
        let r = receipt("sns-sms-success");
        assert_eq!((r.channel, r.verdict), (Channel::Sms, Verdict::Delivered));
        assert_eq!(r.sent_at, Some(utc("2026-12-07T03:00:01.558Z")));
        assert_eq!(r.at, utc("2026-12-07T03:00:02.157Z"));
        let r = receipt("sns-sms-failure");
        assert_eq!(r.verdict, Verdict::Failed { permanent: false });
        assert!(r.suppress.is_empty());
        let invalid = fixture("sns-sms-failure").replace(
            "Unknown error attempting to reach phone",
            "Invalid phone number",
        );
        let r = parse(&invalid).expect("readable").expect("a receipt");
        assert_eq!(r.verdict, Verdict::Failed { permanent: true });
        assert_eq!(r.suppress, ["+14255550156"]);
        let push = fixture("sns-sms-failure").replace(
            "+14255550156",
            "arn:aws:sns:us-east-1:123456789012:endpoint/APNS/herald/3f0c",
        );
        let r = parse(&push).expect("readable").expect("a receipt");
        assert_eq!(
            (r.channel, r.verdict),
            (Channel::Push, Verdict::Failed { permanent: false })
        );
    }

    #[test]
    fn unreadable_messages_are_malformed_not_retried() {
        for body in [
            "",
            "not json",
            "{}",
            r#"{"Type":"Notification","Message":"nope"}"#,
        ] {
            assert!(parse(body).is_err(), "{body}");
        }
        let confirm = r#"{"Type":"SubscriptionConfirmation","Message":"You have chosen..."}"#;
        assert_eq!(parse(confirm), Ok(None));
    }

    #[test]
    fn latest_state_wins_whatever_order_receipts_come_in() {
        let delivered = receipt("ses-delivery");
        let mut bounced = receipt("ses-bounce");
        bounced.provider_message_id = delivered.provider_message_id.clone();
        let mut delayed = receipt("ses-delivery-delay");
        delayed.provider_message_id = delivered.provider_message_id.clone();
        let orders = [
            vec![delivered.clone(), bounced.clone(), delayed.clone()],
            vec![bounced.clone(), delivered.clone(), delayed.clone()],
            vec![
                delayed.clone(),
                bounced.clone(),
                delivered.clone(),
                delivered.clone(),
            ],
        ];
        for receipts in orders {
            let settled = settle(receipts);
            assert_eq!(settled.len(), 1);
            assert_eq!(settled[0].verdict, Verdict::Failed { permanent: true });
            assert_eq!(settled[0].suppress, ["alice@example.com"]);
        }
        assert!(Verdict::Failed { permanent: false }.rank() > Verdict::Delivered.rank());
        assert!(Verdict::Delivered.rank() > Verdict::Delayed.rank());
        assert_eq!(Verdict::Complained.rank(), Verdict::Delivered.rank());
        // Different messages stay apart.
        assert_eq!(
            settle(vec![receipt("ses-delivery"), receipt("ses-bounce")]).len(),
            2
        );
    }

    #[test]
    fn an_unmatched_receipt_is_retried_only_while_young() {
        let r = receipt("ses-delivery");
        let sent = r.sent_at.expect("sent_at");
        assert!(r.may_still_match(sent + TimeDelta::seconds(30)));
        assert!(!r.may_still_match(sent + UNMATCHED_RETRY_WINDOW));
    }
}
