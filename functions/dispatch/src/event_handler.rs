use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use herald::dispatch::Dispatch;
use herald::queue::QueueMessage;
use lambda_runtime::{Error, LambdaEvent};
use uuid::Uuid;

/// One valid message of the batch.
struct Item {
    message_id: String,
    work: Work,
}

enum Work {
    /// Send this notification.
    Deliver(Uuid),
    /// This escalation was answered: follow up on its earlier messages.
    Answered(Uuid),
}

#[tracing::instrument(name = "dispatch batch", skip_all, fields(channel = %dispatcher.channel(), records = event.payload.records.len()))]
pub async fn function_handler<D: Dispatch + ?Sized>(
    dispatcher: &D,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    let items = parse_records(event.payload);
    let mut response = SqsBatchResponse::default();
    let (deliveries, answers): (Vec<&Item>, Vec<&Item>) = items
        .iter()
        .partition(|i| matches!(i.work, Work::Deliver(_)));
    let id_of = |i: &Item| match i.work {
        Work::Deliver(id) | Work::Answered(id) => id,
    };
    if !deliveries.is_empty() {
        let ids: Vec<Uuid> = deliveries.iter().map(|i| id_of(i)).collect();
        match dispatcher.dispatch(&ids).await {
            Ok(summary) => {
                tracing::info!(
                    claimed = summary.claimed,
                    sent = summary.sent,
                    failed_transient = summary.transient,
                    failed_permanent = summary.permanent,
                    suppressed = summary.suppressed,
                    skipped = deliveries.len().saturating_sub(summary.claimed),
                    "batch done"
                );
            }
            Err(e) => {
                // The store is unreachable: hand every message back to SQS. Nothing was sent
                // for rows we could not claim; rows we claimed but could not record stay
                // `sending` and the retry sweep reclaims them when their lease expires.
                tracing::error!(error.message = %herald::telemetry::describe(e.as_ref()), "batch failed; SQS will redeliver");
                for item in &deliveries {
                    response.add_failure(item.message_id.clone());
                }
            }
        }
    }
    if !answers.is_empty() {
        let ids: Vec<Uuid> = answers.iter().map(|i| id_of(i)).collect();
        for ((_, outcome), item) in dispatcher.answered(&ids).await.into_iter().zip(&answers) {
            match outcome {
                Ok(rewritten) => tracing::info!(rewritten, "answered escalation followed up"),
                Err(e) => {
                    tracing::warn!(error.message = %herald::telemetry::describe(e.as_ref()), "following up an answer failed; SQS will redeliver");
                    response.add_failure(item.message_id.clone());
                }
            }
        }
    }
    Ok(response)
}

/// Keeps the records whose body is a valid message. A malformed body is acknowledged
/// (not returned as a failure) and logged: it will never become valid, and redelivering
/// it would only poison the queue until it reached the DLQ.
fn parse_records(event: SqsEvent) -> Vec<Item> {
    event
        .records
        .into_iter()
        .filter_map(|record| {
            let message_id = record.message_id.unwrap_or_default();
            match record.body.as_deref().map(QueueMessage::parse) {
                Some(Ok(QueueMessage::Deliver(envelope))) => Some(Item {
                    message_id,
                    work: Work::Deliver(envelope.notification_id),
                }),
                Some(Ok(QueueMessage::Answered(answered))) => Some(Item {
                    message_id,
                    work: Work::Answered(answered.answered_escalation_id),
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
            record(
                "m4",
                Some(r#"{"answered_escalation_id":"0b3f1c1e-5f7e-4c8a-9a51-2b8f1f6d9c10"}"#),
            ),
        ];
        let items = parse_records(event);
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].message_id, "m1");
        assert!(matches!(items[0].work, Work::Deliver(_)));
        assert!(matches!(items[1].work, Work::Answered(_)));
    }

    #[test]
    fn every_sample_event_parses_two_of_three_records() {
        for sample in [
            include_str!("../../../events/dispatch-email/sqs-batch.json"),
            include_str!("../../../events/dispatch-sms/sqs-batch.json"),
            include_str!("../../../events/dispatch-push/sqs-batch.json"),
            include_str!("../../../events/dispatch-teams/sqs-batch.json"),
            include_str!("../../../events/dispatch-voice/sqs-batch.json"),
        ] {
            let event: SqsEvent = serde_json::from_str(sample).expect("sample");
            assert_eq!(event.records.len(), 3);
            assert_eq!(parse_records(event).len(), 2);
        }
        let answered: SqsEvent =
            serde_json::from_str(include_str!("../../../events/dispatch-slack/answered.json"))
                .expect("sample");
        let items = parse_records(answered);
        assert!(matches!(
            items.as_slice(),
            [Item {
                work: Work::Answered(_),
                ..
            }]
        ));
    }
}
