//! The escalation engine's two statements. [`claim_due`] locks a bounded batch of due
//! escalations (`FOR UPDATE SKIP LOCKED`, only while `triggered`) and reads, in the same
//! statement, what the planner needs: each one's policy, progress, the rows of its
//! current round and what its people can be reached on. [`apply`] writes the plans in
//! the same transaction: new rows, progress, next step time, audit events. An
//! acknowledgement waits for the lock and commits after; the dispatcher's claim only
//! sends while the escalation is still `triggered`, so nothing goes out after it.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use tokio_postgres::types::Json;
use uuid::Uuid;

use super::{Transaction, to_i32};
use crate::domain::engine::{Delivery, Outcome, Plan, Progress, Step};
use crate::domain::opt_out::OptOutScope;
use crate::domain::policy::{Contacts, Reachable};
use crate::domain::{Channel, EscalationPolicy, NotificationStatus, Tier};

/// A due escalation, locked, with everything its plan depends on.
#[derive(Debug, Clone)]
pub struct DueEscalation {
    pub id: Uuid,
    pub policy: EscalationPolicy,
    pub progress: Progress,
    /// The rows of its current round.
    pub deliveries: Vec<Delivery>,
    /// The policy's people, by the caller's id.
    pub people: BTreeMap<String, Person>,
}

/// One of the policy's people: their addresses, and the opt-outs that hold at the
/// engine's clock.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Person {
    #[serde(flatten)]
    pub contacts: Contacts,
    #[serde(default, deserialize_with = "scopes")]
    pub opted_out: Vec<OptOutScope>,
}

impl Reachable for Person {
    fn has_address(&self, channel: Channel) -> bool {
        self.contacts.has_address(channel)
    }

    fn opted_out(&self, channel: Channel) -> bool {
        self.opted_out.iter().any(|scope| scope.covers(channel))
    }
}

fn scopes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<OptOutScope>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|raw| OptOutScope::parse(raw).map_err(|e| serde::de::Error::custom(e.message)))
        .collect()
}

#[derive(Deserialize)]
struct DeliveryJson {
    level: u32,
    tier: Tier,
    recipient: String,
    channel: Channel,
    status: String,
    unconfirmed_since: Option<DateTime<Utc>>,
    reason: Option<String>,
    retry: bool,
    queued_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct PersonJson {
    id: String,
    #[serde(flatten)]
    person: Person,
}

const CLAIM: &str = r#"
    WITH due AS (
        SELECT id, tenant_id, policy, current_level, current_round, first_round, round_started_at
        FROM escalations
        WHERE status = 'triggered' AND next_escalation_at <= $1 AND policy IS NOT NULL
        ORDER BY next_escalation_at
        LIMIT {limit}
        FOR UPDATE SKIP LOCKED
    ), deliveries AS (
        -- Set-based, once per batch (not a lookup per escalation).
        SELECT n.escalation_id, jsonb_agg(jsonb_build_object(
                   'level', n.level, 'tier', n.tier, 'recipient', r.external_id, 'status', n.status,
                   'channel', n.channel,
                   -- Sent but not confirmed by a receipt: the receipt window runs from then.
                   'unconfirmed_since', CASE WHEN n.status = 'sent' THEN n.sent_at END,
                   'reason', n.suppressed_reason, 'retry', n.next_attempt_at IS NOT NULL,
                   'queued_at', n.queued_at)) AS list
        FROM due d
        JOIN notification_log n ON n.escalation_id = d.id AND n.round = d.current_round
        JOIN recipients r ON r.id = n.recipient_id
        GROUP BY n.escalation_id
    ), people AS (
        SELECT p.escalation_id, jsonb_agg(jsonb_build_object(
                   'id', r.external_id, 'email', r.email IS NOT NULL, 'phone', r.phone IS NOT NULL,
                   'push', r.push_endpoint_arn IS NOT NULL, 'slack', r.slack_user_id IS NOT NULL,
                   -- Their opt-outs that hold at the engine's clock: a tier starting on an
                   -- opted-out channel is written suppressed and the next one planned now.
                   'opted_out', ARRAY(SELECT x.channel FROM opt_outs x
                                      WHERE x.recipient_id = r.id
                                        AND (x.expires_at IS NULL OR x.expires_at > $1)))) AS list
        FROM (SELECT DISTINCT d.id AS escalation_id, d.tenant_id, who
              FROM due d,
                   jsonb_array_elements(d.policy -> 'levels') AS l,
                   jsonb_array_elements_text(l -> 'recipients') AS who) AS p
        -- One lookup of each named person by the tenant's key (LIMIT 1: kept apart so the
        -- planner cannot turn it into a hash join over every recipient of every tenant,
        -- which it chose from the guessed size of the JSON expansion above).
        CROSS JOIN LATERAL (
            SELECT * FROM recipients r
            WHERE r.tenant_id = p.tenant_id AND r.external_id = p.who
            LIMIT 1
        ) r
        GROUP BY p.escalation_id
    )
    SELECT d.id, d.policy, d.current_level, d.current_round, d.first_round, d.round_started_at,
           COALESCE(dl.list, '[]'::jsonb) AS deliveries,
           COALESCE(pl.list, '[]'::jsonb) AS people
    FROM due d
    LEFT JOIN deliveries dl ON dl.escalation_id = d.id
    LEFT JOIN people pl ON pl.escalation_id = d.id
