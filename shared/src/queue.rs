//! The SQS envelope and batched enqueue. A message carries only a notification id and a
//! trace id; the dispatcher reads everything else from PostgreSQL, so a lost message is
//! never a lost notification (the retry sweep re-enqueues rows left `queued`). The Slack
//! queue also carries "this escalation was answered" ([`AnsweredEnvelope`]): the Slack
//! dispatcher, which holds the bot tokens, rewrites the escalation's messages.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};
use backon::{BackoffBuilder, ExponentialBuilder};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::Channel;

/// SQS accepts at most ten entries per `SendMessageBatch`.
pub const SQS_BATCH_LIMIT: usize = 10;

/// One queue per deliverable channel: what ingest (and the retry sweep) enqueue to; and
/// their dead-letter queues, which the retry sweep watches.
#[derive(Debug, Clone)]
pub struct Queues {
    queues: HashMap<Channel, Enqueuer>,
    dead_letters: Vec<(Channel, String)>,
    sqs: aws_sdk_sqs::Client,
}

impl Queues {
    /// A queue for every channel the configuration gives a queue URL (and its DLQ when
    /// it gives one).
    pub fn new(config: &crate::Config, sqs: &aws_sdk_sqs::Client) -> Self {
        Self {
            queues: config
                .channels
                .iter()
                .filter_map(|(channel, c)| {
                    c.queue_url
                        .as_ref()
                        .map(|url| (*channel, Enqueuer::new(sqs.clone(), url)))
                })
                .collect(),
            dead_letters: config
                .channels
                .iter()
                .filter_map(|(channel, c)| c.dlq_url.clone().map(|url| (*channel, url)))
                .collect(),
            sqs: sqs.clone(),
        }
    }

    /// How many messages each watched dead-letter queue holds (SQS's approximate count
    /// of visible and in-flight ones), asked of all of them at once. A queue SQS could
    /// not answer for is left out (logged): it says nothing either way.
    pub async fn dead_letter_depths(&self) -> Vec<(Channel, i64)> {
        let asks = self.dead_letters.iter().map(|(channel, url)| async move {
            let out = self
                .sqs
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                .send()
                .await;
            match out {
                Ok(out) => {
                    let count = |name| {
                        out.attributes()
                            .and_then(|a| a.get(&name))
                            .and_then(|v| v.parse::<i64>().ok())
                            .unwrap_or(0)
                    };
                    Some((
                        *channel,
                        count(QueueAttributeName::ApproximateNumberOfMessages)
                            + count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
                    ))
                }
                Err(e) => {
                    tracing::warn!(%channel, error.message = %crate::telemetry::describe(&e), "could not read the dead-letter queue's depth");
                    None
                }
            }
        });
        futures::future::join_all(asks)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// Built when first awaited, from the SDK configuration (on Lambda, loading it and
    /// the CA bundle takes milliseconds that the cold start does not wait for).
    pub fn warming(
        config: &crate::Config,
        sdk: crate::warm::Warm<aws_config::SdkConfig>,
    ) -> crate::warm::Warm<Self> {
        let config = config.clone();
        crate::warm::Warm::lazy(move || {
            let (config, sdk) = (config.clone(), sdk.clone());
            async move {
                let sdk = sdk.get().await?;
                Ok(Self::new(&config, &aws_sdk_sqs::Client::new(&sdk)))
            }
        })
    }

    /// Tells the dispatchers of [`REWRITTEN_ON_ANSWER`] channels (those with a queue here)
    /// that `escalation_id` was answered. Best effort: the answer is recorded already, a
    /// failure here only leaves earlier messages showing their buttons (logged).
    pub async fn announce_answer(&self, escalation_id: Uuid) {
        for channel in REWRITTEN_ON_ANSWER {
            if let Some(queue) = self.queues.get(channel)
                && let Err(e) = queue.announce(escalation_id).await
            {
                tracing::warn!(%channel, error.message = %crate::telemetry::describe(e.as_ref()), "could not announce the answer; its messages keep their buttons");
            }
        }
    }

    /// Enqueues each envelope on its channel's queue. Envelopes for a channel without a
    /// queue are reported as failed (they stay `queued` for the sweep).
    pub async fn enqueue(&self, items: &[(Channel, Envelope)]) -> EnqueueReport {
        let mut by_channel: HashMap<Channel, Vec<Envelope>> = HashMap::new();
        for (channel, envelope) in items {
            by_channel
                .entry(*channel)
                .or_default()
                .push(envelope.clone());
        }
        let mut report = EnqueueReport::default();
        let sends = by_channel
            .into_iter()
            .map(|(channel, envelopes)| async move {
                match self.queues.get(&channel) {
                    Some(queue) => queue.enqueue(&envelopes).await,
                    None => {
                        tracing::error!(%channel, "no queue configured for this channel");
                        EnqueueReport {
                            sent: 0,
                            failed: envelopes.iter().map(|e| e.notification_id).collect(),
                        }
                    }
                }
            });
        for part in futures::future::join_all(sends).await {
            report.sent += part.sent;
            report.failed.extend(part.failed);
        }
        report
    }
}

/// An escalation was acknowledged or resolved: the channels whose messages show it
/// (Slack) rewrite them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnsweredEnvelope {
    pub answered_escalation_id: Uuid,
}

/// What a dispatcher's queue carries.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum QueueMessage {
    Deliver(Envelope),
    Answered(AnsweredEnvelope),
}

impl QueueMessage {
    pub fn parse(body: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(body)
    }
}

/// The channels whose messages are rewritten once their escalation is answered.
pub const REWRITTEN_ON_ANSWER: &[Channel] = &[Channel::Slack];

