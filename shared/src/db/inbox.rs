//! The in-app inbox: one recipient's notifications, newest first, read through a keyset
//! cursor (stable under concurrent inserts: a page never repeats or skips a row that
//! existed when paging began). Every statement names the recipient by the tenant and the
//! caller's id, so another tenant's recipient is simply not found.

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use uuid::Uuid;

use super::Client;

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxItem {
    pub id: Uuid,
    pub escalation_id: Option<Uuid>,
    pub kind: String,
    pub title: String,
    pub message: String,
    pub priority: Option<String>,
    pub is_read: bool,
    pub read_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl InboxItem {
    fn from_row(r: &Row) -> Self {
        Self {
            id: r.get("id"),
            escalation_id: r.get("escalation_id"),
            kind: r.get("type"),
            title: r.get("title"),
            message: r.get("message"),
            priority: r.get("priority"),
            is_read: r.get("is_read"),
            read_at: r.get("read_at"),
            created_at: r.get("created_at"),
            expires_at: r.get("expires_at"),
        }
    }
}

/// Where the next page starts: just after this row in (created_at, id) order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!(
            "{}|{}",
            self.created_at.timestamp_micros(),
            self.id
        ))
    }

    pub fn decode(raw: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (micros, id) = text.split_once('|')?;
        Some(Self {
            created_at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            id: id.parse().ok()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<InboxItem>,
    pub next: Option<Cursor>,
}

const ITEM_COLUMNS: &str = "n.id, n.escalation_id, n.type, n.title, n.message, n.priority, \
    n.is_read, n.read_at, n.created_at, n.expires_at";

/// One page of the recipient's inbox (deleted and expired rows hidden); `None` if the
/// tenant has no such recipient.
#[tracing::instrument(name = "list inbox", skip_all)]
pub async fn list(
    client: &Client,
    tenant_id: Uuid,
    recipient: &str,
    unread_only: bool,
    limit: i64,
    after: Option<Cursor>,
) -> anyhow::Result<Option<Page>> {
    // Two fixed statements, not one with `$n OR …` switches: a pooled connection turns a
    // prepared statement into a generic plan after a few runs, and only a fixed
    // predicate lets that plan keep the partial unread index and the keyset bound.
    let unread_filter = if unread_only { "AND NOT n.is_read" } else { "" };
    let stmt = client
        .prepare_cached(&format!(
            r#"
            SELECT r.id AS recipient, {ITEM_COLUMNS}
            FROM recipients r
            LEFT JOIN LATERAL (
                SELECT * FROM notifications n
                WHERE n.recipient_id = r.id AND n.deleted_at IS NULL {unread_filter}
                  AND (n.created_at, n.id) < ($3, $4::uuid)
                  AND (n.expires_at IS NULL OR n.expires_at > now())
                ORDER BY n.created_at DESC, n.id DESC
                LIMIT $5
            ) n ON true
            WHERE r.tenant_id = $1 AND r.external_id = $2
            "#
        ))
        .await?;
    let limit = limit.clamp(1, MAX_LIMIT);
    // The first page starts after the newest possible row.
    let after = after.unwrap_or(Cursor {
        created_at: DateTime::from_timestamp(253_402_300_799, 0).unwrap_or_default(), // 9999-12-31
        id: Uuid::max(),
    });
    // One more than asked, to know whether there is a next page.
    let rows = client
        .query(
            &stmt,
            &[
                &tenant_id,
                &recipient,
                &after.created_at,
                &after.id,
                &(limit + 1),
            ],
        )
        .await
        .context("listing the inbox")?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut items: Vec<InboxItem> = rows
        .iter()
        .filter(|r| r.get::<_, Option<Uuid>>("id").is_some())
        .map(InboxItem::from_row)
        .collect();
    let next = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|last| Cursor {
            created_at: last.created_at,
            id: last.id,
        })
    } else {
        None
    };
    Ok(Some(Page { items, next }))
}

