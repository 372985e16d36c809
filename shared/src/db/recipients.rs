//! Recipients as a resource: `PUT`, `GET`, list and `DELETE /v1/recipients/{id}`.
//! Escalations still upsert the people they name (`db::escalations::create`); these are
//! the API's own statements. An erased person keeps a tombstone row (the tenant's id for
//! them, `erased_at`) so delivery and audit rows keep pointing at an id.

use anyhow::Context;
use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::Json;
use uuid::Uuid;

use super::{Actor, Client};
use crate::domain::NewRecipient;
use crate::domain::policy::reason;
use crate::domain::quiet_hours::WindowSpec;

/// A stored person, as the API shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub external_id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub slack_user_id: Option<String>,
    pub push_endpoint_arn: Option<String>,
    pub timezone: Option<String>,
    pub quiet_hours: Vec<WindowSpec>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "r.external_id, r.name, r.email, r.phone, r.slack_user_id, \
    r.push_endpoint_arn, r.timezone, r.quiet_hours, r.created_at, r.updated_at";

impl TryFrom<&Row> for Recipient {
    type Error = anyhow::Error;

    fn try_from(row: &Row) -> anyhow::Result<Self> {
        Ok(Self {
            external_id: row.try_get("external_id")?,
            name: row.try_get("name")?,
            email: row.try_get("email")?,
            phone: row.try_get("phone")?,
            slack_user_id: row.try_get("slack_user_id")?,
            push_endpoint_arn: row.try_get("push_endpoint_arn")?,
            timezone: row.try_get("timezone")?,
            quiet_hours: row
                .try_get::<_, Option<Json<Vec<WindowSpec>>>>("quiet_hours")?
                .map(|Json(w)| w)
                .unwrap_or_default(),
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

/// What [`put`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Put {
    /// Stored; `created` when the tenant had nobody (or only an erased person) by the id.
    Stored {
        recipient: Box<Recipient>,
        created: bool,
    },
    /// The Slack id is another recipient's connected account: nothing was written.
    SlackIdTaken,
}

/// Creates or replaces the person (every field: one left out is cleared). A person who
/// connected their Slack account keeps the Slack id Slack reported; a Slack id another
/// recipient connected is refused. Putting an erased person's id back makes them anew.
#[tracing::instrument(name = "put recipient", skip_all)]
pub async fn put(client: &Client, tenant_id: Uuid, person: &NewRecipient) -> anyhow::Result<Put> {
    let stmt = client
        .prepare_cached(&format!(
            r#"
            WITH existing AS (
                SELECT id, erased_at IS NOT NULL AS erased FROM recipients
                WHERE tenant_id = $1 AND external_id = $2
            ), taken AS (
                SELECT 1 FROM slack_connections s
                WHERE s.tenant_id = $1 AND s.slack_user_id = $6
                  AND s.recipient_id IS DISTINCT FROM (SELECT id FROM existing)
            )
            INSERT INTO recipients AS r
                (tenant_id, external_id, name, email, phone, slack_user_id, push_endpoint_arn,
                 timezone, quiet_hours)
            SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9
            WHERE NOT EXISTS (SELECT 1 FROM taken)
            ON CONFLICT (tenant_id, external_id) DO UPDATE SET
                name = EXCLUDED.name,
                email = EXCLUDED.email,
                phone = EXCLUDED.phone,
                slack_user_id = COALESCE(
                    (SELECT s.slack_user_id FROM slack_connections s WHERE s.recipient_id = r.id),
                    EXCLUDED.slack_user_id),
                push_endpoint_arn = EXCLUDED.push_endpoint_arn,
                timezone = EXCLUDED.timezone,
                quiet_hours = EXCLUDED.quiet_hours,
                erased_at = NULL,
                updated_at = now()
            RETURNING {COLUMNS},
                      r.xmax = 0 OR COALESCE((SELECT erased FROM existing), false) AS created
            "#
        ))
        .await?;
    let quiet_hours = person
        .quiet_hours
        .as_ref()
        .filter(|w| !w.is_empty())
        .map(Json);
    let row = client
        .query_opt(
            &stmt,
            &[
                &tenant_id,
                &person.external_id,
                &person.name,
                &person.email.as_ref().map(|e| e.as_str()),
                &person.phone.as_ref().map(|p| p.as_str()),
                &person.slack_user_id.as_ref().map(|s| s.as_str()),
                &person.push_endpoint_arn.as_ref().map(|a| a.as_str()),
                &person.timezone,
                &quiet_hours,
            ],
        )
        .await
        .context("storing the recipient")?;
    let Some(row) = row else {
        return Ok(Put::SlackIdTaken);
    };
    Ok(Put::Stored {
        recipient: Box::new(Recipient::try_from(&row)?),
        created: row.try_get("created")?,
    })
}

/// The tenant's person by their id; `None` for an unknown or erased one.
#[tracing::instrument(name = "get recipient", skip_all)]
pub async fn get(
    client: &Client,
    tenant_id: Uuid,
    external_id: &str,
) -> anyhow::Result<Option<Recipient>> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM recipients r \
             WHERE r.tenant_id = $1 AND r.external_id = $2 AND r.erased_at IS NULL"
        ))
        .await?;
    client
        .query_opt(&stmt, &[&tenant_id, &external_id])
        .await
        .context("reading the recipient")?
        .as_ref()
        .map(Recipient::try_from)
        .transpose()
}

