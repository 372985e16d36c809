//! `admin_system_events`: raised inside the statements that notice them (the record
//! statement, the engine's apply, Slack's revocations) with [`RAISE`], listed and
//! resolved here. See [`crate::domain::system_events`] for what each kind means.

use anyhow::Context;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Client;
use crate::domain::Channel;

/// The tail of every `INSERT INTO admin_system_events AS a …`: a repeat of an open event
/// (same tenant, kind and subject) counts on it instead of opening another.
pub(crate) const RAISE: &str = "ON CONFLICT (tenant_id, kind, subject) WHERE resolved_at IS NULL \
     DO UPDATE SET occurrences = a.occurrences + 1, last_seen_at = now(), \
     detail = EXCLUDED.detail, severity = EXCLUDED.severity";

#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct SystemEvent {
    pub id: Uuid,
    /// `false`: about Herald itself (every tenant sees it).
    pub tenant_scoped: bool,
    pub kind: String,
    #[schema(value_type = crate::domain::system_events::Severity)]
    pub severity: String,
    pub subject: String,
    pub title: String,
    pub detail: serde_json::Value,
    pub occurrences: i32,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
}

/// Which events to list.
#[derive(Debug, Clone, Default)]
pub struct Filter<'a> {
    pub severity: Option<&'a str>,
    pub unresolved: bool,
    /// `Some(true)`: the tenant's own only; `Some(false)`: Herald's own only.
    pub tenant_scoped: Option<bool>,
    /// Newest first: events last seen before this one (`last_seen_at`, `id`).
    pub before: Option<(DateTime<Utc>, Uuid)>,
}

fn event(r: &tokio_postgres::Row) -> SystemEvent {
    SystemEvent {
        id: r.get("id"),
        tenant_scoped: r.get::<_, Option<Uuid>>("tenant_id").is_some(),
        kind: r.get("kind"),
        severity: r.get("severity"),
        subject: r.get("subject"),
        title: r.get("title"),
        detail: r.get("detail"),
        occurrences: r.get("occurrences"),
        first_seen_at: r.get("first_seen_at"),
        last_seen_at: r.get("last_seen_at"),
        resolved_at: r.get("resolved_at"),
        resolved_by: r.get("resolved_by"),
    }
}

const COLUMNS: &str = "id, tenant_id, kind, severity, subject, title, detail, occurrences, \
                       first_seen_at, last_seen_at, resolved_at, resolved_by";

/// The tenant's events and Herald's own, newest first.
pub async fn list(
    client: &Client,
    tenant_id: Uuid,
    filter: &Filter<'_>,
    limit: i64,
) -> anyhow::Result<Vec<SystemEvent>> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM admin_system_events \
             WHERE (tenant_id = $1 OR tenant_id IS NULL) \
               AND ($2::text IS NULL OR severity = $2) \
               AND (NOT $3 OR resolved_at IS NULL) \
               AND ($4::timestamptz IS NULL OR (last_seen_at, id) < ($4, $5)) \
               AND ($7::bool IS NULL OR (tenant_id IS NOT NULL) = $7) \
             ORDER BY last_seen_at DESC, id DESC LIMIT $6"
        ))
        .await?;
    let (at, id) = filter.before.unzip();
    let rows = client
        .query(
            &stmt,
            &[
                &tenant_id,
                &filter.severity,
                &filter.unresolved,
                &at,
                &id,
                &limit,
                &filter.tenant_scoped,
            ],
        )
        .await?;
    Ok(rows.iter().map(event).collect())
}

/// Resolves one of the tenant's own open events; `None` when it has no such open event
/// (Herald's own events are resolved by Herald).
pub async fn resolve(
    client: &Client,
    tenant_id: Uuid,
    id: Uuid,
    by: &str,
) -> anyhow::Result<Option<SystemEvent>> {
    let stmt = client
        .prepare_cached(&format!(
            "UPDATE admin_system_events SET resolved_at = now(), resolved_by = $3 \
             WHERE id = $2 AND tenant_id = $1 AND resolved_at IS NULL RETURNING {COLUMNS}"
        ))
        .await?;
    Ok(client
        .query_opt(&stmt, &[&tenant_id, &id, &by])
        .await?
        .as_ref()
        .map(event))
}

/// What the retry sweep saw in the dead-letter queues, in one statement: a channel whose
/// DLQ holds messages opens (or counts on) Herald's `dlq_messages` event for it, one
/// whose DLQ is empty again resolves it. Returns how many of the channels' DLQs hold messages.
pub async fn dead_letters(client: &Client, depths: &[(Channel, i64)]) -> anyhow::Result<i64> {
    let stmt = client
        .prepare_cached(&format!(
            "WITH d AS (SELECT * FROM unnest($1::text[], $2::bigint[]) AS d(channel, depth)), \
             raised AS ( \
                 INSERT INTO admin_system_events AS a (tenant_id, kind, severity, subject, title, detail) \
                 SELECT NULL, 'dlq_messages', 'warning', channel, \
                        'Messages are waiting in the ' || channel || ' dead-letter queue', \
                        jsonb_build_object('messages', depth) \
                 FROM d WHERE depth > 0 \
                 {RAISE} RETURNING 1 \
             ), cleared AS ( \
                 UPDATE admin_system_events SET resolved_at = now(), resolved_by = 'herald' \
                 WHERE tenant_id IS NULL AND kind = 'dlq_messages' AND resolved_at IS NULL \
                   AND subject IN (SELECT channel FROM d WHERE depth = 0) \
             ) \
             SELECT count(*) FROM raised"
        ))
        .await?;
    let channels: Vec<&str> = depths.iter().map(|(c, _)| c.as_str()).collect();
    let counts: Vec<i64> = depths.iter().map(|(_, n)| *n).collect();
    Ok(client
        .query_one(&stmt, &[&channels, &counts])
        .await
        .context("recording dead-letter queue depths")?
        .get(0))
}
