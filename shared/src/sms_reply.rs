//! Answering a page by SMS reply: End User Messaging publishes each inbound SMS to an
//! SNS topic, the topic delivers it to a queue, and the `sms-reply` function hands each
//! message to [`SmsReplies::handle`]. A reply `4a` acknowledges (`4r` resolves) the page
//! the sending number got with code 4, through the same [`actions`] path as a magic
//! link; the answer is announced so Slack shows it, and a confirmation goes back by SMS.
//! What a reply means, and what Herald answers, is [`crate::domain::sms_reply`].
//!
//! Nothing happens twice: every inbound message id is recorded with the answer, and a
//! redelivered message only sends an answer that did not go out yet.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::Config;
use crate::actions::{self, Outcome};
use crate::channels::{FailureKind, sms, sns};
use crate::db::Pool;
use crate::db::sms::{self as store, ReplyOutcome};
use crate::domain::sms_reply::{self, Answer, Reply, Standing};
use crate::domain::{Channel, EscalationStatus, PhoneE164};
use crate::queue::Queues;
use crate::warm::Warm;

/// One inbound SMS as End User Messaging publishes it (its documented payload). The
/// body is never logged: `Debug` shows the message id only.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InboundSms {
    /// The number that sent it: the person replying.
    pub origination_number: String,
    /// Herald's number it was sent to (answers go out from it).
    #[serde(default)]
    pub destination_number: Option<String>,
    pub message_body: String,
    pub inbound_message_id: String,
}

impl std::fmt::Debug for InboundSms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundSms")
            .field("inbound_message_id", &self.inbound_message_id)
            .finish_non_exhaustive()
    }
}

/// A reply SQS got longer ago than this is not acted on (answered "too late"): by
/// then its code may stand for another page.
pub const MAX_REPLY_AGE: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// The SNS envelope around a message when the subscription does not use raw delivery.
#[derive(Deserialize)]
struct SnsNotification {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(rename = "Message")]
    message: String,
}

impl InboundSms {
    /// An SQS body: the payload itself (raw message delivery, as the template
    /// subscribes) or wrapped in an SNS notification.
    pub fn from_sqs_body(body: &str) -> Result<Self, ReplyError> {
        if let Ok(sms) = serde_json::from_str::<InboundSms>(body) {
            return Ok(sms);
        }
        let envelope: SnsNotification = serde_json::from_str(body).map_err(|e| {
            ReplyError::Malformed(format!(
                "neither an inbound SMS nor an SNS notification ({})",
                position(&e)
            ))
        })?;
        if envelope.kind != "Notification" {
            return Err(ReplyError::Malformed(format!(
                "an SNS {} message, not a notification",
                envelope.kind
            )));
        }
        serde_json::from_str(&envelope.message).map_err(|e| {
            ReplyError::Malformed(format!(
                "the SNS message is not an inbound SMS ({})",
                position(&e)
            ))
        })
    }
}

/// Where a body failed to parse, and how: never the error's message, which may quote
/// the body (a person's text).
fn position(e: &serde_json::Error) -> String {
    format!(
        "{:?} at line {} column {}",
        e.classify(),
        e.line(),
        e.column()
    )
}

#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    /// It will never be handled: acknowledged and logged, not redelivered.
    #[error("not an inbound SMS Herald can handle: {0}")]
    Malformed(String),
    /// The store or SNS failed: SQS delivers the message again.
    #[error(transparent)]
    Transient(#[from] anyhow::Error),
}

/// What handling one inbound SMS did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handled {
    /// How it was handled; `None` when it had been already (a redelivery).
    pub outcome: Option<ReplyOutcome>,
    /// An answer went out now.
    pub answered: bool,
}

/// What the function needs, built once per cold start.
#[derive(Clone)]
pub struct SmsReplies {
    pool: Pool,
    sns: Warm<aws_sdk_sns::Client>,
    /// Where an answer is announced, so Slack messages show it (`HERALD_QUEUE_URL_SLACK`).
    queues: Warm<Queues>,
    /// Answers go out from the number the reply was sent to; this one
    /// (`HERALD_SMS_ORIGINATION_NUMBER`) when the message does not say.
    origination_number: Option<String>,
}

