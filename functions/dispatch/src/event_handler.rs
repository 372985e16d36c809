use std::collections::HashMap;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use backon::{ExponentialBuilder, Retryable};
use chrono::Utc;
use herald::channels::{Channel, Delivery, DeliveryError};
use herald::db::notifications::{self, AttemptOutcome, AttemptResult, Claimed, TokenToStore};
use herald::domain::Action;
use herald::domain::backoff::RetryDecision;
use herald::magic_link::{self, MintedToken};
use herald::queue::Envelope;
use lambda_runtime::{Error, LambdaEvent};
use uuid::Uuid;

use crate::Deps;

/// One valid message of the batch.
struct Item {
    message_id: String,
    notification_id: Uuid,
}

#[tracing::instrument(name = "dispatch batch", skip_all, fields(channel = %deps.kind, records = event.payload.records.len()))]
pub async fn function_handler<C: Channel + Clone + 'static>(
    deps: &Deps<C>,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    let items = parse_records(event.payload);
    let mut response = SqsBatchResponse::default();
    if items.is_empty() {
        return Ok(response);
    }
    match dispatch(deps, &items).await {
        Ok(summary) => {
            tracing::info!(
                claimed = summary.claimed,
                sent = summary.sent,
                failed_transient = summary.transient,
                failed_permanent = summary.permanent,
                skipped = items.len() - summary.claimed,
                "batch done"
            );
        }
        Err(e) => {
            // The store is unreachable: hand every message back to SQS. Nothing was sent
            // for rows we could not claim; rows we claimed but could not record stay
            // `sending` and the retry sweep reclaims them when their lease expires.
            tracing::error!(error.message = %herald::telemetry::describe(e.as_ref()), "batch failed; SQS will redeliver");
            for item in &items {
                response.add_failure(item.message_id.clone());
            }
        }
    }
    Ok(response)
}

/// Keeps the records whose body is a valid envelope. A malformed body is acknowledged
/// (not returned as a failure) and logged: it will never become valid, and redelivering
/// it would only poison the queue until it reached the DLQ.
fn parse_records(event: SqsEvent) -> Vec<Item> {
    event
        .records
        .into_iter()
        .filter_map(|record| {
            let message_id = record.message_id.unwrap_or_default();
            match record.body.as_deref().map(Envelope::parse) {
                Some(Ok(envelope)) => Some(Item {
                    message_id,
                    notification_id: envelope.notification_id,
                }),
                Some(Err(e)) => {
                    // The error's category and position only: its message may quote the body.
                    tracing::warn!(
                        message_id,
                        error.kind = ?e.classify(),
                        error.line = e.line(),
                        error.column = e.column(),
                        "malformed SQS body acknowledged and dropped"
                    );
                    None
                }
                None => {
                    tracing::warn!(
                        message_id,
                        "SQS record without a body acknowledged and dropped"
                    );
                    None
                }
            }
        })
        .collect()
}

#[derive(Debug, Default)]
struct Summary {
    claimed: usize,
    sent: usize,
    transient: usize,
    permanent: usize,
}

