//! The ingest use case: parse and validate an escalation, plan its first wave, store it
//! all in ONE statement, then enqueue each queued row on its channel's queue. The HTTP
//! handler only authenticates, calls this, and turns the outcome into a response.

use crate::db::escalations::{self, Created};
use crate::db::{Actor, Client, policies};
use crate::domain::escalation::{People, PolicySource, Resolved};
use crate::domain::{
    Channel, FieldError, IngestRequest, NewEscalation, NotificationStatus, engine,
};
use crate::queue::{EnqueueReport, Envelope, Queues};
use crate::warm::Warm;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The request is not a valid escalation; nothing was written.
    #[error("{}", .0.message)]
    Invalid(FieldError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Creates the escalation in `body` for `tenant_id`. A row SQS would not take stays
/// `queued` in PostgreSQL and the outbox sweep sends it: the answer is the same.
#[tracing::instrument(name = "create escalation", skip_all, fields(tenant_id = %tenant_id))]
pub async fn create_escalation(
    client: &Client,
    queues: &Warm<Queues>,
    channels: &engine::Channels,
    tenant_id: uuid::Uuid,
    body: &[u8],
    actor: &Actor,
    trace_id: &str,
) -> Result<Created, IngestError> {
    let request = IngestRequest::from_json(body).map_err(IngestError::Invalid)?;
    let escalation = NewEscalation::try_from(request).map_err(|errors| {
        IngestError::Invalid(errors.into_iter().next().unwrap_or_else(|| {
            FieldError::new("invalid", "", "the request is not a valid escalation")
        }))
    })?;
    let resolved = resolve(client, tenant_id, &escalation).await?;
    let first_wave = engine::first_wave(
        &resolved.policy,
        &People {
            given: &escalation.recipients,
            stored: &resolved.stored_people,
        },
        channels,
        chrono::Utc::now(),
    );

    // The SQS client (built on first use) is readied alongside the insert.
    let (created, queues) = tokio::join!(
        escalations::create(
            client,
            tenant_id,
            &escalation,
            &resolved,
            &first_wave,
            actor
        ),
        queues.get()
    );
    let created = created?;
    if let Created::New(summary) = &created {
        let envelopes: Vec<(Channel, Envelope)> = summary
            .notifications
            .iter()
            .filter(|n| n.status == NotificationStatus::Queued)
            .map(|n| {
                let envelope = Envelope {
                    notification_id: n.id,
                    trace_id: Some(trace_id.to_owned()),
                };
                (n.channel, envelope)
            })
            .collect();
        let report = match queues {
            Ok(queues) => queues.enqueue(&envelopes).await,
            Err(e) => {
                tracing::error!(error.message = %crate::telemetry::describe(e.as_ref()), "no SQS client");
                EnqueueReport {
                    sent: 0,
                    failed: envelopes.iter().map(|(_, e)| e.notification_id).collect(),
                }
            }
        };
        if report.failed.is_empty() {
            tracing::info!(escalation_id = %summary.id, enqueued = report.sent, "escalation created");
        } else {
            // Stored, not lost: the rows stay `queued` and the outbox sweep sends them.
            tracing::error!(
                escalation_id = %summary.id,
                enqueued = report.sent,
                not_enqueued = report.failed.len(),
                "escalation created but some notifications could not be enqueued"
            );
        }
    } else {
        tracing::info!("duplicate dedup_key; nothing written");
    }
    Ok(created)
}

/// The policy the escalation runs under: its own (no read at all when it names only
/// the request's people), or what a stored policy and stored people resolve to, read
/// in ONE statement before the insert.
async fn resolve(
    client: &Client,
    tenant_id: uuid::Uuid,
    escalation: &NewEscalation,
) -> Result<Resolved, IngestError> {
    let (name, ids): (Option<&str>, Vec<&str>) = match &escalation.policy {
        PolicySource::Given { stored_people, .. } if stored_people.is_empty() => {
            return crate::domain::escalation::resolve(escalation, None, &Default::default())
                .map_err(IngestError::Invalid);
        }
        PolicySource::Given { stored_people, .. } => (
            None,
            stored_people.iter().map(|(_, id)| id.as_str()).collect(),
        ),
        PolicySource::Stored(name) => (Some(name.as_str()), Vec::new()),
    };
    let found = policies::lookup(client, tenant_id, name, &ids).await?;
    let stored = found.policy.map(|p| (p.name, p.version, p.policy));
    crate::domain::escalation::resolve(escalation, stored, &found.people)
        .map_err(IngestError::Invalid)
}