impl SmsReplies {
    /// The one way to build it, on Lambda as in tests: configuration errors fail now; the
    /// SDK clients are built from `sdk` on first use.
    pub async fn new(config: &Config, sdk: Warm<aws_config::SdkConfig>) -> anyhow::Result<Self> {
        let sns_sdk = sdk.clone();
        Ok(Self {
            pool: crate::db::connect_pool(&config.database).await?,
            sns: Warm::lazy(move || {
                let sdk = sns_sdk.clone();
                async move { Ok(sns::client(&sdk.get().await?)) }
            }),
            queues: Queues::warming(config, sdk),
            origination_number: config
                .channel(Channel::Sms)
                .get("SMS_ORIGINATION_NUMBER")
                .map(str::to_owned),
        })
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Acts on one inbound SMS and answers it, once however often it is delivered.
    /// `sent_at` is when SQS first got it: a reply older than [`MAX_REPLY_AGE`] (one
    /// redriven from the DLQ days later) never acts, since its code may stand for
    /// another page by now; its sender is told.
    #[tracing::instrument(name = "sms reply", skip_all, fields(inbound_message_id = %sms.inbound_message_id, outcome))]
    pub async fn handle(
        &self,
        sms: &InboundSms,
        sent_at: Option<DateTime<Utc>>,
    ) -> Result<Handled, ReplyError> {
        let Some(phone) = PhoneE164::from_stored(sms.origination_number.trim()) else {
            return Err(ReplyError::Malformed(
                "the sender is not an E.164 number".into(),
            ));
        };
        let too_late =
            sent_at.is_some_and(|at| Utc::now().signed_duration_since(at) > MAX_REPLY_AGE);
        let mut client = self.pool.get().await.map_err(anyhow::Error::from)?;
        // One transaction records the message and applies its action: a second delivery
        // of it waits on the first, then finds it recorded and acts on nothing.
        let tx = client.transaction().await.map_err(anyhow::Error::from)?;
        let outcome = if store::begin(&tx, &sms.inbound_message_id, phone.as_str()).await? {
            let (outcome, escalation_id, answer) =
                decide(&tx, phone.as_str(), &sms.message_body, too_late).await?;
            tracing::Span::current().record("outcome", outcome.as_str());
            store::finish(
                &tx,
                &sms.inbound_message_id,
                outcome,
                escalation_id,
                answer.as_deref(),
            )
            .await?;
            tx.commit().await.map_err(anyhow::Error::from)?;
            Some(outcome)
        } else {
            tx.rollback().await.map_err(anyhow::Error::from)?;
            None
        };
        // Whoever takes the answer announces and sends it: this delivery, or a later one
        // if this one dies first.
        let Some(pending) = store::take_answer(&client, &sms.inbound_message_id).await? else {
            return Ok(Handled {
                outcome,
                answered: false,
            });
        };
        drop(client);
        if let (Some(ReplyOutcome::Applied), Some(id)) = (pending.outcome, pending.escalation_id) {
            self.queues.announce_answer(id).await;
        }
        let answered = self.answer(sms, &phone, pending.answer).await?;
        Ok(Handled { outcome, answered })
    }

    /// Sends `answer` back and records that it went. A refusal that retrying cannot
    /// change (the number opted out meanwhile) is logged and recorded as done; a
    /// transient one is an `Err`, so the message comes back and the answer goes once.
    async fn answer(
        &self,
        sms: &InboundSms,
        phone: &PhoneE164,
        answer: String,
    ) -> Result<bool, ReplyError> {
        let client = self.sns.get().await?;
        let from = sms
            .destination_number
            .as_deref()
            .or(self.origination_number.as_deref());
        let sent = match sms::publish(&client, phone.as_str(), answer, None, from).await {
            Ok(_) => true,
            Err(e) if e.retryable() || e.kind == FailureKind::RateLimited => {
                return Err(ReplyError::Transient(anyhow::anyhow!(
                    "answering the SMS failed: {} {}",
                    e.code,
                    e.message
                )));
            }
            Err(e) => {
                tracing::warn!(error.code = %e.code, error.message = %e.message, "the answer could not be sent; not trying again");
                false
            }
        };
        let client = self.pool.get().await.map_err(anyhow::Error::from)?;
        store::mark_answered(&client, &sms.inbound_message_id).await?;
        Ok(sent)
    }
}

/// What a reply does, applied in `tx`, and what to answer.
async fn decide(
    tx: &crate::db::Transaction<'_>,
    phone: &str,
    body: &str,
    too_late: bool,
) -> anyhow::Result<(ReplyOutcome, Option<uuid::Uuid>, Option<String>)> {
    let reply = sms_reply::parse(body);
    if too_late && reply != Reply::CarrierKeyword {
        return Ok((
            ReplyOutcome::TooLate,
            None,
            Some(sms_reply::answer(&Answer::TooLate).text),
        ));
    }
    Ok(match reply {
        Reply::CarrierKeyword => (ReplyOutcome::CarrierKeyword, None, None),
        Reply::Unrecognised => (
            ReplyOutcome::Help,
            None,
            Some(sms_reply::answer(&Answer::Help).text),
        ),
        Reply::Act { code, action } => {
            match actions::reply_by_sms(tx, phone, code, action).await? {
                Outcome::Applied { action, state, .. } => {
                    let text = sms_reply::answer(&Answer::Done {
                        action,
                        code,
                        title: &state.title,
                    });
                    (ReplyOutcome::Applied, Some(state.id), Some(text.text))
                }
                Outcome::AlreadyDone(state) => {
                    let by = |stamp: &Option<crate::db::escalations::Stamp>| {
                        stamp.as_ref().and_then(|s| s.by.clone())
                    };
                    let (resolved_by, acknowledged_by) =
                        (by(&state.resolved), by(&state.acknowledged));
                    let standing = if state.status == EscalationStatus::Resolved {
                        Standing::Resolved {
                            by: resolved_by.as_deref(),
                        }
                    } else {
                        Standing::Acknowledged {
                            by: acknowledged_by.as_deref(),
                        }
                    };
                    let text = sms_reply::answer(&Answer::AlreadyDone {
                        title: &state.title,
                        standing,
                    });
                    (ReplyOutcome::AlreadyDone, Some(state.id), Some(text.text))
                }
                Outcome::Refused(_) => (
                    ReplyOutcome::UnknownCode,
                    None,
                    Some(sms_reply::answer(&Answer::UnknownCode(code)).text),
                ),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAYLOAD: &str = r#"{"originationNumber":"+14255550182","destinationNumber":"+12125550101","messageKeyword":"JOIN","messageBody":"EXAMPLE","inboundMessageId":"cae173d2-66b9-564c-8309-21f858e9fb84","previousPublishedMessageId":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}"#;

    #[test]
    fn the_documented_payload_parses_raw_or_in_an_sns_envelope() {
        let raw = InboundSms::from_sqs_body(PAYLOAD).expect("raw payload");
        assert_eq!(raw.origination_number, "+14255550182");
        assert_eq!(raw.destination_number.as_deref(), Some("+12125550101"));
        assert_eq!(raw.message_body, "EXAMPLE");
        assert_eq!(
            raw.inbound_message_id,
            "cae173d2-66b9-564c-8309-21f858e9fb84"
        );
        let envelope = serde_json::json!({
            "Type": "Notification",
            "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:herald-sms-inbound",
            "Message": PAYLOAD,
            "Timestamp": "2026-12-02T03:14:00.000Z",
        });
        let wrapped = InboundSms::from_sqs_body(&envelope.to_string()).expect("enveloped");
        assert_eq!(wrapped.inbound_message_id, raw.inbound_message_id);
    }

    #[test]
    fn anything_else_is_malformed_and_debug_hides_the_body() {
        for body in [
            "",
            "{}",
            r#"{"notification_id":"00000000-0000-0000-0000-000000000000"}"#,
            r#"{"Type":"SubscriptionConfirmation","Message":"{}"}"#,
        ] {
            assert!(
                matches!(
                    InboundSms::from_sqs_body(body),
                    Err(ReplyError::Malformed(_))
                ),
                "{body:?}"
            );
        }
        let sms = InboundSms::from_sqs_body(PAYLOAD).expect("payload");
        assert!(!format!("{sms:?}").contains("EXAMPLE"));
    }
}