/// Up to `limit` of the tenant's people by id, after `after` (keyset: `""` for the
/// first page), erased ones left out.
#[tracing::instrument(name = "list recipients", skip_all)]
pub async fn list(
    client: &Client,
    tenant_id: Uuid,
    after: &str,
    limit: i64,
) -> anyhow::Result<Vec<Recipient>> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM recipients r \
             WHERE r.tenant_id = $1 AND r.external_id > $2 AND r.erased_at IS NULL \
             ORDER BY r.external_id LIMIT $3"
        ))
        .await?;
    client
        .query(&stmt, &[&tenant_id, &after, &limit])
        .await
        .context("listing recipients")?
        .iter()
        .map(Recipient::try_from)
        .collect()
}

/// What erasing a person removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Erased {
    pub erased_at: DateTime<Utc>,
    /// Their deliveries not sent yet (queued, being sent, or with a retry to come): now
    /// `suppressed` / `recipient_erased`.
    pub suppressed_deliveries: i64,
    pub opt_outs: i64,
    /// Their Slack and Teams connections.
    pub connections: i64,
    /// Sealed credentials of theirs (a Teams webhook, OAuth tokens).
    pub credentials: i64,
    pub inbox_entries: i64,
    /// Magic-link tokens minted for them (used ones keep the IP that followed them).
    pub links: i64,
    pub sms_reply_codes: i64,
    /// Audit events they made, stripped of their IP, user agent and name.
    pub audit_events_scrubbed: i64,
}

