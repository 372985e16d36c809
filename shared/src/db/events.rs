use anyhow::Context;
use uuid::Uuid;

use super::Actor;

/// Appends one audit row. Usually called inside the transaction that made the change.
#[tracing::instrument(skip_all, fields(event_type))]
pub async fn append(
    client: &deadpool_postgres::Transaction<'_>,
    tenant_id: Uuid,
    escalation_id: Option<Uuid>,
    event_type: &str,
    actor: &Actor,
    detail: serde_json::Value,
) -> anyhow::Result<()> {
    let stmt = client
        .prepare_cached(
            r#"
            INSERT INTO event_log
                (tenant_id, escalation_id, event_type, actor_type, actor_id, actor_ip, actor_user_agent, detail)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            "#,
        )
        .await?;
    client
        .execute(
            &stmt,
            &[
                &tenant_id,
                &escalation_id,
                &event_type,
                &actor.kind.as_str(),
                &actor.id,
                &actor.ip,
                &actor.user_agent,
                &detail,
            ],
        )
        .await
        .context("appending to event_log")?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub event_type: String,
    pub actor_type: String,
    pub actor_id: Option<String>,
    pub actor_ip: Option<std::net::IpAddr>,
    pub actor_user_agent: Option<String>,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
}

/// The audit trail of one escalation, oldest first.
#[tracing::instrument(skip_all)]
pub async fn for_escalation(
    client: &super::Client,
    escalation_id: Uuid,
) -> anyhow::Result<Vec<EventRow>> {
    let rows = client
        .query(
            r#"
            SELECT event_type, actor_type, actor_id, actor_ip, actor_user_agent, occurred_at
            FROM event_log
            WHERE escalation_id = $1
            ORDER BY occurred_at, id
            "#,
            &[&escalation_id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| EventRow {
            event_type: r.get("event_type"),
            actor_type: r.get("actor_type"),
            actor_id: r.get("actor_id"),
            actor_ip: r.get("actor_ip"),
            actor_user_agent: r.get("actor_user_agent"),
            occurred_at: r.get("occurred_at"),
        })
        .collect())
}