impl crate::warm::Warm<Queues> {
    /// [`Queues::announce_answer`] once the SQS client is ready (logged if it cannot be).
    pub async fn announce_answer(&self, escalation_id: Uuid) {
        match self.get().await {
            Ok(queues) => queues.announce_answer(escalation_id).await,
            Err(e) => {
                tracing::warn!(error.message = %crate::telemetry::describe(e.as_ref()), "no SQS client to announce the answer")
            }
        }
    }
}

/// A delivery. Unknown fields are refused, so a body is one kind of message or none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    pub notification_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
}

impl Envelope {
    pub fn parse(body: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(body)
    }
}

/// What an enqueue call achieved. Ids in `failed` stay `queued` in PostgreSQL; the outbox
/// sweep sends them later.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EnqueueReport {
    pub sent: usize,
    pub failed: Vec<Uuid>,
}

#[derive(Debug, Clone)]
pub struct Enqueuer {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl Enqueuer {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }

    /// Sends the envelopes in `SendMessageBatch` calls of ten, concurrently. Entries SQS
    /// rejects are retried briefly; what still fails is reported, not raised, because the
    /// rows are already safely stored.
    #[tracing::instrument(name = "enqueue", skip_all, fields(count = envelopes.len()))]
    pub async fn enqueue(&self, envelopes: &[Envelope]) -> EnqueueReport {
        let chunks = envelopes
            .chunks(SQS_BATCH_LIMIT)
            .map(|chunk| self.send_chunk(chunk));
        let failed: Vec<Uuid> = futures::future::join_all(chunks)
            .await
            .into_iter()
            .flatten()
            .collect();
        EnqueueReport {
            sent: envelopes.len() - failed.len(),
            failed,
        }
    }

    /// One [`AnsweredEnvelope`] for `escalation_id`.
    pub async fn announce(&self, escalation_id: Uuid) -> anyhow::Result<()> {
        let body = serde_json::to_string(&AnsweredEnvelope {
            answered_escalation_id: escalation_id,
        })?;
        let entry = SendMessageBatchRequestEntry::builder()
            .id("0")
            .message_body(body)
            .build()
            .context("building a batch entry")?;
        let out = self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .entries(entry)
            .send()
            .await
            .context("SendMessageBatch")?;
        if !out.failed().is_empty() {
            anyhow::bail!("SQS refused the message");
        }
        Ok(())
    }

    /// Returns the ids SQS still had not accepted after a few quick retries.
    async fn send_chunk(&self, chunk: &[Envelope]) -> Vec<Uuid> {
        let mut pending: Vec<&Envelope> = chunk.iter().collect();
        let mut delays = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(50))
            .with_max_times(2)
            .with_jitter()
            .build();
        loop {
            match self.send_once(&pending).await {
                Ok(rejected) if rejected.is_empty() => return Vec::new(),
                Ok(rejected) => {
                    tracing::warn!(rejected = rejected.len(), "SQS rejected some entries");
                    pending = rejected;
                }
                Err(e) => {
                    tracing::warn!(error.message = %crate::telemetry::describe(e.as_ref()), "SendMessageBatch failed")
                }
            }
            match delays.next() {
                Some(delay) => tokio::time::sleep(delay).await,
                None => {
                    tracing::warn!(
                        count = pending.len(),
                        "left queued in PostgreSQL; the outbox sweep will enqueue them"
                    );
                    return pending.iter().map(|e| e.notification_id).collect();
                }
            }
        }
    }

    /// One `SendMessageBatch`; returns the entries SQS rejected.
    async fn send_once<'a>(&self, batch: &[&'a Envelope]) -> anyhow::Result<Vec<&'a Envelope>> {
        let entries = batch
            .iter()
            .enumerate()
            .map(|(i, e)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(serde_json::to_string(e).context("serializing an envelope")?)
                    .build()
                    .context("building a batch entry")
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let out = self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .context("SendMessageBatch")?;
        Ok(out
            .failed()
            .iter()
            .filter_map(|f| {
                f.id()
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| batch.get(i).copied())
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_carries_deliveries_and_answers() {
        let id = Uuid::new_v4();
        assert_eq!(
            QueueMessage::parse(&format!(r#"{{"notification_id":"{id}"}}"#)).expect("parses"),
            QueueMessage::Deliver(Envelope {
                notification_id: id,
                trace_id: None
            })
        );
        let answered = serde_json::to_string(&AnsweredEnvelope {
            answered_escalation_id: id,
        })
        .expect("serializes");
        assert_eq!(
            QueueMessage::parse(&answered).expect("parses"),
            QueueMessage::Answered(AnsweredEnvelope {
                answered_escalation_id: id
            })
        );
        assert!(QueueMessage::parse(r#"{"other":1}"#).is_err());
        // Both ids: neither kind, so acknowledged and dropped rather than guessed at.
        assert!(
            QueueMessage::parse(&format!(
                r#"{{"notification_id":"{id}","answered_escalation_id":"{id}"}}"#
            ))
            .is_err()
        );
    }

    #[test]
    fn envelope_carries_only_ids() {
        let id = Uuid::nil();
        let body = serde_json::to_string(&Envelope {
            notification_id: id,
            trace_id: Some("t1".into()),
        })
        .expect("serializes");
        assert_eq!(
            body,
            r#"{"notification_id":"00000000-0000-0000-0000-000000000000","trace_id":"t1"}"#
        );
    }

    #[test]
    fn malformed_bodies_do_not_parse() {
        assert!(Envelope::parse("not json").is_err());
        assert!(Envelope::parse(r#"{"notification_id":"nope"}"#).is_err());
        assert!(
            Envelope::parse(r#"{"notification_id":"00000000-0000-0000-0000-000000000000"}"#)
                .is_ok()
        );
    }
}
