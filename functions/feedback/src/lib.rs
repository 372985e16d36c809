//! `feedback`: delivery receipts. Two ways in, one use case:
//! - SQS, from the queue SES event publishing and End User Messaging event destinations
//!   reach (-> SNS topic -> SQS): [`function_handler`];
//! - CloudWatch Logs, from a subscription to SNS's SMS delivery-status log groups (SNS
//!   writes those only to CloudWatch Logs): [`logs_handler`].
//!
//! Each batch is read and applied in one statement by [`herald::feedback::Feedback`]:
//! `delivered` becomes a real status, a bounce or an unanswered call fails the row and
//! makes its escalation look again now, a bad address goes on the tenant's suppression
//! list.

use aws_lambda_events::event::cloudwatch_logs::LogsEvent;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use herald::feedback::{BatchOutcome, Feedback, Message};
use lambda_runtime::{Error, LambdaEvent};
use serde::{Deserialize, Serialize};

/// What the function is invoked with, kept as JSON text until it is known which kind it
/// is: `aws_lambda_events`' CloudWatch Logs reader borrows its keys from the text, so it
/// cannot sit in an untagged enum (serde buffers those as owned values).
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct FeedbackEvent(Box<serde_json::value::RawValue>);

/// Which way a receipt came in.
#[derive(Debug)]
pub enum Invocation {
    /// A CloudWatch Logs subscription: the only event with `awslogs`.
    Logs(LogsEvent),
    Sqs(SqsEvent),
}

impl FeedbackEvent {
    pub fn read(&self) -> Result<Invocation, serde_json::Error> {
        #[derive(Deserialize)]
        struct Probe {
            awslogs: Option<serde::de::IgnoredAny>,
        }
        let text = self.0.get();
        Ok(match serde_json::from_str::<Probe>(text)?.awslogs {
            Some(_) => Invocation::Logs(serde_json::from_str(text)?),
            None => Invocation::Sqs(serde_json::from_str(text)?),
        })
    }
}

/// What it answers: the partial batch response SQS reads, or a summary (a CloudWatch Logs
/// invocation is asynchronous: nobody reads it).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum FeedbackResponse {
    Sqs(SqsBatchResponse),
    Logs(LogsSummary),
}

#[derive(Debug, Default, Serialize)]
pub struct LogsSummary {
    pub receipts: usize,
    pub changed: u64,
    pub ignored: usize,
    pub malformed: usize,
    pub unmatched: usize,
}

pub async fn handler(
    feedback: &Feedback,
    event: LambdaEvent<FeedbackEvent>,
) -> Result<FeedbackResponse, Error> {
    let LambdaEvent { payload, context } = event;
    match payload.read()? {
        Invocation::Sqs(sqs) => function_handler(feedback, LambdaEvent::new(sqs, context))
            .await
            .map(FeedbackResponse::Sqs),
        Invocation::Logs(logs) => logs_handler(feedback, LambdaEvent::new(logs, context))
            .await
            .map(FeedbackResponse::Logs),
    }
}

/// SNS SMS (and mobile push) delivery-status log lines, as a CloudWatch Logs subscription
/// delivers them (gzipped, base64: decoded by `aws_lambda_events`). Lambda retries an
/// asynchronous invocation that fails, so the batch fails when some of it may still work
/// later (the store failed, or a receipt is younger than its row's record); applying a
/// batch twice changes nothing.
#[tracing::instrument(name = "feedback logs", skip_all)]
pub async fn logs_handler(
    feedback: &Feedback,
    event: LambdaEvent<LogsEvent>,
) -> Result<LogsSummary, Error> {
    let data = event.payload.aws_logs.data;
    // CloudWatch Logs checks the subscription with a control message: nothing to read.
    if data.message_type != "DATA_MESSAGE" {
        return Ok(LogsSummary::default());
    }
    let messages: Vec<Message<'_>> = data
        .log_events
        .iter()
        .map(|e| Message {
            id: &e.id,
            body: &e.message,
        })
        .collect();
    let outcome = feedback.handle(&messages, chrono::Utc::now()).await;
    log(&outcome);
    if !outcome.retry.is_empty() {
        return Err(format!(
            "{} of {} log lines to try again (see the log line above)",
            outcome.retry.len(),
            messages.len()
        )
        .into());
    }
    Ok(LogsSummary {
        receipts: outcome.receipts,
        changed: outcome.changed,
        ignored: outcome.ignored,
        malformed: outcome.malformed,
        unmatched: outcome.unmatched,
    })
}

fn log(outcome: &BatchOutcome) {
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
    for (name, value) in [
        ("Receipts", outcome.receipts as u64),
        ("ReceiptsChanged", outcome.changed),
        ("AddressesSuppressed", outcome.suppressed),
        ("EscalationsWoken", outcome.woken),
        ("ReceiptsIgnored", outcome.ignored as u64),
        ("ReceiptsMalformed", outcome.malformed as u64),
        ("ReceiptsUnmatched", outcome.unmatched as u64),
        ("ReceiptsRetried", outcome.retry.len() as u64),
    ] {
        metrics::counter!(name).increment(value);
    }
}

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
    log(&outcome);
    let mut response = SqsBatchResponse::default();
    for id in outcome.retry {
        response.add_failure(id);
    }
    Ok(response)
}