"#;

/// The claim with its batch size written in: with `LIMIT $n` a generic plan guesses a
/// third of the table is due and joins every notification row by hash instead of
/// looking up the batch's own.
fn claim_sql(limit: u32) -> String {
    CLAIM.replace("{limit}", &limit.to_string())
}

/// Locks up to `limit` escalations whose next step is due at `now` (oldest first) and
/// reads their facts. Run in the transaction that [`apply`]s their plans.
#[tracing::instrument(name = "claim due escalations", skip_all, fields(limit = limit))]
pub async fn claim_due(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    limit: u32,
) -> anyhow::Result<Vec<DueEscalation>> {
    let stmt = tx.prepare_cached(&claim_sql(limit)).await?;
    let rows = tx
        .query(&stmt, &[&now])
        .await
        .context("claiming due escalations")?;
    rows.iter()
        .map(|row| {
            let Json(policy): Json<EscalationPolicy> = row.try_get("policy")?;
            let Json(deliveries): Json<Vec<DeliveryJson>> = row.try_get("deliveries")?;
            let Json(people): Json<Vec<PersonJson>> = row.try_get("people")?;
            let current_level: i32 = row.get("current_level");
            let round: i32 = row.get("current_round");
            let deliveries = deliveries
                .into_iter()
                .map(|d| {
                    let status: NotificationStatus = d
                        .status
                        .parse()
                        .map_err(|e| anyhow::anyhow!("notification status: {e}"))?;
                    Ok(Delivery {
                        level: d.level,
                        tier: d.tier,
                        recipient: d.recipient,
                        channel: d.channel,
                        queued_at: d.queued_at,
                        outcome: Outcome::of(status, d.reason.as_deref(), d.retry),
                        unconfirmed_since: d.unconfirmed_since,
                    })
                })
                .collect::<anyhow::Result<_>>()?;
            Ok(DueEscalation {
                id: row.get("id"),
                policy,
                progress: Progress {
                    round: u32::try_from(round).unwrap_or(0),
                    first_round: u32::try_from(row.get::<_, i32>("first_round")).unwrap_or(0),
                    round_started_at: row.get("round_started_at"),
                    levels_fired: u32::try_from(current_level + 1).unwrap_or(0),
                },
                deliveries,
                people: people.into_iter().map(|p| (p.id, p.person)).collect(),
            })
        })
        .collect()
}

/// The escalation columns a plan sets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Applied {
    /// The last level of the round that fired (-1 when none has yet).
    pub current_level: i32,
    pub current_round: i32,
    /// Seconds from now to the next step; `None` once exhausted.
    pub next_in_secs: Option<f64>,
}

impl Applied {
    pub fn of(plan: &Plan, now: DateTime<Utc>) -> Self {
        Self {
            current_level: to_i32(plan.progress.levels_fired) - 1,
            current_round: to_i32(plan.progress.round),
            next_in_secs: plan
                .next_at
                .map(|t| (t - now).num_milliseconds().max(0) as f64 / 1000.0),
        }
    }
}

/// The audit rows of a plan's steps: event types and details, in order.
pub fn step_events(steps: &[Step]) -> (Vec<&'static str>, Vec<serde_json::Value>) {
    steps.iter().map(|s| (s.event_type(), s.detail())).unzip()
}

/// What [`apply`] wrote.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AppliedBatch {
    /// New `queued` rows, to hand to their channel's queue.
    pub to_enqueue: Vec<(Channel, Uuid)>,
    pub rows: u64,
    pub levels_fired: u64,
    pub tiers_started: u64,
    pub exhausted: u64,
}

