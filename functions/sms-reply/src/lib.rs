//! `sms-reply`: SQS-triggered by the queue End User Messaging's inbound SMS reach
//! (two-way number -> SNS topic -> SQS). Each reply is handled by
//! [`herald::sms_reply::SmsReplies`]: `4a` acknowledges and `4r` resolves the page the
//! number got with code 4, anything else is answered with help, carrier keywords (STOP,
//! HELP) are left to the carrier.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use herald::sms_reply::{InboundSms, ReplyError, SmsReplies};
use lambda_runtime::{Error, LambdaEvent};

/// Handles the batch's messages one by one (replies are few, and each answers a person).
/// A message that can never be handled is acknowledged and logged; one that failed on
/// the store or SNS is returned to SQS, which delivers it again (and to the DLQ in the
/// end). Nothing is done twice on redelivery.
#[tracing::instrument(name = "sms reply batch", skip_all, fields(records = event.payload.records.len()))]
pub async fn function_handler(
    replies: &SmsReplies,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    let mut response = SqsBatchResponse::default();
    for record in event.payload.records {
        let message_id = record.message_id.unwrap_or_default();
        // When SQS got it: a reply handled hours later (redriven from the DLQ) must not act
        // on a code that may stand for another page by now.
        let sent_at = record
            .attributes
            .get("SentTimestamp")
            .and_then(|ms| ms.parse::<i64>().ok())
            .and_then(chrono::DateTime::from_timestamp_millis);
        let handled = match record.body.as_deref().map(InboundSms::from_sqs_body) {
            Some(Ok(sms)) => replies.handle(&sms, sent_at).await,
            Some(Err(e)) => Err(e),
            None => Err(ReplyError::Malformed("an SQS record without a body".into())),
        };
        match handled {
            Ok(handled) => {
                let outcome = handled.outcome.map(|o| o.as_str());
                metrics::counter!("SmsReplies", "Outcome" => outcome.unwrap_or("redelivered"))
                    .increment(1);
                tracing::info!(
                    message_id,
                    outcome = outcome.unwrap_or("already handled"),
                    answered = handled.answered,
                    "sms reply handled"
                );
            }
            Err(ReplyError::Malformed(why)) => {
                tracing::warn!(message_id, why, "inbound SMS acknowledged and dropped");
            }
            Err(ReplyError::Transient(e)) => {
                tracing::warn!(message_id, error.message = %herald::telemetry::describe(e.as_ref()), "sms reply failed; SQS will redeliver");
                response.add_failure(message_id);
            }
        }
    }
    Ok(response)
}
