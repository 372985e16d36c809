//! `feedback`: SQS-triggered by the queue provider receipts reach (SES event publishing
//! and End User Messaging event destinations -> SNS topic -> SQS). Each batch is read
//! and applied in one statement by [`herald::feedback::Feedback`]: `delivered` becomes a
//! real status, a bounce or an unanswered call fails the row and makes its escalation
//! look again now, a bad address goes on the tenant's suppression list.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use herald::feedback::{Feedback, Message};
use lambda_runtime::{Error, LambdaEvent};

/// Unreadable messages and receipts for rows Herald does not have are acknowledged and
/// counted; SQS gets back only what may still work later (a young unmatched receipt, or
/// the batch when the store failed), and sends those to the DLQ in the end.
#[tracing::instrument(name = "feedback", skip_all, fields(records = event.payload.records.len()))]
pub async fn function_handler(
    feedback: &Feedback,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    let records = event.payload.records;
    let messages: Vec<Message<'_>> = records
        .iter()
        .map(|r| Message {
            id: r.message_id.as_deref().unwrap_or_default(),
            body: r.body.as_deref().unwrap_or_default(),
        })
        .collect();
    let outcome = feedback.handle(&messages, chrono::Utc::now()).await;
    tracing::info!(
        receipts = outcome.receipts,
        changed = outcome.changed,
        suppressed = outcome.suppressed,
        woken = outcome.woken,
        ignored = outcome.ignored,
        malformed = outcome.malformed,
        unmatched = outcome.unmatched,
        retried = outcome.retry.len(),
        "feedback batch handled"
    );
    let mut response = SqsBatchResponse::default();
    for id in outcome.retry {
        response.add_failure(id);
    }
    Ok(response)
}
