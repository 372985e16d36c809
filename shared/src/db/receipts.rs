//! Delivery receipts applied to the store ([`apply`]), and the tenant's suppression list
//! they feed ([`list_suppressions`], [`remove_suppression`]).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Client;
use crate::domain::Channel;
use crate::domain::receipt::Receipt;

/// What one batch of receipts did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// For each receipt given, in order: whether a row carries its message id.
    pub matched: Vec<bool>,
    /// Rows whose status changed (`sent` -> `delivered`, `sent|delivered` -> `failed`).
    pub changed: u64,
    /// Addresses newly on a suppression list.
    pub suppressed: u64,
    /// Escalations made due now because a delivery failed after it was sent.
    pub woken: u64,
}

const APPLY: &str = r#"
    WITH r AS (
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::smallint[], $5::text[],
                             $6::timestamptz[], $7::text[])
                 WITH ORDINALITY AS r(channel, message_id, verdict, rank, status, at, detail, i)
    ), matched AS MATERIALIZED (
        -- Only rows a provider took: `sent`, or already settled by an earlier receipt. A
        -- pending row (queued, or failed with a retry due) is the acknowledgement's to
        -- suppress, so the two never lock the same rows.
        SELECT n.id, n.tenant_id, n.escalation_id, n.status AS was, r.*
        FROM r JOIN notification_log n
               ON n.provider_message_id = r.message_id AND n.channel = r.channel
        -- Said again as a condition on the table alone: a join clause does not prove the
        -- partial index's predicate, and without this line the bench measured 47 ms a
        -- batch at 200,000 rows (see the README's receipts figures).
        WHERE n.provider_message_id = ANY($2::text[])
          AND (n.status IN ('sent', 'delivered') OR n.receipt IS NOT NULL)
        ORDER BY n.id
        FOR UPDATE OF n
    ), updated AS (
        -- Latest state wins (domain::receipt::Verdict::rank): sent 0, delivered 1, failed 2.
        UPDATE notification_log AS n SET
            status = m.status,
            receipt = m.verdict,
            receipt_at = m.at,
            delivered_at = CASE WHEN m.status = 'delivered' THEN m.at ELSE n.delivered_at END,
            error = CASE WHEN m.status = 'failed' THEN m.detail ELSE n.error END,
            retryable = CASE WHEN m.status = 'failed' THEN false ELSE n.retryable END,
            next_attempt_at = NULL
        FROM matched m
        WHERE n.id = m.id AND m.status IS NOT NULL
          AND CASE n.status WHEN 'sent' THEN 0 WHEN 'delivered' THEN 1 ELSE 2 END < m.rank
        RETURNING n.id, n.tenant_id, n.escalation_id, n.channel, n.status, m.verdict, m.detail,
                  m.message_id
    ), listed AS (
        INSERT INTO suppressions (tenant_id, channel, address, reason, detail, provider_message_id)
        SELECT DISTINCT ON (m.tenant_id, m.channel, s.address)
               m.tenant_id, m.channel, s.address,
               CASE m.verdict WHEN 'complained' THEN 'complained' ELSE 'bounced' END,
               m.detail, m.message_id
        FROM unnest($8::bigint[], $9::text[]) AS s(i, address)
        JOIN matched m ON m.i = s.i
        ORDER BY m.tenant_id, m.channel, s.address
        ON CONFLICT (tenant_id, channel, address) DO NOTHING
        RETURNING 1
    ), failed AS MATERIALIZED (
        SELECT DISTINCT escalation_id FROM updated WHERE status = 'failed'
    ), woken AS (
        -- Nobody was reached by this message: the escalation looks again now instead of
        -- waiting out its delay (the engine's planner decides what that means). Waits
        -- for the lock rather than skipping it: an engine run holding it may have read
        -- the row before this failure, and would otherwise leave the step at its timer.
        -- No deadlock: the rows locked above are ones an acknowledgement never touches.
        UPDATE escalations AS e SET next_escalation_at = now()
        FROM (SELECT x.id FROM failed f JOIN escalations x ON x.id = f.escalation_id
              WHERE CASE x.status WHEN 'triggered' THEN x.next_escalation_at > now()
                                  ELSE false END
              ORDER BY x.id
              FOR UPDATE OF x) AS due
        WHERE e.id = due.id
        RETURNING 1
    ), evt AS (
        INSERT INTO event_log (tenant_id, escalation_id, notification_id, event_type, actor_type,
                               actor_id, detail)
        SELECT tenant_id, escalation_id, id, 'notification.' || verdict, 'system', 'feedback-' || channel,
               jsonb_strip_nulls(jsonb_build_object('provider_message_id', message_id, 'detail', detail))
        FROM updated
        -- Deliveries are many and say what the row says; the audit keeps what went wrong.
        WHERE verdict <> 'delivered'
    )
    SELECT ARRAY(SELECT DISTINCT i FROM matched ORDER BY i) AS matched,
           (SELECT count(*) FROM updated) AS changed,
           (SELECT count(*) FROM listed) AS suppressed,
           (SELECT count(*) FROM woken) AS woken
"#;

/// Applies a batch of receipts (one per message: see
/// [`crate::domain::receipt::settle`]) in ONE statement: matches each to its row by the
/// provider's message id, moves the row forward in latest-state-wins order, puts bad
/// addresses on the row's tenant's suppression list, makes the escalations of rows that
/// failed due now, and audits what went wrong.
#[tracing::instrument(name = "apply receipts", skip_all, fields(receipts = receipts.len()))]
pub async fn apply(client: &Client, receipts: &[Receipt]) -> anyhow::Result<Applied> {
    let stmt = client.prepare_cached(APPLY).await?;
    let channels: Vec<&str> = receipts.iter().map(|r| r.channel.as_str()).collect();
    let ids: Vec<&str> = receipts
        .iter()
        .map(|r| r.provider_message_id.as_str())
        .collect();
    let verdicts: Vec<&str> = receipts.iter().map(|r| r.verdict.as_str()).collect();
    let ranks: Vec<i16> = receipts.iter().map(|r| r.verdict.rank()).collect();
    let statuses: Vec<Option<&str>> = receipts
        .iter()
        .map(|r| r.verdict.status().map(|s| s.as_str()))
        .collect();
    let at: Vec<DateTime<Utc>> = receipts.iter().map(|r| r.at).collect();
    let details: Vec<Option<String>> = receipts.iter().map(|r| r.detail.clone()).collect();
    let (mut which, mut addresses) = (Vec::new(), Vec::new());
    for (i, r) in receipts.iter().enumerate() {
        for address in &r.suppress {
            which.push(i64::try_from(i + 1).unwrap_or(i64::MAX));
            addresses.push(address.as_str());
        }
    }
    let row = client
        .query_one(
            &stmt,
            &[
                &channels, &ids, &verdicts, &ranks, &statuses, &at, &details, &which, &addresses,
            ],
        )
        .await?;
    let matched: Vec<i64> = row.get("matched");
    Ok(Applied {
        matched: (1..=receipts.len())
            .map(|i| {
                matched
                    .binary_search(&i64::try_from(i).unwrap_or(i64::MAX))
                    .is_ok()
            })
            .collect(),
        changed: u64::try_from(row.get::<_, i64>("changed")).unwrap_or_default(),
        suppressed: u64::try_from(row.get::<_, i64>("suppressed")).unwrap_or_default(),
        woken: u64::try_from(row.get::<_, i64>("woken")).unwrap_or_default(),
    })
}

/// One entry of a tenant's suppression list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Suppression {
    pub channel: Channel,
    pub address: String,
    pub reason: String,
    pub detail: Option<String>,
    pub provider_message_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Where a page of the list ends: the next page starts after it.
pub type SuppressionCursor = (DateTime<Utc>, String, String);

/// A page of the tenant's suppression list, newest first, optionally of one channel.
pub async fn list_suppressions(
    client: &Client,
    tenant_id: Uuid,
    channel: Option<Channel>,
    after: Option<&SuppressionCursor>,
    limit: i64,
) -> anyhow::Result<Vec<Suppression>> {
    let stmt = client
        .prepare_cached(
            r#"
            SELECT channel, address, reason, detail, provider_message_id, created_at
            FROM suppressions
            WHERE tenant_id = $1
              AND ($2::text IS NULL OR channel = $2)
              AND ($3::timestamptz IS NULL OR (created_at, channel, address) < ($3, $4, $5))
            ORDER BY created_at DESC, channel DESC, address DESC
            LIMIT $6
            "#,
        )
        .await?;
    let (at, cursor_channel, cursor_address) = match after {
        Some((at, channel, address)) => (Some(*at), Some(channel.as_str()), Some(address.as_str())),
        None => (None, None, None),
    };
    let rows = client
        .query(
            &stmt,
            &[
                &tenant_id,
                &channel.map(Channel::as_str),
                &at,
                &cursor_channel,
                &cursor_address,
                &limit,
            ],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Suppression {
                channel: super::parse_col(r, "channel")?,
                address: r.get("address"),
                reason: r.get("reason"),
                detail: r.get("detail"),
                provider_message_id: r.get("provider_message_id"),
                created_at: r.get("created_at"),
            })
        })
        .collect()
}

/// Takes an address off the tenant's list for `channel`; `false` when it was not on it.
pub async fn remove_suppression(
    client: &Client,
    tenant_id: Uuid,
    channel: Channel,
    address: &str,
) -> anyhow::Result<bool> {
    let stmt = client
        .prepare_cached(
            "DELETE FROM suppressions WHERE tenant_id = $1 AND channel = $2 AND address = $3",
        )
        .await?;
    Ok(client
        .execute(&stmt, &[&tenant_id, &channel.as_str(), &address])
        .await?
        == 1)
}
