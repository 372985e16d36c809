use anyhow::Context;
use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::Json;
use uuid::Uuid;

use super::{Actor, Client, Transaction, parse_col, to_i32};
use crate::domain::engine::Plan;
use crate::domain::escalation::Resolved;
use crate::domain::policy::reason;
use crate::domain::{
    Action, Channel, EscalationPolicy, EscalationStatus, NewEscalation, NotificationStatus,
    Priority, Tier,
};

/// What ingest answers: the escalation and its first wave of notifications.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationSummary {
    pub id: Uuid,
    pub status: EscalationStatus,
    pub notifications: Vec<NotificationSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationSummary {
    pub id: Uuid,
    /// The caller's id for the recipient.
    pub recipient_id: String,
    pub channel: Channel,
    pub status: NotificationStatus,
    pub suppressed_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// A new escalation; its queued notifications must be enqueued.
    New(EscalationSummary),
    /// An open escalation with the same dedup key already exists; nothing was written.
    Duplicate(EscalationSummary),
}

/// Writes the escalation, upserts its recipients, and writes its notification rows and
/// the audit event, all in ONE statement (so one transaction and one round trip). When
/// an open escalation already holds the dedup key, nothing at all is written (the
/// recipients upsert is conditional on the escalation insert) and the existing one is
/// returned.
#[tracing::instrument(name = "store escalation", skip_all, fields(tenant_id = %tenant_id))]
pub async fn create(
    client: &Client,
    tenant_id: Uuid,
    escalation: &NewEscalation,
    resolved: &Resolved,
    first_wave: &Plan,
    actor: &Actor,
) -> anyhow::Result<Created> {
    let planned = &first_wave.rows;
    let stmt = client
        .prepare_cached(
            r#"
            WITH esc AS (
                INSERT INTO escalations
                    (tenant_id, dedup_key, title, body, priority, service, team, alert_count,
                     dashboard_url, triggered_at, channel_policy, policy, current_level, current_round,
                     next_escalation_at, exhausted_at, urgency, policy_name, policy_version)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, COALESCE($10, now()), $11, $26, $27, $28,
                        now() + make_interval(secs => $29), CASE WHEN $29 IS NULL THEN now() END, $35,
                        $38, $39)
                ON CONFLICT (tenant_id, dedup_key) WHERE status <> 'resolved' DO NOTHING
                RETURNING id, status
            ), rcp AS (
                INSERT INTO recipients
                    (tenant_id, external_id, name, email, phone, slack_user_id, push_endpoint_arn, timezone,
                     quiet_hours)
                SELECT $1, r.external_id, r.name, r.email, r.phone,
                       -- A Slack id someone connected is theirs alone: a payload cannot
                       -- give it to another recipient (their own row keeps it below).
                       CASE WHEN EXISTS (SELECT 1 FROM slack_connections s
                                         WHERE s.tenant_id = $1 AND s.slack_user_id = r.slack_user_id)
                            THEN NULL ELSE r.slack_user_id END,
                       r.push_endpoint_arn, r.timezone, r.quiet_hours
                FROM unnest($12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[],
                            $36::jsonb[])
                     AS r(external_id, name, email, phone, slack_user_id, push_endpoint_arn, timezone, quiet_hours)
                WHERE EXISTS (SELECT 1 FROM esc)
                ON CONFLICT (tenant_id, external_id) DO UPDATE SET
                    name = EXCLUDED.name,
                    email = EXCLUDED.email,
                    phone = EXCLUDED.phone,
                    -- A connected person's Slack id is the one Slack reported; a
                    -- payload does not change it.
                    slack_user_id = COALESCE(
                        (SELECT s.slack_user_id FROM slack_connections s WHERE s.recipient_id = recipients.id),
                        EXCLUDED.slack_user_id),
                    push_endpoint_arn = EXCLUDED.push_endpoint_arn,
                    -- Absent from the payload: kept (quiet hours are set once, not on
                    -- every page; `[]` clears them).
                    timezone = COALESCE(EXCLUDED.timezone, recipients.timezone),
                    quiet_hours = COALESCE(EXCLUDED.quiet_hours, recipients.quiet_hours),
                    -- Paged again after being erased: the payload makes them anew.
                    erased_at = NULL,
                    updated_at = now()
                RETURNING id, external_id
            ), people AS (
                -- The request's people, and the stored ones its policy names besides.
                SELECT id, external_id FROM rcp
                UNION ALL
                SELECT r.id, r.external_id FROM recipients r
                WHERE r.tenant_id = $1 AND r.external_id = ANY($37::text[]) AND EXISTS (SELECT 1 FROM esc)
            ), ntf AS (
                INSERT INTO notification_log
                    (tenant_id, escalation_id, recipient_id, channel, level, round, tier, status, suppressed_reason,
                     next_attempt_at, sent_at, delivered_at)
                -- A queued row's next_attempt_at starts the outbox sweep's clock.
                SELECT $1, esc.id, people.id, n.channel, n.level, n.round, n.tier, n.status, n.reason,
                       CASE WHEN n.status = 'queued' THEN now() END,
                       CASE WHEN n.status = 'delivered' THEN now() END,
                       CASE WHEN n.status = 'delivered' THEN now() END
                FROM unnest($19::text[], $20::text[], $21::text[], $22::text[], $30::int[], $31::int[], $32::text[])
                     AS n(recipient_external_id, channel, status, reason, level, round, tier)
                JOIN people ON people.external_id = n.recipient_external_id
                CROSS JOIN esc
                RETURNING id, recipient_id, channel, status, suppressed_reason
            ), inbox AS (
                -- An in-app delivery is its inbox row: written here, so it is delivered
                -- the moment the escalation exists.
                INSERT INTO notifications
                    (tenant_id, recipient_id, escalation_id, notification_log_id, type, title, message, priority,
                     expires_at)
                SELECT $1, ntf.recipient_id, esc.id, ntf.id, 'escalation', $3, left($4, 2000), $5, $25
                FROM ntf CROSS JOIN esc
                WHERE ntf.channel = 'in_app' AND ntf.status = 'delivered'
            ), evt AS (
                INSERT INTO event_log (tenant_id, escalation_id, event_type, actor_type, actor_id, detail)
                SELECT $1, esc.id, 'escalation.triggered', $23, $24,
                       jsonb_build_object('priority', $5::text, 'dedup_key', $2::text)
                FROM esc
                UNION ALL
                -- The engine's steps of the first wave (level 0 fired, and any tier or
                -- level an unreachable first tier made due at once).
                SELECT $1, esc.id, s.event_type, 'system', 'engine', s.detail
                FROM esc, unnest($33::text[], $34::jsonb[]) AS s(event_type, detail)
            )
            SELECT esc.id AS escalation_id, esc.status AS escalation_status,
                   ntf.id, people.external_id AS recipient_id, ntf.channel, ntf.status, ntf.suppressed_reason
            FROM esc
            JOIN ntf ON true
            JOIN people ON people.id = ntf.recipient_id
            ORDER BY people.external_id, ntf.channel
            "#,
        )
        .await?;

    // Upserted in id order: two ingests sharing recipients lock them in the same order,
    // so they queue behind each other instead of deadlocking.
    let mut rs: Vec<&crate::domain::NewRecipient> = escalation.recipients.iter().collect();
    rs.sort_by(|a, b| a.external_id.cmp(&b.external_id));
    let texts = |f: fn(&crate::domain::NewRecipient) -> Option<String>| {
        rs.iter().map(|r| f(r)).collect::<Vec<_>>()
    };
    let external_ids: Vec<&str> = rs.iter().map(|r| r.external_id.as_str()).collect();
    let names = texts(|r| r.name.clone());
    let emails = texts(|r| r.email.as_ref().map(|e| e.as_str().to_owned()));
    let phones = texts(|r| r.phone.as_ref().map(|p| p.as_str().to_owned()));
    let slack_ids = texts(|r| r.slack_user_id.as_ref().map(|s| s.as_str().to_owned()));
    let push_arns = texts(|r| r.push_endpoint_arn.as_ref().map(|a| a.as_str().to_owned()));
    let timezones = texts(|r| r.timezone.clone());
    let stored_ids: Vec<&str> = resolved.stored_people.keys().map(String::as_str).collect();
    let quiet_hours: Vec<Option<Json<&Vec<crate::domain::quiet_hours::WindowSpec>>>> = rs
        .iter()
        .map(|r| r.quiet_hours.as_ref().map(Json))
        .collect();

    let n_recipient: Vec<&str> = planned.iter().map(|p| p.recipient.as_str()).collect();
    let n_level: Vec<i32> = planned.iter().map(|p| to_i32(p.level)).collect();
    let n_round: Vec<i32> = planned.iter().map(|p| to_i32(p.round)).collect();
    let n_tier: Vec<&str> = planned.iter().map(|p| p.tier.as_str()).collect();
    let state = super::engine::Applied::of(first_wave, chrono::Utc::now());
    let (event_types, event_details) = super::engine::step_events(&first_wave.steps);
    let n_channel: Vec<&str> = planned.iter().map(|p| p.channel.as_str()).collect();
    let n_status: Vec<&str> = planned.iter().map(|p| p.status.as_str()).collect();
    let n_reason: Vec<Option<&str>> = planned.iter().map(|p| p.suppressed_reason).collect();

    let rows = client
        .query(
            &stmt,
            &[
                &tenant_id,
                &escalation.dedup_key,
                &escalation.title,
                &escalation.body,
                &escalation.priority.as_str(),
                &escalation.service,
                &escalation.team,
                &escalation.alert_count,
                &escalation.dashboard_url,
                &escalation.triggered_at,
                &Json(&escalation.channels),
                &external_ids,
                &names,
                &emails,
                &phones,
                &slack_ids,
                &push_arns,
                &timezones,
                &n_recipient,
                &n_channel,
                &n_status,
                &n_reason,
                &actor.kind.as_str(),
                &actor.id,
                &escalation.inbox_expires_at,
                &Json(&resolved.policy),
                &state.current_level,
                &state.current_round,
                &state.next_in_secs,
                &n_level,
                &n_round,
                &n_tier,
                &event_types,
                &event_details,
                &escalation.urgency.as_str(),
                &quiet_hours,
                &stored_ids,
                &resolved.stored.as_ref().map(|(name, _)| name.as_str()),
                &resolved.stored.as_ref().map(|(_, version)| *version),
            ],
        )
        .await
        .context("inserting the escalation")?;

    if let Some(first) = rows.first() {
        return Ok(Created::New(EscalationSummary {
            id: first.get("escalation_id"),
            status: parse_col(first, "escalation_status")?,
            notifications: rows
                .iter()
                .map(notification_summary)
                .collect::<anyhow::Result<_>>()?,
        }));
    }
    let dedup_key = escalation
        .dedup_key
        .as_deref()
        .context("the insert wrote nothing although there is no dedup key")?;
    match open_by_dedup_key(client, tenant_id, dedup_key).await? {
        Some(existing) => Ok(Created::Duplicate(existing)),
        // Resolved between our insert and this read: the key is free again.
        None => {
            Box::pin(create(
                client, tenant_id, escalation, resolved, first_wave, actor,
            ))
            .await
        }
    }
}