/// Erases the tenant's person `external_id` in ONE statement: contact data, time zone
/// and quiet hours, connections, credentials, opt-outs, inbox, links and reply codes
/// are gone; their unsent deliveries are suppressed with a reason; the escalations they
/// answered and the audit events they made keep only their id; the erasure itself is
/// audited under `actor`. `None` when the tenant has no such (unerased) person.
#[tracing::instrument(name = "erase recipient", skip_all)]
pub async fn erase(
    client: &Client,
    tenant_id: Uuid,
    external_id: &str,
    actor: &Actor,
) -> anyhow::Result<Option<Erased>> {
    let stmt = client
        .prepare_cached(
            r#"
            WITH person AS (
                SELECT id, external_id FROM recipients
                WHERE tenant_id = $1 AND external_id = $2 AND erased_at IS NULL
                FOR UPDATE
            ), erased AS (
                UPDATE recipients AS r SET
                    name = NULL, email = NULL, phone = NULL, slack_user_id = NULL,
                    push_endpoint_arn = NULL, timezone = NULL, quiet_hours = NULL,
                    erased_at = now(), updated_at = now()
                FROM person p WHERE r.id = p.id
                RETURNING r.erased_at
            ), unsent AS (
                UPDATE notification_log AS n SET
                    status = 'suppressed', suppressed_reason = $3, next_attempt_at = NULL,
                    deferred_reason = NULL, lease_expires_at = NULL
                FROM person p
                WHERE n.recipient_id = p.id
                  AND (n.status IN ('queued', 'sending')
                       OR (n.status = 'failed' AND n.next_attempt_at IS NOT NULL))
                RETURNING n.id
            ), opt_outs_gone AS (
                DELETE FROM opt_outs o USING person p WHERE o.recipient_id = p.id RETURNING 1
            ), slack_gone AS (
                DELETE FROM slack_connections c USING person p WHERE c.recipient_id = p.id RETURNING 1
            ), teams_gone AS (
                DELETE FROM teams_connections c USING person p WHERE c.recipient_id = p.id RETURNING 1
            ), credentials_gone AS (
                DELETE FROM credentials c USING person p WHERE c.recipient_id = p.id RETURNING 1
            ), states_gone AS (
                DELETE FROM oauth_states s USING person p WHERE s.recipient_id = p.id
            ), inbox_gone AS (
                DELETE FROM notifications i USING person p WHERE i.recipient_id = p.id RETURNING 1
            ), links_gone AS (
                DELETE FROM magic_link_tokens t USING person p WHERE t.recipient_id = p.id RETURNING 1
            ), codes_gone AS (
                DELETE FROM sms_reply_codes k USING person p WHERE k.recipient_id = p.id RETURNING 1
            ), answered AS (
                UPDATE escalations AS e SET
                    acknowledged_by = CASE WHEN e.acknowledged_by_recipient_id = p.id
                                           THEN p.external_id ELSE e.acknowledged_by END,
                    resolved_by = CASE WHEN e.resolved_by_recipient_id = p.id
                                       THEN p.external_id ELSE e.resolved_by END
                FROM person p
                WHERE e.tenant_id = $1
                  AND (e.acknowledged_by_recipient_id = p.id OR e.resolved_by_recipient_id = p.id)
            ), scrubbed AS (
                UPDATE event_log AS l SET
                    actor_ip = NULL, actor_user_agent = NULL,
                    detail = CASE WHEN l.detail ? 'by' THEN jsonb_set(l.detail, '{by}', to_jsonb(l.actor_id))
                                  ELSE l.detail END
                FROM person p
                WHERE l.tenant_id = $1 AND l.actor_type = 'recipient' AND l.actor_id = p.external_id
                RETURNING 1
            ), audit AS (
                INSERT INTO event_log (tenant_id, event_type, actor_type, actor_id, detail)
                SELECT $1, 'recipient.erased', $4, $5,
                       jsonb_build_object('recipient', p.external_id,
                                          'suppressed_deliveries', (SELECT count(*) FROM unsent))
                FROM person p
            )
            SELECT (SELECT erased_at FROM erased) AS erased_at,
                   (SELECT count(*) FROM unsent) AS suppressed_deliveries,
                   (SELECT count(*) FROM opt_outs_gone) AS opt_outs,
                   (SELECT count(*) FROM slack_gone) + (SELECT count(*) FROM teams_gone) AS connections,
                   (SELECT count(*) FROM credentials_gone) AS credentials,
                   (SELECT count(*) FROM inbox_gone) AS inbox_entries,
                   (SELECT count(*) FROM links_gone) AS links,
                   (SELECT count(*) FROM codes_gone) AS sms_reply_codes,
                   (SELECT count(*) FROM scrubbed) AS audit_events_scrubbed
            FROM person
            "#,
        )
        .await?;
    let row = client
        .query_opt(
            &stmt,
            &[
                &tenant_id,
                &external_id,
                &reason::RECIPIENT_ERASED,
                &actor.kind.as_str(),
                &actor.id,
            ],
        )
        .await
        .context("erasing the recipient")?;
    row.map(|r| {
        Ok(Erased {
            erased_at: r.try_get("erased_at")?,
            suppressed_deliveries: r.try_get("suppressed_deliveries")?,
            opt_outs: r.try_get("opt_outs")?,
            connections: r.try_get("connections")?,
            credentials: r.try_get("credentials")?,
            inbox_entries: r.try_get("inbox_entries")?,
            links: r.try_get("links")?,
            sms_reply_codes: r.try_get("sms_reply_codes")?,
            audit_events_scrubbed: r.try_get("audit_events_scrubbed")?,
        })
    })
    .transpose()
}
