use std::future::Future;

use anyhow::Context as _;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use lambda_runtime::{Context, LambdaEvent};

/// Polls one queue the way Lambda's SQS event source mapping does.
#[derive(Debug, Clone)]
pub struct QueuePoller {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub queue_arn: String,
    /// Long-poll wait per receive (0 for tests that pump until empty).
    pub wait_seconds: i32,
}

/// What one poll did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PollStats {
    pub received: usize,
    pub deleted: usize,
    /// Reported in `batchItemFailures` (or the whole batch, if the handler failed):
    /// left in the queue to reappear after the visibility timeout.
    pub returned: usize,
}

impl QueuePoller {
    /// An invocation context like Lambda's: a request id and a deadline one function
    /// timeout (30 s, as in the template) from now.
    fn context(&self) -> Context {
        let mut context = Context::default();
        context.request_id = uuid::Uuid::new_v4().to_string();
        context.deadline =
            u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0) + 30_000;
        context.invoked_function_arn = self.queue_arn.replace(":sqs:", ":lambda:");
        context
    }

    /// Receives up to ten messages, invokes the handler with them as one SQS event, then
    /// deletes every message except the reported failures (all of them stay when the
    /// handler itself fails, as on Lambda). SQS moves a message to the DLQ once its
    /// receive count passes the queue's `maxReceiveCount`.
    pub async fn poll_once<F, Fut, E>(&self, handler: F) -> anyhow::Result<PollStats>
    where
        F: FnOnce(LambdaEvent<SqsEvent>) -> Fut,
        Fut: Future<Output = Result<SqsBatchResponse, E>>,
        E: std::fmt::Display,
    {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(self.wait_seconds)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .context("ReceiveMessage")?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(PollStats::default());
        }
        let region = self.sqs.config().region().map(|r| r.to_string());
        let records: Vec<SqsMessage> = messages
            .iter()
            .map(|m| {
                let mut record = SqsMessage::default();
                record.message_id = m.message_id.clone();
                record.receipt_handle = m.receipt_handle.clone();
                record.body = m.body.clone();
                record.md5_of_body = m.md5_of_body.clone();
                record.attributes = m
                    .attributes
                    .as_ref()
                    .map(|a| {
                        a.iter()
                            .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                            .collect()
                    })
                    .unwrap_or_default();
                record.event_source = Some("aws:sqs".into());
                record.event_source_arn = Some(self.queue_arn.clone());
                record.aws_region = region.clone();
                record
            })
            .collect();
        let received = records.len();
        let mut event = SqsEvent::default();
        event.records = records;
        let event = LambdaEvent::new(event, self.context());
        let failures: Vec<String> = match handler(event).await {
            Ok(response) => response
                .batch_item_failures
                .into_iter()
                .map(|f| f.item_identifier)
                .collect(),
            Err(e) => {
                tracing::error!(error.message = %e, "handler failed; the whole batch returns to the queue");
                messages
                    .iter()
                    .filter_map(|m| m.message_id.clone())
                    .collect()
            }
        };
        let entries: Vec<DeleteMessageBatchRequestEntry> = messages
            .iter()
            .enumerate()
            .filter(|(_, m)| {
                !m.message_id
                    .as_ref()
                    .is_some_and(|id| failures.contains(id))
            })
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .set_receipt_handle(m.receipt_handle.clone())
                    .build()
                    .ok()
            })
            .collect();
        let deleted = entries.len();
        if !entries.is_empty() {
            self.sqs
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .context("DeleteMessageBatch")?;
        }
        Ok(PollStats {
            received,
            deleted,
            returned: received - deleted,
        })
    }
}