fn notification_summary(row: &Row) -> anyhow::Result<NotificationSummary> {
    Ok(NotificationSummary {
        id: row.get("id"),
        recipient_id: row.get("recipient_id"),
        channel: parse_col(row, "channel")?,
        status: parse_col(row, "status")?,
        suppressed_reason: row.get("suppressed_reason"),
    })
}

/// The open escalation holding `dedup_key`, summarised exactly as `create` answers.
#[tracing::instrument(skip_all)]
pub async fn open_by_dedup_key(
    client: &Client,
    tenant_id: Uuid,
    dedup_key: &str,
) -> anyhow::Result<Option<EscalationSummary>> {
    let stmt = client
        .prepare_cached(
            r#"
            SELECT e.id AS escalation_id, e.status AS escalation_status,
                   n.id, r.external_id AS recipient_id, n.channel, n.status, n.suppressed_reason
            FROM escalations e
            JOIN notification_log n ON n.escalation_id = e.id AND n.level = 0 AND n.round = 0
            JOIN recipients r ON r.id = n.recipient_id
            WHERE e.tenant_id = $1 AND e.dedup_key = $2 AND e.status <> 'resolved'
            ORDER BY r.external_id, n.channel
            "#,
        )
        .await?;
    let rows = client.query(&stmt, &[&tenant_id, &dedup_key]).await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    Ok(Some(EscalationSummary {
        id: first.get("escalation_id"),
        status: parse_col(first, "escalation_status")?,
        notifications: rows
            .iter()
            .map(notification_summary)
            .collect::<anyhow::Result<_>>()?,
    }))
}

