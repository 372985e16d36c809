//! A tenant's message templates ([`crate::domain::template`]). The dispatch claim reads
//! them in its own statement; these are the API's.

use anyhow::Context;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Client;
use crate::domain::Channel;
use crate::domain::template::{Fields, Template};

/// A stored template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub channel: Channel,
    pub fields: Fields,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

const COLUMNS: &str = "channel, subject, text, html, updated_at, updated_by";

fn stored(row: &tokio_postgres::Row) -> anyhow::Result<Stored> {
    let channel: String = row.try_get("channel")?;
    Ok(Stored {
        channel: channel
            .parse()
            .map_err(|e| anyhow::anyhow!("templates.channel {channel:?}: {e}"))?,
        fields: Fields {
            subject: row.try_get("subject")?,
            text: row.try_get("text")?,
            html: row.try_get("html")?,
        },
        updated_at: row.try_get("updated_at")?,
        updated_by: row.try_get("updated_by")?,
    })
}

/// Stores (or replaces) the tenant's template for its channel.
pub async fn put(
    client: &Client,
    tenant_id: Uuid,
    template: &Template,
    by: &str,
) -> anyhow::Result<Stored> {
    let stmt = client
        .prepare_cached(&format!(
            "INSERT INTO templates AS t (tenant_id, channel, subject, text, html, updated_by) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (tenant_id, channel) DO UPDATE SET \
                 subject = EXCLUDED.subject, text = EXCLUDED.text, html = EXCLUDED.html, \
                 updated_at = now(), updated_by = EXCLUDED.updated_by \
             RETURNING {COLUMNS}"
        ))
        .await?;
    let fields = template.fields();
    let row = client
        .query_one(
            &stmt,
            &[
                &tenant_id,
                &template.channel().as_str(),
                &fields.subject,
                &fields.text,
                &fields.html,
                &by,
            ],
        )
        .await
        .context("storing the template")?;
    stored(&row)
}

/// The tenant's template for `channel`, if it has one.
pub async fn get(
    client: &Client,
    tenant_id: Uuid,
    channel: Channel,
) -> anyhow::Result<Option<Stored>> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM templates WHERE tenant_id = $1 AND channel = $2"
        ))
        .await?;
    client
        .query_opt(&stmt, &[&tenant_id, &channel.as_str()])
        .await?
        .as_ref()
        .map(stored)
        .transpose()
}

/// The tenant's templates, by channel.
pub async fn list(client: &Client, tenant_id: Uuid) -> anyhow::Result<Vec<Stored>> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM templates WHERE tenant_id = $1 ORDER BY channel"
        ))
        .await?;
    client
        .query(&stmt, &[&tenant_id])
        .await?
        .iter()
        .map(stored)
        .collect()
}

/// Removes the tenant's template for `channel` (its messages go back to Herald's
/// default); `false` when it had none.
pub async fn delete(client: &Client, tenant_id: Uuid, channel: Channel) -> anyhow::Result<bool> {
    let stmt = client
        .prepare_cached("DELETE FROM templates WHERE tenant_id = $1 AND channel = $2")
        .await?;
    Ok(client
        .execute(&stmt, &[&tenant_id, &channel.as_str()])
        .await?
        == 1)
}
