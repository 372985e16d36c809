//! Magic-link tokens: looked up and consumed by hash only.

use std::net::IpAddr;

use anyhow::Context;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::escalations::EscalationState;
use super::{Client, Transaction, parse_col};
use crate::domain::Action;
use crate::magic_link::TokenHash;

/// What a token points at, read without changing anything (for `GET /l/{token}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenView {
    pub action: Action,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub expired: bool,
    pub recipient_name: Option<String>,
    pub escalation: EscalationState,
}

#[tracing::instrument(skip_all)]
pub async fn inspect(client: &Client, hash: &TokenHash) -> anyhow::Result<Option<TokenView>> {
    let stmt = client
        .prepare_cached(
            r#"
            SELECT t.action, t.expires_at, t.used_at, t.expires_at <= now() AS expired, r.name AS recipient_name,
                   e.id, e.tenant_id, e.title, e.priority, e.service, e.status,
                   e.acknowledged_at, e.acknowledged_by, e.resolved_at, e.resolved_by
            FROM magic_link_tokens t
            JOIN escalations e ON e.id = t.escalation_id
            JOIN recipients r ON r.id = t.recipient_id
            WHERE t.token_hash = $1
            "#,
        )
        .await?;
    let Some(row) = client.query_opt(&stmt, &[&hash.as_slice()]).await? else {
        return Ok(None);
    };
    Ok(Some(TokenView {
        action: parse_col(&row, "action")?,
        expires_at: row.get("expires_at"),
        used_at: row.get("used_at"),
        expired: row.get("expired"),
        recipient_name: row.get("recipient_name"),
        escalation: EscalationState::from_row(&row)?,
    }))
}

/// A token consumed by this call (and only this one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedToken {
    pub tenant_id: Uuid,
    pub escalation_id: Uuid,
    pub recipient_id: Uuid,
    pub recipient_external_id: String,
    pub recipient_name: Option<String>,
    pub action: Action,
}

/// Marks the token used if it is unused and unexpired. Concurrent callers serialise on
/// the row: exactly one gets `Some`.
#[tracing::instrument(skip_all)]
pub async fn consume(
    tx: &Transaction<'_>,
    hash: &TokenHash,
    ip: Option<IpAddr>,
    user_agent: Option<&str>,
) -> anyhow::Result<Option<ConsumedToken>> {
    let stmt = tx
        .prepare_cached(
            r#"
            WITH t AS (
                UPDATE magic_link_tokens
                SET used_at = now(), used_ip = $2, used_user_agent = $3
                WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
                RETURNING tenant_id, escalation_id, recipient_id, action
            )
            SELECT t.*, r.external_id, r.name
            FROM t JOIN recipients r ON r.id = t.recipient_id
            "#,
        )
        .await?;
    let row = tx
        .query_opt(&stmt, &[&hash.as_slice(), &ip, &user_agent])
        .await
        .context("consuming a magic-link token")?;
    row.map(|row| {
        Ok(ConsumedToken {
            tenant_id: row.get("tenant_id"),
            escalation_id: row.get("escalation_id"),
            recipient_id: row.get("recipient_id"),
            recipient_external_id: row.get("external_id"),
            recipient_name: row.get("name"),
            action: parse_col(&row, "action")?,
        })
    })
    .transpose()
}