/// The apply statement ([`apply`]), with the system events' upsert written in.
static APPLY: LazyLock<String> =
    LazyLock::new(|| APPLY_SQL.replace("{raise}", super::system_events::RAISE));

const APPLY_SQL: &str = r#"
    WITH esc AS (
        UPDATE escalations e SET
            current_level = u.current_level,
            current_round = u.current_round,
            round_started_at = u.round_started_at,
            next_escalation_at = u.next_at,
            exhausted_at = CASE WHEN u.next_at IS NULL THEN $1::timestamptz END
        FROM unnest($2::uuid[], $3::int[], $4::int[], $5::timestamptz[], $6::timestamptz[])
             AS u(id, current_level, current_round, round_started_at, next_at)
        WHERE e.id = u.id AND e.status = 'triggered'
        RETURNING e.id, e.tenant_id, e.title, e.body, e.priority
    ), ntf AS (
        INSERT INTO notification_log
            (tenant_id, escalation_id, recipient_id, channel, level, round, tier, status, suppressed_reason,
             queued_at, next_attempt_at, sent_at, delivered_at)
        SELECT esc.tenant_id, esc.id, r.id, n.channel, n.level, n.round, n.tier, n.status, n.reason, $1,
               -- A queued row's next_attempt_at starts the outbox sweep's clock.
               CASE WHEN n.status = 'queued' THEN $1 END,
               CASE WHEN n.status = 'delivered' THEN $1 END,
               CASE WHEN n.status = 'delivered' THEN $1 END
        FROM unnest($7::uuid[], $8::text[], $9::text[], $10::int[], $11::int[], $12::text[], $13::text[], $14::text[])
             AS n(escalation_id, recipient, channel, level, round, tier, status, reason)
        JOIN esc ON esc.id = n.escalation_id
        JOIN recipients r ON r.tenant_id = esc.tenant_id AND r.external_id = n.recipient
        ON CONFLICT (escalation_id, recipient_id, channel, level, round) DO NOTHING
        RETURNING id, escalation_id, recipient_id, channel, status
    ), inbox AS (
        -- An in-app delivery is its inbox row, written with it.
        INSERT INTO notifications
            (tenant_id, recipient_id, escalation_id, notification_log_id, type, title, message, priority)
        SELECT esc.tenant_id, ntf.recipient_id, esc.id, ntf.id, 'escalation', esc.title, left(esc.body, 2000),
               esc.priority
        FROM ntf JOIN esc ON esc.id = ntf.escalation_id
        WHERE ntf.channel = 'in_app' AND ntf.status = 'delivered'
    ), evt AS (
        INSERT INTO event_log (tenant_id, escalation_id, event_type, actor_type, actor_id, detail)
        SELECT esc.tenant_id, esc.id, s.event_type, 'system', 'engine', s.detail
        FROM unnest($15::uuid[], $16::text[], $17::jsonb[]) AS s(escalation_id, event_type, detail)
        JOIN esc ON esc.id = s.escalation_id
    ), unanswered AS (
        -- Nobody answered: the operators' list gets it (domain::system_events).
        INSERT INTO admin_system_events AS a (tenant_id, kind, severity, subject, title, detail)
        SELECT esc.tenant_id, 'escalation_exhausted',
               CASE esc.priority WHEN 'critical' THEN 'critical' ELSE 'warning' END,
               esc.id::text, left('Nobody answered: ' || esc.title, 300),
               s.detail || jsonb_build_object('escalation_id', esc.id, 'priority', esc.priority)
        FROM unnest($15::uuid[], $16::text[], $17::jsonb[]) AS s(escalation_id, event_type, detail)
        JOIN esc ON esc.id = s.escalation_id
        WHERE s.event_type = 'escalation.exhausted'
        {raise}
    )
    SELECT id, channel, status FROM ntf
"#;