/// Unread, undeleted, unexpired rows (served by the partial unread index); `None` if
/// the tenant has no such recipient.
#[tracing::instrument(name = "count unread", skip_all)]
pub async fn unread_count(
    client: &Client,
    tenant_id: Uuid,
    recipient: &str,
) -> anyhow::Result<Option<i64>> {
    let stmt = client
        .prepare_cached(
            r#"
            SELECT (SELECT count(*) FROM notifications n
                    WHERE n.recipient_id = r.id AND NOT n.is_read AND n.deleted_at IS NULL
                      AND (n.expires_at IS NULL OR n.expires_at > now()))
            FROM recipients r
            WHERE r.tenant_id = $1 AND r.external_id = $2
            "#,
        )
        .await?;
    Ok(client
        .query_opt(&stmt, &[&tenant_id, &recipient])
        .await?
        .map(|r| r.get(0)))
}

/// Marks one row read (again is a no-op that keeps the first `read_at`); `None` if the
/// recipient has no such (undeleted) row.
#[tracing::instrument(name = "mark read", skip_all)]
pub async fn mark_read(
    client: &Client,
    tenant_id: Uuid,
    recipient: &str,
    id: Uuid,
) -> anyhow::Result<Option<InboxItem>> {
    let stmt = client
        .prepare_cached(&format!(
            r#"
            UPDATE notifications n SET is_read = true, read_at = COALESCE(n.read_at, now())
            FROM recipients r
            WHERE r.tenant_id = $1 AND r.external_id = $2 AND n.recipient_id = r.id
              AND n.id = $3 AND n.deleted_at IS NULL
            RETURNING {ITEM_COLUMNS}
            "#
        ))
        .await?;
    Ok(client
        .query_opt(&stmt, &[&tenant_id, &recipient, &id])
        .await?
        .map(|r| InboxItem::from_row(&r)))
}

/// Marks every unread row read; the count changed, or `None` if the tenant has no such
/// recipient.
#[tracing::instrument(name = "mark all read", skip_all)]
pub async fn mark_all_read(
    client: &Client,
    tenant_id: Uuid,
    recipient: &str,
) -> anyhow::Result<Option<i64>> {
    let stmt = client
        .prepare_cached(
            r#"
            WITH r AS (
                SELECT id FROM recipients WHERE tenant_id = $1 AND external_id = $2
            ), changed AS (
                UPDATE notifications SET is_read = true, read_at = now()
                WHERE recipient_id IN (SELECT id FROM r) AND NOT is_read AND deleted_at IS NULL
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM r) AS recipients, (SELECT count(*) FROM changed) AS changed
            "#,
        )
        .await?;
    let row = client.query_one(&stmt, &[&tenant_id, &recipient]).await?;
    Ok((row.get::<_, i64>("recipients") > 0).then(|| row.get("changed")))
}

/// Soft-deletes one row (hidden from every read; retention removes it later); `false` if
/// the recipient has no such row.
#[tracing::instrument(name = "delete inbox row", skip_all)]
pub async fn delete(
    client: &Client,
    tenant_id: Uuid,
    recipient: &str,
    id: Uuid,
) -> anyhow::Result<bool> {
    let stmt = client
        .prepare_cached(
            r#"
            UPDATE notifications n SET deleted_at = COALESCE(n.deleted_at, now())
            FROM recipients r
            WHERE r.tenant_id = $1 AND r.external_id = $2 AND n.recipient_id = r.id AND n.id = $3
            "#,
        )
        .await?;
    Ok(client
        .execute(&stmt, &[&tenant_id, &recipient, &id])
        .await?
        > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = Cursor {
            created_at: DateTime::from_timestamp_micros(1_795_317_135_042_123).expect("time"),
            id: Uuid::from_u128(42),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        for bad in [
            "",
            "!!!",
            "bm90LWEtY3Vyc29y",
            &URL_SAFE_NO_PAD.encode("1|nope"),
        ] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }
}