async fn dispatch<C: Channel + Clone + 'static>(
    deps: &Deps<C>,
    items: &[Item],
) -> anyhow::Result<Summary> {
    let mut ids: Vec<Uuid> = items.iter().map(|i| i.notification_id).collect();
    ids.sort_unstable();
    ids.dedup();

    // Two fresh tokens per notification; only those of claimed rows get stored.
    let minted: HashMap<Uuid, [MintedToken; 2]> = ids
        .iter()
        .map(|id| (*id, [magic_link::mint(), magic_link::mint()]))
        .collect();
    let to_store: Vec<TokenToStore<'_>> = minted
        .iter()
        .flat_map(|(id, [ack, res])| {
            [
                TokenToStore {
                    notification_id: *id,
                    hash: &ack.hash,
                    action: Action::Acknowledge,
                },
                TokenToStore {
                    notification_id: *id,
                    hash: &res.hash,
                    action: Action::Resolve,
                },
            ]
        })
        .collect();

    // The connection goes back to the pool before any provider call: sends can take
    // seconds, and recording takes a fresh connection in case this one died meanwhile.
    // The provider client (built on first use) is readied alongside the claim.
    let claim = async {
        let client = deps.pool.get().await?;
        notifications::claim(
            &client,
            deps.kind,
            &ids,
            &to_store,
            deps.token_ttl,
            deps.lease,
        )
        .await
    };
    let (claimed, channel) = tokio::join!(claim, deps.channel.get());
    let claimed = claimed?;
    if claimed.is_empty() {
        return Ok(Summary::default());
    }

    // Should the provider client fail to build, the claimed rows stay `sending` until
    // their lease expires and the retry sweep takes them back; the messages go back to SQS.
    let channel = channel?;
    let results: Vec<AttemptResult> = futures::future::join_all(claimed.iter().map(|n| {
        let [ack, res] = &minted[&n.id];
        send_one(deps, &channel, n, ack, res)
    }))
    .await;

    let mut summary = Summary {
        claimed: claimed.len(),
        ..Summary::default()
    };
    for r in &results {
        match &r.outcome {
            AttemptOutcome::Sent { .. } => summary.sent += 1,
            AttemptOutcome::Failed {
                next_attempt_at: Some(_),
                ..
            } => summary.transient += 1,
            AttemptOutcome::Failed { .. } => summary.permanent += 1,
        }
    }

    // The messages are out: recording must not give up at the first hiccup.
    (|| async { notifications::record(&deps.pool.get().await?, &results).await })
        .retry(
            ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(100))
                .with_max_times(3)
                .with_jitter(),
        )
        .notify(|e, after| {
            tracing::warn!(error.message = %herald::telemetry::describe(e.as_ref()), ?after, "recording failed; retrying")
        })
        .await?;
    Ok(summary)
}

#[tracing::instrument(name = "deliver", skip_all, fields(notification_id = %n.id, attempt = n.attempt_count))]
async fn send_one<C: Channel + Clone + 'static>(
    deps: &Deps<C>,
    channel: &C,
    n: &Claimed,
    ack: &MintedToken,
    res: &MintedToken,
) -> AttemptResult {
    let delivery = Delivery {
        notification: n,
        acknowledge_url: magic_link::url(&deps.public_base_url, &ack.token),
        resolve_url: magic_link::url(&deps.public_base_url, &res.token),
    };
    let outcome = match channel.deliver(&delivery).await {
        Ok(receipt) => AttemptOutcome::Sent {
            provider_message_id: receipt.provider_message_id,
        },
        Err(e) => failed(deps, n, e),
    };
    AttemptResult {
        id: n.id,
        attempt: n.attempt_count,
        outcome,
    }
}

fn failed<C: Clone>(deps: &Deps<C>, n: &Claimed, e: DeliveryError) -> AttemptOutcome {
    let attempts = u32::try_from(n.attempt_count).unwrap_or(u32::MAX);
    let next_attempt_at = if e.retryable {
        match deps
            .retry
            .decide(attempts, rand::random::<f64>(), e.retry_after)
        {
            RetryDecision::RetryAfter(delay) => chrono::Duration::from_std(delay)
                .ok()
                .map(|d| Utc::now() + d),
            RetryDecision::GiveUp => None,
        }
    } else {
        None
    };
    tracing::warn!(
        error.code = %e.code,
        error.message = %e.message,
        retryable = e.retryable,
        final_failure = next_attempt_at.is_none(),
        // A transient failure on the last attempt: the RetriesExhausted alarm counts these.
        retries_exhausted = e.retryable && next_attempt_at.is_none(),
        "delivery failed"
    );
    AttemptOutcome::Failed {
        error: e.to_string(),
        retryable: e.retryable,
        next_attempt_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::event::sqs::SqsMessage;

    fn record(id: &str, body: Option<&str>) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.into());
        m.body = body.map(Into::into);
        m
    }

    #[test]
    fn malformed_bodies_are_dropped_and_valid_ones_kept() {
        let mut event = SqsEvent::default();
        event.records = vec![
            record(
                "m1",
                Some(r#"{"notification_id":"6f1d8c2e-3b4a-4f5e-8d9c-0a1b2c3d4e5f"}"#),
            ),
            record("m2", Some("not json")),
            record("m3", None),
        ];
        let items = parse_records(event);
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].message_id, "m1");
    }

    #[test]
    fn sample_event_parses_two_of_three_records() {
        let event: SqsEvent = serde_json::from_str(include_str!(
            "../../../events/dispatch-email/sqs-batch.json"
        ))
        .expect("sample");
        assert_eq!(event.records.len(), 3);
        assert_eq!(parse_records(event).len(), 2);
    }
}