/// Writes the plans of escalations claimed in `tx` at `now`, in one statement.
#[tracing::instrument(name = "apply escalation plans", skip_all, fields(escalations = plans.len()))]
pub async fn apply(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    plans: &[(Uuid, Plan)],
) -> anyhow::Result<AppliedBatch> {
    let mut out = AppliedBatch::default();
    let (mut ids, mut levels, mut rounds, mut starts, mut nexts) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut n_esc, mut n_who, mut n_channel, mut n_level, mut n_round, mut n_tier) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    let (mut n_status, mut n_reason) = (Vec::new(), Vec::new());
    let (mut s_esc, mut s_type, mut s_detail) = (Vec::new(), Vec::new(), Vec::new());
    for (id, plan) in plans {
        let applied = Applied::of(plan, now);
        ids.push(*id);
        levels.push(applied.current_level);
        rounds.push(applied.current_round);
        starts.push(plan.progress.round_started_at);
        nexts.push(plan.next_at);
        for row in &plan.rows {
            n_esc.push(*id);
            n_who.push(row.recipient.as_str());
            n_channel.push(row.channel.as_str());
            n_level.push(to_i32(row.level));
            n_round.push(to_i32(row.round));
            n_tier.push(row.tier.as_str());
            n_status.push(row.status.as_str());
            n_reason.push(row.suppressed_reason);
        }
        for step in &plan.steps {
            match step {
                Step::LevelFired { .. } => out.levels_fired += 1,
                Step::TierStarted { .. } => out.tiers_started += 1,
                Step::Exhausted { .. } => out.exhausted += 1,
            }
            s_esc.push(*id);
            s_type.push(step.event_type());
            s_detail.push(step.detail());
        }
    }
    let stmt = tx.prepare_cached(&APPLY).await?;
    let rows = tx
        .query(
            &stmt,
            &[
                &now, &ids, &levels, &rounds, &starts, &nexts, &n_esc, &n_who, &n_channel,
                &n_level, &n_round, &n_tier, &n_status, &n_reason, &s_esc, &s_type, &s_detail,
            ],
        )
        .await
        .context("applying escalation plans")?;
    out.rows = rows.len() as u64;
    for row in &rows {
        if super::parse_col::<NotificationStatus>(row, "status")? == NotificationStatus::Queued {
            out.to_enqueue
                .push((super::parse_col(row, "channel")?, row.get("id")));
        }
    }
    Ok(out)
}

/// Puts back up to `limit` escalations whose acknowledgement timed out at `now`
/// (acknowledged, not resolved, past the policy's `ack_timeout_minutes`): `triggered`
/// again, the acknowledgement cleared (the audit log keeps it), and a new pass of the
/// policy starting with the next round number at its first level, due at once. Locked
/// `FOR UPDATE SKIP LOCKED`, so a resolution in progress wins and overlapping runs take
/// each escalation once; `escalation.ack_timed_out` is recorded. Returns their ids.
#[tracing::instrument(name = "retrigger timed-out acknowledgements", skip_all, fields(limit = limit))]
pub async fn retrigger_timed_out(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    limit: u32,
) -> anyhow::Result<Vec<Uuid>> {
    let stmt = tx
        .prepare_cached(
            r#"
            WITH due AS (
                SELECT id FROM escalations
                WHERE status = 'acknowledged' AND next_escalation_at <= $1
                ORDER BY next_escalation_at
                LIMIT $2
                FOR UPDATE SKIP LOCKED
            ), back AS (
                UPDATE escalations AS e SET
                    status = 'triggered',
                    acknowledged_at = NULL, acknowledged_by = NULL, acknowledged_by_recipient_id = NULL,
                    current_round = e.current_round + 1, first_round = e.current_round + 1,
                    current_level = -1, round_started_at = $1, next_escalation_at = $1,
                    exhausted_at = NULL
                FROM due WHERE e.id = due.id
                RETURNING e.id, e.tenant_id, e.current_round, e.policy->'ack_timeout_minutes' AS timeout
            ), evt AS (
                INSERT INTO event_log (tenant_id, escalation_id, event_type, actor_type, actor_id, detail)
                SELECT tenant_id, id, 'escalation.ack_timed_out', 'system', 'engine',
                       jsonb_build_object('ack_timeout_minutes', timeout, 'round', current_round)
                FROM back
            )
            SELECT id FROM back
            "#,
        )
        .await?;
    Ok(tx
        .query(&stmt, &[&now, &i64::from(limit)])
        .await
        .context("retriggering timed-out acknowledgements")?
        .iter()
        .map(|r| r.get("id"))
        .collect())
}

/// The plan of the claim statement as the database would run it now (for the bench: it
/// must be an index scan of `escalations_next_step`).
pub async fn explain_claim(client: &super::Client) -> anyhow::Result<String> {
    let rows = client
        .query(
            &format!("EXPLAIN (COSTS OFF) {}", claim_sql(500)),
            &[&Utc::now()],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n"))
}