/// Who did something to an escalation, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    pub by: Option<String>,
    pub at: DateTime<Utc>,
}

impl Stamp {
    /// From a row selecting `acknowledged_at` and `acknowledged_by`.
    fn acknowledged(row: &Row) -> Option<Self> {
        Self::from_columns(row, "acknowledged_at", "acknowledged_by")
    }

    /// From a row selecting `resolved_at` and `resolved_by`.
    fn resolved(row: &Row) -> Option<Self> {
        Self::from_columns(row, "resolved_at", "resolved_by")
    }

    fn from_columns(row: &Row, at: &str, by: &str) -> Option<Self> {
        row.get::<_, Option<DateTime<Utc>>>(at).map(|at| Stamp {
            by: row.get(by),
            at,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationState {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub title: String,
    pub priority: Priority,
    pub service: Option<String>,
    pub status: EscalationStatus,
    pub acknowledged: Option<Stamp>,
    pub resolved: Option<Stamp>,
}

impl EscalationState {
    pub(crate) fn from_row(row: &Row) -> anyhow::Result<Self> {
        Ok(Self {
            id: row.get("id"),
            tenant_id: row.get("tenant_id"),
            title: row.get("title"),
            priority: parse_col(row, "priority")?,
            service: row.get("service"),
            status: parse_col(row, "status")?,
            acknowledged: Stamp::acknowledged(row),
            resolved: Stamp::resolved(row),
        })
    }
}

const STATE_COLUMNS: &str = "id, tenant_id, title, priority, service, status, \
    acknowledged_at, acknowledged_by, resolved_at, resolved_by";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// The action changed the escalation.
    Applied(EscalationState),
    /// The escalation was already past what the action does (acknowledged twice...).
    AlreadyDone(EscalationState),
    NotFound,
}

/// Acknowledges or resolves, recording who did it. Pending deliveries of the escalation
/// are suppressed in the same statement, so nobody is paged after someone answered.
/// Run inside the caller's transaction (a magic link consumes its token in the same one).
///
/// The escalation row is locked first, in a statement of its own: an engine run holding
/// it (about to write a tier's rows) commits before that lock is granted, and the
/// statement that suppresses pending rows then starts with a snapshot that includes
/// them. (In one statement, the suppression would read the snapshot from before the
/// wait and leave the engine's new rows `queued`.)
#[tracing::instrument(name = "transition escalation", skip_all, fields(escalation_id = %escalation_id, action = action.as_str()))]
pub async fn transition(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    escalation_id: Uuid,
    action: Action,
    actor: &Actor,
) -> anyhow::Result<Transition> {
    let stmt = tx
        .prepare_cached(&format!(
            r#"
            WITH changed AS (
                UPDATE escalations SET
                    status = $3,
                    acknowledged_at = CASE WHEN $3 = 'acknowledged' THEN now() ELSE acknowledged_at END,
                    acknowledged_by = CASE WHEN $3 = 'acknowledged' THEN $5 ELSE acknowledged_by END,
                    acknowledged_by_recipient_id =
                        CASE WHEN $3 = 'acknowledged' THEN $6 ELSE acknowledged_by_recipient_id END,
                    resolved_at = CASE WHEN $3 = 'resolved' THEN now() ELSE resolved_at END,
                    resolved_by = CASE WHEN $3 = 'resolved' THEN $5 ELSE resolved_by END,
                    resolved_by_recipient_id =
                        CASE WHEN $3 = 'resolved' THEN $6 ELSE resolved_by_recipient_id END,
                    -- Nothing more is due, unless the policy has an acknowledgement
                    -- timeout: then the engine puts it back to `triggered` at that moment
                    -- (db::engine::retrigger_timed_out) unless it is resolved first.
                    next_escalation_at = CASE
                        WHEN $3 = 'acknowledged' AND policy->>'ack_timeout_minutes' IS NOT NULL
                        THEN now() + make_interval(mins => (policy->>'ack_timeout_minutes')::int)
                    END
                WHERE id = $1 AND tenant_id = $2 AND status = ANY($4::text[])
                RETURNING {STATE_COLUMNS}
            ), suppressed AS (
                UPDATE notification_log SET
                    status = 'suppressed', suppressed_reason = $7, next_attempt_at = NULL
                WHERE escalation_id IN (SELECT id FROM changed)
                  AND (status = 'queued' OR (status = 'failed' AND next_attempt_at IS NOT NULL))
            ), evt AS (
                INSERT INTO event_log
                    (tenant_id, escalation_id, event_type, actor_type, actor_id, actor_ip, actor_user_agent, detail)
                SELECT tenant_id, id, 'escalation.' || $3, $8, $9, $10, $11, jsonb_build_object('by', $5::text)
                FROM changed
            )
            SELECT {STATE_COLUMNS} FROM changed
            "#
        ))
        .await?;
    let lock = tx
        .prepare_cached("SELECT 1 FROM escalations WHERE id = $1 AND tenant_id = $2 FOR UPDATE")
        .await?;
    tx.query_opt(&lock, &[&escalation_id, &tenant_id])
        .await
        .context("locking the escalation")?;
    let target = action.target().as_str();
    let allowed: Vec<&str> = action.allowed_from().to_vec();
    let reason = reason::answered(action.target());
    let row = tx
        .query_opt(
            &stmt,
            &[
                &escalation_id,
                &tenant_id,
                &target,
                &allowed,
                &actor.display,
                &actor.recipient_id,
                &reason,
                &actor.kind.as_str(),
                &actor.id,
                &actor.ip,
                &actor.user_agent,
            ],
        )
        .await
        .context("applying the escalation transition")?;
    if let Some(row) = row {
        return Ok(Transition::Applied(EscalationState::from_row(&row)?));
    }
    // A fresh statement, so it sees whichever concurrent change beat us.
    match state(tx, tenant_id, escalation_id).await? {
        Some(s) => Ok(Transition::AlreadyDone(s)),
        None => Ok(Transition::NotFound),
    }
}

#[tracing::instrument(skip_all)]
pub async fn state(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    escalation_id: Uuid,
) -> anyhow::Result<Option<EscalationState>> {
    let stmt = tx
        .prepare_cached(&format!(
            "SELECT {STATE_COLUMNS} FROM escalations WHERE id = $1 AND tenant_id = $2"
        ))
        .await?;
    tx.query_opt(&stmt, &[&escalation_id, &tenant_id])
        .await?
        .map(|r| EscalationState::from_row(&r))
        .transpose()
}

/// Everything `GET /v1/escalations/{id}` shows.
#[derive(Debug, Clone, PartialEq)]
pub struct EscalationDetail {
    pub id: Uuid,
    pub dedup_key: Option<String>,
    pub title: String,
    pub priority: Priority,
    pub urgency: crate::domain::Urgency,
    pub service: Option<String>,
    pub team: Option<String>,
    pub alert_count: i32,
    pub dashboard_url: Option<String>,
    pub status: EscalationStatus,
    pub triggered_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub acknowledged: Option<Stamp>,
    pub resolved: Option<Stamp>,
    pub policy: Option<EscalationPolicy>,
    /// The stored policy (name, version) it started under, if any.
    pub stored_policy: Option<(String, i32)>,
    pub current_level: i32,
    pub current_round: i32,
    pub next_escalation_at: Option<DateTime<Utc>>,
    pub exhausted_at: Option<DateTime<Utc>>,
    pub deliveries: Vec<DeliveryRow>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    pub id: Uuid,
    pub recipient_id: String,
    pub channel: Channel,
    pub level: i32,
    pub round: i32,
    pub tier: Tier,
    pub status: NotificationStatus,
    pub suppressed_reason: Option<String>,
    /// Why a `queued` row waits until its `next_attempt_at` (`quiet_hours`).
    pub deferred_reason: Option<String>,
    pub attempt_count: i32,
    pub provider_message_id: Option<String>,
    pub error: Option<String>,
    pub retryable: Option<bool>,
    pub queued_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// One tenant's escalation with its delivery log; `None` for another tenant's id.
#[tracing::instrument(skip_all, fields(escalation_id = %escalation_id))]
pub async fn detail(
    client: &Client,
    tenant_id: Uuid,
    escalation_id: Uuid,
) -> anyhow::Result<Option<EscalationDetail>> {
    let stmt = client
        .prepare_cached(
            r#"
            SELECT id, dedup_key, title, priority, urgency, service, team, alert_count, dashboard_url, status,
                   triggered_at, created_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by,
                   policy, policy_name, policy_version, current_level, current_round, next_escalation_at,
                   exhausted_at
            FROM escalations
            WHERE id = $1 AND tenant_id = $2
            "#,
        )
        .await?;
    let Some(e) = client
        .query_opt(&stmt, &[&escalation_id, &tenant_id])
        .await?
    else {
        return Ok(None);
    };
    let stmt = client
        .prepare_cached(
            r#"
            SELECT n.id, r.external_id AS recipient_id, n.channel, n.level, n.round, n.tier, n.status,
                   n.suppressed_reason, CASE WHEN n.status = 'queued' THEN n.deferred_reason END AS deferred_reason,
                   n.attempt_count, n.provider_message_id, n.error, n.retryable, n.queued_at, n.sent_at,
                   n.delivered_at, n.last_attempt_at,
                   -- On a queued row it is the outbox clock, not a retry time, unless the
                   -- row is held back until then.
                   CASE WHEN n.status = 'failed' OR (n.status = 'queued' AND n.deferred_reason IS NOT NULL)
                        THEN n.next_attempt_at END AS next_attempt_at
            FROM notification_log n
            JOIN recipients r ON r.id = n.recipient_id
            WHERE n.escalation_id = $1
            ORDER BY n.round, n.level, n.queued_at, r.external_id, n.channel
            "#,
        )
        .await?;
    let deliveries = client
        .query(&stmt, &[&escalation_id])
        .await?
        .iter()
        .map(|n| {
            Ok(DeliveryRow {
                id: n.get("id"),
                recipient_id: n.get("recipient_id"),
                channel: parse_col(n, "channel")?,
                level: n.get("level"),
                round: n.get("round"),
                tier: parse_col(n, "tier")?,
                status: parse_col(n, "status")?,
                suppressed_reason: n.get("suppressed_reason"),
                deferred_reason: n.get("deferred_reason"),
                attempt_count: n.get("attempt_count"),
                provider_message_id: n.get("provider_message_id"),
                error: n.get("error"),
                retryable: n.get("retryable"),
                queued_at: n.get("queued_at"),
                sent_at: n.get("sent_at"),
                delivered_at: n.get("delivered_at"),
                last_attempt_at: n.get("last_attempt_at"),
                next_attempt_at: n.get("next_attempt_at"),
            })
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(Some(EscalationDetail {
        id: e.get("id"),
        dedup_key: e.get("dedup_key"),
        title: e.get("title"),
        priority: parse_col(&e, "priority")?,
        urgency: parse_col(&e, "urgency")?,
        service: e.get("service"),
        team: e.get("team"),
        alert_count: e.get("alert_count"),
        dashboard_url: e.get("dashboard_url"),
        status: parse_col(&e, "status")?,
        triggered_at: e.get("triggered_at"),
        created_at: e.get("created_at"),
        acknowledged: Stamp::acknowledged(&e),
        resolved: Stamp::resolved(&e),
        policy: e
            .get::<_, Option<Json<EscalationPolicy>>>("policy")
            .map(|Json(p)| p),
        stored_policy: e
            .get::<_, Option<String>>("policy_name")
            .zip(e.get::<_, Option<i32>>("policy_version")),
        current_level: e.get("current_level"),
        current_round: e.get("current_round"),
        next_escalation_at: e.get("next_escalation_at"),
        exhausted_at: e.get("exhausted_at"),
        deliveries,
    }))
}

/// One entry of an escalation's audit log, as the timeline shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct TimelineEvent {
    /// The entry's position in the log: pages continue after it.
    pub seq: i64,
    pub at: DateTime<Utc>,
    #[serde(rename = "type")]
    pub event_type: String,
    pub actor: TimelineActor,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification_id: Option<Uuid>,
    pub detail: serde_json::Value,
}

/// Who did it: an API key, a person (through a link, a button, an SMS reply) or Herald
/// itself (`engine`, `dispatch-email`, `feedback-sms`...).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct TimelineActor {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// A page of one tenant's escalation's audit log, oldest first, after entry `after`.
/// The log outlives the escalation row (retention deletes the escalation first), so the
/// timeline of a deleted escalation still reads; an empty first page means no such
/// escalation for the tenant.
pub async fn timeline(
    client: &Client,
    tenant_id: Uuid,
    escalation_id: Uuid,
    after: i64,
    limit: i64,
) -> anyhow::Result<Vec<TimelineEvent>> {
    let stmt = client
        .prepare_cached(
            r#"
            SELECT id, occurred_at, event_type, actor_type, actor_id, host(actor_ip) AS ip,
                   actor_user_agent, notification_id, detail
            FROM event_log
            WHERE escalation_id = $2 AND tenant_id = $1 AND id > $3
            ORDER BY id
            LIMIT $4
            "#,
        )
        .await?;
    let rows = client
        .query(&stmt, &[&tenant_id, &escalation_id, &after, &limit])
        .await?;
    Ok(rows
        .iter()
        .map(|r| TimelineEvent {
            seq: r.get("id"),
            at: r.get("occurred_at"),
            event_type: r.get("event_type"),
            actor: TimelineActor {
                kind: r.get("actor_type"),
                id: r.get("actor_id"),
                ip: r.get("ip"),
                user_agent: r.get("actor_user_agent"),
            },
            notification_id: r.get("notification_id"),
            detail: r.get("detail"),
        })
        .collect())
}
