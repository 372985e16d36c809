//! A person's opt-outs ([`crate::domain::opt_out`]). The dispatch claim reads them in its
//! own statement; these are the API's.

use anyhow::Context;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Client;
use crate::domain::opt_out::{NewOptOut, OptOutScope};

/// A stored opt-out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptOut {
    pub scope: OptOutScope,
    pub reason: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "o.channel, o.reason, o.expires_at, o.created_at, o.updated_at";

fn opt_out(row: &tokio_postgres::Row) -> anyhow::Result<OptOut> {
    let channel: &str = row.try_get("channel")?;
    Ok(OptOut {
        scope: OptOutScope::parse(channel)
            .map_err(|e| anyhow::anyhow!("opt_outs.channel {channel:?}: {}", e.message))?,
        reason: row.try_get("reason")?,
        expires_at: row.try_get("expires_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Stores (or replaces) the person's opt-out for its scope, making the recipient if the
/// tenant has none by that id yet (a person may opt out before their first page).
pub async fn put(
    client: &Client,
    tenant_id: Uuid,
    external_id: &str,
    new: &NewOptOut,
) -> anyhow::Result<OptOut> {
    let stmt = client
        .prepare_cached(&format!(
            r#"
            WITH r AS (
                INSERT INTO recipients (tenant_id, external_id) VALUES ($1, $2)
                ON CONFLICT (tenant_id, external_id) DO UPDATE SET external_id = EXCLUDED.external_id
                RETURNING id
            )
            INSERT INTO opt_outs AS o (recipient_id, tenant_id, channel, reason, expires_at)
            SELECT r.id, $1, $3, $4, $5 FROM r
            ON CONFLICT (recipient_id, channel) DO UPDATE SET
                reason = EXCLUDED.reason, expires_at = EXCLUDED.expires_at, updated_at = now()
            RETURNING {COLUMNS}
            "#
        ))
        .await?;
    let row = client
        .query_one(
            &stmt,
            &[
                &tenant_id,
                &external_id,
                &new.scope.as_str(),
                &new.reason,
                &new.expires_at,
            ],
        )
        .await
        .context("storing the opt-out")?;
    opt_out(&row)
}

/// The person's opt-outs, those that ran out included (they say when), by channel;
/// `None` when the tenant has no recipient by that id.
pub async fn list(
    client: &Client,
    tenant_id: Uuid,
    external_id: &str,
) -> anyhow::Result<Option<Vec<OptOut>>> {
    let stmt = client
        .prepare_cached(&format!(
            r#"
            SELECT r.id AS recipient, {COLUMNS}
            FROM recipients r
            LEFT JOIN opt_outs o ON o.recipient_id = r.id
            WHERE r.tenant_id = $1 AND r.external_id = $2
            ORDER BY o.channel
            "#
        ))
        .await?;
    let rows = client
        .query(&stmt, &[&tenant_id, &external_id])
        .await
        .context("listing opt-outs")?;
    if rows.is_empty() {
        return Ok(None);
    }
    rows.iter()
        .filter(|r| r.get::<_, Option<&str>>("channel").is_some())
        .map(opt_out)
        .collect::<anyhow::Result<_>>()
        .map(Some)
}

/// Removes the person's opt-out for `scope`; `false` when there was none.
pub async fn delete(
    client: &Client,
    tenant_id: Uuid,
    external_id: &str,
    scope: OptOutScope,
) -> anyhow::Result<bool> {
    let stmt = client
        .prepare_cached(
            r#"
            DELETE FROM opt_outs o USING recipients r
            WHERE o.recipient_id = r.id AND r.tenant_id = $1 AND r.external_id = $2
              AND o.channel = $3
            "#,
        )
        .await?;
    Ok(client
        .execute(&stmt, &[&tenant_id, &external_id, &scope.as_str()])
        .await
        .context("removing the opt-out")?
        == 1)
}
