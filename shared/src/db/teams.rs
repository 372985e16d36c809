//! Teams webhooks, kept sealed in `credentials` (see [`crate::secrets`]): registered
//! and removed through the API, read only by the claim of the Teams dispatcher.

use anyhow::Context;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Client;
use crate::secrets::Sealed;

/// Whose webhook it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookOwner {
    /// A recipient, by the caller's id for them.
    Recipient(String),
    /// A team (the escalation's `team`), for recipients without one of their own.
    Team(String),
}

/// What the API shows of a stored webhook: never the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookInfo {
    pub host: String,
    pub key_id: String,
    pub updated_at: DateTime<Utc>,
}

/// The recipient's internal id, for sealing a value to them. A recipient not seen yet is
/// created with only the caller's id (a webhook may be registered before the first
/// page; the first escalation naming them fills in the rest).
#[tracing::instrument(skip_all)]
pub async fn ensure_recipient(
    client: &Client,
    tenant_id: Uuid,
    external_id: &str,
) -> anyhow::Result<Uuid> {
    let stmt = client
        .prepare_cached(
            r#"
            INSERT INTO recipients (tenant_id, external_id) VALUES ($1, $2)
            ON CONFLICT (tenant_id, external_id) DO UPDATE SET external_id = EXCLUDED.external_id
            RETURNING id
            "#,
        )
        .await?;
    Ok(client
        .query_one(&stmt, &[&tenant_id, &external_id])
        .await
        .context("finding the recipient")?
        .get(0))
}

/// Stores (or replaces) a webhook. `recipient` is the internal id for a recipient's
/// webhook (the caller checked it exists in this tenant), `None` for a team's.
#[tracing::instrument(name = "store teams webhook", skip_all)]
pub async fn upsert(
    client: &Client,
    tenant_id: Uuid,
    recipient: Option<Uuid>,
    team: Option<&str>,
    sealed: &Sealed,
    host: &str,
) -> anyhow::Result<WebhookInfo> {
    let sql = if recipient.is_some() {
        r#"
        INSERT INTO credentials (tenant_id, kind, recipient_id, team, key_id, ciphertext, hint)
        VALUES ($1, 'teams_webhook', $2, $3, $4, $5, $6)
        ON CONFLICT (recipient_id, kind) WHERE recipient_id IS NOT NULL DO UPDATE SET
            key_id = EXCLUDED.key_id, ciphertext = EXCLUDED.ciphertext, hint = EXCLUDED.hint,
            updated_at = now()
        RETURNING hint AS host, key_id, updated_at
        "#
    } else {
        r#"
        INSERT INTO credentials (tenant_id, kind, recipient_id, team, key_id, ciphertext, hint)
        VALUES ($1, 'teams_webhook', $2, $3, $4, $5, $6)
        ON CONFLICT (tenant_id, team, kind) WHERE team IS NOT NULL DO UPDATE SET
            key_id = EXCLUDED.key_id, ciphertext = EXCLUDED.ciphertext, hint = EXCLUDED.hint,
            updated_at = now()
        RETURNING hint AS host, key_id, updated_at
        "#
    };
    let stmt = client.prepare_cached(sql).await?;
    let row = client
        .query_one(
            &stmt,
            &[
                &tenant_id,
                &recipient,
                &team,
                &sealed.key_id,
                &sealed.bytes,
                &host,
            ],
        )
        .await
        .context("storing the Teams webhook")?;
    Ok(WebhookInfo {
        host: row.get("host"),
        key_id: row.get("key_id"),
        updated_at: row.get("updated_at"),
    })
}

/// Removes a webhook; `false` if there was none.
#[tracing::instrument(name = "remove teams webhook", skip_all)]
pub async fn delete(
    client: &Client,
    tenant_id: Uuid,
    owner: &WebhookOwner,
) -> anyhow::Result<bool> {
    let (sql, key) = match owner {
        WebhookOwner::Recipient(external_id) => (
            r#"
            DELETE FROM credentials w USING recipients r
            WHERE w.kind = 'teams_webhook' AND w.recipient_id = r.id
              AND r.tenant_id = $1 AND r.external_id = $2
            "#,
            external_id.as_str(),
        ),
        WebhookOwner::Team(team) => (
            "DELETE FROM credentials WHERE kind = 'teams_webhook' AND tenant_id = $1 AND team = $2",
            team.as_str(),
        ),
    };
    let stmt = client.prepare_cached(sql).await?;
    Ok(client.execute(&stmt, &[&tenant_id, &key]).await? > 0)
}
