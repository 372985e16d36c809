//! Claiming and recording deliveries: set-based, one statement each per SQS batch.

use std::sync::LazyLock;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use tokio_postgres::types::Json;
use uuid::Uuid;

use super::{Client, parse_col};
use crate::domain::engine::Outcome;
use crate::domain::quiet_hours::{QuietHours, Urgency, WindowSpec};
use crate::domain::system_events::Health;
use crate::domain::template::{Fields, Template};
use crate::domain::{Action, Address, Channel, NotificationStatus, Priority};
use crate::magic_link::TokenHash;
use crate::secrets::{Owner, Sealed};

/// A notification this dispatcher now owns (`sending`, under a lease), with everything
/// needed to render and send it. Its `Debug` shows ids only: never the body or addresses.
#[derive(Clone, PartialEq)]
pub struct Claimed {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub escalation_id: Uuid,
    pub recipient_id: Uuid,
    pub channel: Channel,
    /// Including this one.
    pub attempt_count: i32,
    pub title: String,
    pub body: String,
    pub priority: Priority,
    pub urgency: Urgency,
    pub service: Option<String>,
    pub team: Option<String>,
    pub alert_count: i32,
    pub dashboard_url: Option<String>,
    pub triggered_at: DateTime<Utc>,
    pub recipient_name: Option<String>,
    /// The recipient's address for this row's channel; `None` when they have none (any
    /// more): the delivery fails for good without calling the provider.
    pub address: Option<Address>,
    /// The sealed credential this row's channel sends with (a Teams webhook URL: the
    /// recipient's own, else their team's), found by the claim itself.
    pub credential: Option<Credential>,
    /// The credential is a team's, and another recipient's row of this escalation
    /// already carries the page to that team channel.
    pub credential_shared: bool,
    /// The recipient opted out of this channel (or of all of them) and the opt-out has
    /// not run out: the row is suppressed without calling the provider.
    pub opted_out: bool,
    /// The address is on the tenant's suppression list for this channel (a permanent
    /// bounce, an invalid number, a complaint): suppressed without calling the provider.
    pub address_suppressed: bool,
    /// The recipient's other channels for this escalation that went out (or are going).
    pub other_channels: Vec<Channel>,
    /// The person's quiet hours, when they have some (see [`crate::domain::quiet_hours`]).
    pub quiet_hours: Option<QuietHours>,
    /// The code a reply to this SMS names (`4` in "reply 4a"), when the claim was asked
    /// for codes: this escalation's code for the number, kept while it stands.
    pub reply_code: Option<i16>,
    /// The tenant's own template for this channel; `None`: Herald's default message.
    pub template: Option<Template>,
}

#[cfg(test)]
impl Claimed {
    /// A claimed row for adapter tests: a critical escalation on orders-db, no address,
    /// no credential; tests override what they look at.
    pub(crate) fn sample(channel: Channel) -> Self {
        use chrono::TimeZone;
        Self {
            id: Uuid::nil(),
            tenant_id: Uuid::nil(),
            escalation_id: Uuid::nil(),
            recipient_id: Uuid::nil(),
            channel,
            attempt_count: 1,
            title: "Primary database CPU above 95%".into(),
            body: "p99 latency 2.3 s".into(),
            priority: Priority::Critical,
            urgency: Urgency::High,
            service: Some("orders-db".into()),
            team: None,
            alert_count: 1,
            dashboard_url: None,
            triggered_at: Utc
                .with_ymd_and_hms(2026, 11, 22, 3, 12, 0)
                .single()
                .expect("a valid time"),
            recipient_name: None,
            address: None,
            credential: None,
            credential_shared: false,
            opted_out: false,
            address_suppressed: false,
            other_channels: vec![],
            quiet_hours: None,
            reply_code: None,
            template: None,
        }
    }
}

/// A sealed credential and whose it is (its ciphertext opens only for that owner).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub id: Uuid,
    /// The provider refused it as revoked or expired: not sent with until replaced.
    pub revoked: bool,
    /// When it was stored: a refusal marks only this version (not one replaced since).
    pub updated_at: DateTime<Utc>,
    pub sealed: Sealed,
    pub owner: Owner,
    /// The team it belongs to, when it is a team's rather than the recipient's.
    pub team: Option<String>,
}

impl std::fmt::Debug for Claimed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claimed")
            .field("id", &self.id)
            .field("escalation_id", &self.escalation_id)
            .field("channel", &self.channel)
            .field("attempt_count", &self.attempt_count)
            .finish_non_exhaustive()
    }
}

/// A token to store for a notification, if that notification is claimed.
#[derive(Debug, Clone, Copy)]
pub struct TokenToStore<'a> {
    pub notification_id: Uuid,
    pub hash: &'a TokenHash,
    pub action: Action,
}

/// The claim ([`claim`]) without reply codes: its statement plans and starts no
/// reply-code steps for the channels (and SMS set-ups) that hand out none.
static CLAIM: LazyLock<String> = LazyLock::new(|| claim_sql(false));
/// The claim handing out reply codes to the SMS it claims.
static CLAIM_WITH_REPLY_CODES: LazyLock<String> = LazyLock::new(|| claim_sql(true));

fn claim_sql(reply_codes: bool) -> String {
    const HEAD: &str = r#"
            WITH locked AS MATERIALIZED (
                -- Lock in id order and skip rows someone else holds (a concurrent claim
                -- of a duplicate message, or an acknowledgement suppressing them): a
                -- claim never waits, so it can never deadlock. Materialized, so the
                -- claim is driven by these few ids whatever the table statistics say
                -- (a plan starting from escalations grows with the table).
                SELECT id FROM notification_log
                WHERE id = ANY($1::uuid[])
                ORDER BY id
                FOR UPDATE SKIP LOCKED
            ), claimed AS (
                UPDATE notification_log AS n SET
                    status = 'sending',
                    attempt_count = n.attempt_count + 1,
                    last_attempt_at = now(),
                    lease_expires_at = now() + make_interval(secs => $3),
                    next_attempt_at = NULL,
                    deferred_reason = NULL
                FROM locked AS l, escalations AS e
                WHERE n.id = l.id
                  AND n.channel = $2
                  AND e.id = n.escalation_id
                  AND e.status = 'triggered'
                  -- Written as a CASE so the planner cannot answer it from the outbox and
                  -- retry partial indexes: their statistics go stale in seconds in a
                  -- burst (thousands queued where ANALYZE saw none), and a bitmap scan of
                  -- the whole outbox per batch is what that plan costs. The ten ids
                  -- above are the way in.
                  AND CASE n.status WHEN 'queued' THEN true
                                    WHEN 'failed' THEN n.next_attempt_at <= now()
                                    ELSE false END
                RETURNING n.id, n.tenant_id, n.escalation_id, n.recipient_id, n.channel, n.level, n.round,
                          n.attempt_count, e.title, e.body, e.priority, e.urgency, e.service, e.team, e.alert_count,
                          e.dashboard_url, e.triggered_at
            ), tokens AS (
                INSERT INTO magic_link_tokens
                    (tenant_id, escalation_id, recipient_id, notification_id, token_hash, action, expires_at)
                SELECT c.tenant_id, c.escalation_id, c.recipient_id, c.id, t.hash, t.action,
                       now() + make_interval(secs => $7)
                FROM unnest($4::uuid[], $5::bytea[], $6::text[]) AS t(notification_id, hash, action)
                JOIN claimed c ON c.id = t.notification_id
            )"#;
    const REPLY_CODES: &str = r#"
            , sms_pages AS (
                SELECT DISTINCT ON (r.phone, c.escalation_id)
                       r.phone, c.escalation_id, c.tenant_id, c.recipient_id
                FROM claimed c JOIN recipients r ON r.id = c.recipient_id
                WHERE c.channel = 'sms' AND r.phone IS NOT NULL
                ORDER BY r.phone, c.escalation_id, c.recipient_id
            ), kept AS (
                SELECT k.phone, k.escalation_id, k.code
                FROM sms_reply_codes k
                JOIN sms_pages p ON p.phone = k.phone AND p.escalation_id = k.escalation_id
            ), wanted AS (
                SELECT p.*,
                       row_number() OVER (PARTITION BY p.phone ORDER BY p.escalation_id) AS n,
                       count(*) OVER (PARTITION BY p.phone) AS wanted
                FROM sms_pages p
                WHERE NOT EXISTS (SELECT 1 FROM kept k
                                  WHERE k.phone = p.phone AND k.escalation_id = p.escalation_id)
            ), counters AS (
                -- In phone order, so two batches never wait on each other's rows crosswise.
                INSERT INTO sms_reply_counters AS x (phone, issued)
                SELECT phone, count(*) FROM wanted GROUP BY phone ORDER BY phone
                ON CONFLICT (phone) DO UPDATE SET issued = x.issued + EXCLUDED.issued, updated_at = now()
                RETURNING x.phone, x.issued
            ), assigned AS (
                INSERT INTO sms_reply_codes AS k (phone, code, tenant_id, escalation_id, recipient_id)
                SELECT w.phone, ((x.issued - w.wanted + w.n - 1) % $8 + 1)::smallint,
                       w.tenant_id, w.escalation_id, w.recipient_id
                FROM wanted w JOIN counters x ON x.phone = w.phone
                -- A code handed out again stands for the new page from now on, but only
                -- once the page it stood for is resolved: an open page keeps its code,
                -- and the new one (no row returned) goes out with its link instead.
                ON CONFLICT (phone, code) DO UPDATE SET
                    tenant_id = EXCLUDED.tenant_id, escalation_id = EXCLUDED.escalation_id,
                    recipient_id = EXCLUDED.recipient_id, assigned_at = now()
                    WHERE NOT EXISTS (SELECT 1 FROM escalations held
                                      WHERE held.id = k.escalation_id AND held.status <> 'resolved')
                RETURNING k.phone, k.escalation_id, k.code
            ), codes AS (
                SELECT phone, escalation_id, code FROM kept
                UNION ALL
                SELECT phone, escalation_id, code FROM assigned
            )"#;
    const SELECT: &str = r#"
            SELECT c.*, r.name AS recipient_name, r.timezone, r.quiet_hours,
                   -- The one address this row's channel needs.
                   CASE c.channel
                       WHEN 'email' THEN r.email
                       WHEN 'sms' THEN r.phone
                       WHEN 'voice' THEN r.phone
                       WHEN 'push' THEN r.push_endpoint_arn
                       WHEN 'slack' THEN r.slack_user_id
                   END AS address,
                   w.kind AS credential_kind, w.key_id AS credential_key_id, w.ciphertext AS credential,
                   w.recipient_id AS credential_recipient_id, w.team AS credential_team,
                   w.id AS credential_id, w.revoked_at IS NOT NULL AS credential_revoked,
                   w.updated_at AS credential_updated_at,
                   -- A team's webhook reaches everyone in its channel: one card per
                   -- escalation, level and round, on the row of the first recipient (by id) who
                   -- has no credential of their own; the others' rows are suppressed.
                   (w.team IS NOT NULL AND EXISTS (
                        SELECT 1 FROM notification_log o
                        WHERE o.escalation_id = c.escalation_id AND o.channel = c.channel
                          AND o.level = c.level AND o.round = c.round AND o.recipient_id < c.recipient_id
                          AND NOT EXISTS (SELECT 1 FROM credentials own
                                          WHERE own.recipient_id = o.recipient_id AND own.kind = w.kind)
                   )) AS credential_shared,
                   -- The person asked not to be paged on this channel (or on any), for now:
                   -- whatever the priority, the row is suppressed and the page moves on.
                   EXISTS (SELECT 1 FROM opt_outs x
                           WHERE x.recipient_id = c.recipient_id AND x.channel IN (c.channel, 'all')
                             AND (x.expires_at IS NULL OR x.expires_at > now())) AS opted_out,
                   -- A provider said the address is bad, or its owner complained
                   -- (db::receipts): on the tenant's suppression list until removed.
                   EXISTS (SELECT 1 FROM suppressions s
                           WHERE s.tenant_id = c.tenant_id AND s.channel = c.channel
                             AND s.address = CASE c.channel
                                                 WHEN 'email' THEN lower(r.email)
                                                 WHEN 'sms' THEN r.phone
                                                 WHEN 'voice' THEN r.phone
                                                 WHEN 'push' THEN r.push_endpoint_arn
                                             END) AS address_suppressed,
                   -- Where else this page went (or is going), for a message that points there.
                   ARRAY(SELECT o.channel FROM notification_log o
                         WHERE o.escalation_id = c.escalation_id AND o.recipient_id = c.recipient_id
                           AND o.id <> c.id AND o.status IN ('queued', 'sending', 'sent', 'delivered')
                         ORDER BY o.channel) AS other_channels,
                   -- The tenant's own message for the channel (domain::template), if any.
                   tpl.subject AS template_subject, tpl.text AS template_text,
                   tpl.html AS template_html,"#;
    const REPLY_CODE: &str = r#"
                   (SELECT min(code) FROM codes
                    WHERE c.channel = 'sms' AND codes.phone = r.phone
                      AND codes.escalation_id = c.escalation_id) AS reply_code"#;
    const TAIL: &str = r#"
            FROM claimed c
            JOIN recipients r ON r.id = c.recipient_id
            -- The row's sealed credential, in the same statement: no lookup per message.
            -- The recipient's own first, then their team's, then the tenant's (a Slack
            -- installation's bot token).
            LEFT JOIN LATERAL (
                SELECT id, kind, key_id, ciphertext, recipient_id, team, revoked_at, updated_at
                FROM credentials w
                WHERE w.kind = CASE c.channel WHEN 'teams' THEN 'teams_webhook'
                                              WHEN 'slack' THEN 'slack_bot_token' END
                  AND w.tenant_id = c.tenant_id
                  AND (w.recipient_id = c.recipient_id OR w.team = c.team
                       OR (w.recipient_id IS NULL AND w.team IS NULL))
                ORDER BY w.recipient_id IS NULL, w.team IS NULL
                LIMIT 1
            ) w ON true
            LEFT JOIN templates tpl ON tpl.tenant_id = c.tenant_id AND tpl.channel = c.channel
"#;
    if reply_codes {
        [HEAD, REPLY_CODES, SELECT, REPLY_CODE, TAIL].concat()
    } else {
        [
            HEAD,
            SELECT,
            "\n                   NULL::smallint AS reply_code",
            TAIL,
        ]
        .concat()
    }
}

/// Claims the given notifications in ONE statement: only rows of `channel` that are
/// `queued`, or `failed` with a retry that is due, and whose escalation is still
/// `triggered`, move to `sending` with a lease and a counted attempt. The magic-link
/// token hashes of the claimed rows are stored by the same statement, so a link in a
/// sent message always exists. Rows already sent, being sent by someone else,
/// suppressed, or of an acknowledged escalation are skipped: a redelivered SQS message
/// never sends twice.
///
/// With `reply_codes`, the same statement gives each claimed SMS its reply code (see
/// [`crate::domain::sms_reply`]): the code this escalation already has for the number,
/// else the number's next one (its counter row serialises concurrent batches, so a
/// code is never handed out twice at once), unless that code still stands for a page
/// not yet resolved: then the row gets none and its SMS carries the link.
#[tracing::instrument(name = "claim batch", skip_all, fields(requested = ids.len()))]
pub async fn claim(
    client: &Client,
    channel: Channel,
    ids: &[Uuid],
    tokens: &[TokenToStore<'_>],
    token_ttl: Duration,
    lease: Duration,
    reply_codes: bool,
) -> anyhow::Result<Vec<Claimed>> {
    let sql = if reply_codes {
        &*CLAIM_WITH_REPLY_CODES
    } else {
        &*CLAIM
    };
    let stmt = client.prepare_cached(sql).await?;
    let token_ids: Vec<Uuid> = tokens.iter().map(|t| t.notification_id).collect();
    let token_hashes: Vec<&[u8]> = tokens.iter().map(|t| t.hash.as_slice()).collect();
    let token_actions: Vec<&str> = tokens.iter().map(|t| t.action.as_str()).collect();
    let max_code = i64::from(crate::domain::sms_reply::MAX_CODE);
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 8] = [
        &ids,
        &channel.as_str(),
        &lease.as_secs_f64(),
        &token_ids,
        &token_hashes,
        &token_actions,
        &token_ttl.as_secs_f64(),
        &max_code,
    ];
    let params = if reply_codes {
        &params[..]
    } else {
        &params[..7]
    };
    let rows = client
        .query(&stmt, params)
        .await
        .context("claiming notifications")?;
    rows.iter()
        .map(|r| {
            let channel: Channel = parse_col(r, "channel")?;
            Ok(Claimed {
                id: r.get("id"),
                tenant_id: r.get("tenant_id"),
                escalation_id: r.get("escalation_id"),
                recipient_id: r.get("recipient_id"),
                channel,
                attempt_count: r.get("attempt_count"),
                title: r.get("title"),
                body: r.get("body"),
                priority: parse_col(r, "priority")?,
                urgency: parse_col(r, "urgency")?,
                service: r.get("service"),
                team: r.get("team"),
                alert_count: r.get("alert_count"),
                dashboard_url: r.get("dashboard_url"),
                triggered_at: r.get("triggered_at"),
                recipient_name: r.get("recipient_name"),
                address: Address::parse(channel, r.get("address")),
                credential: credential(r)?,
                credential_shared: r.get("credential_shared"),
                opted_out: r.get("opted_out"),
                address_suppressed: r.get("address_suppressed"),
                other_channels: r
                    .get::<_, Vec<String>>("other_channels")
                    .iter()
                    .map(|c| c.parse::<Channel>().map_err(anyhow::Error::from))
                    .collect::<anyhow::Result<_>>()?,
                quiet_hours: r
                    .get::<_, Option<Json<Vec<WindowSpec>>>>("quiet_hours")
                    .and_then(|Json(w)| QuietHours::from_stored(r.get("timezone"), &w)),
                reply_code: r.get("reply_code"),
                template: r.get::<_, Option<String>>("template_text").map(|text| {
                    Template::stored(
                        channel,
                        Fields {
                            subject: r.get("template_subject"),
                            text,
                            html: r.get("template_html"),
                        },
                    )
                }),
            })
        })
        .collect()
}

fn credential(r: &tokio_postgres::Row) -> anyhow::Result<Option<Credential>> {
    let Some(bytes) = r.get::<_, Option<Vec<u8>>>("credential") else {
        return Ok(None);
    };
    let tenant_id: Uuid = r.get("tenant_id");
    let team: Option<String> = r.get("credential_team");
    let kind: String = r.get("credential_kind");
    let recipient: Option<Uuid> = r.get("credential_recipient_id");
    let owner = match (kind.as_str(), recipient, &team) {
        ("teams_webhook", Some(recipient), _) => Owner::teams_webhook(tenant_id, recipient),
        ("teams_webhook", None, Some(team)) => Owner::teams_team_webhook(tenant_id, team),
        ("slack_bot_token", None, None) => Owner::slack_bot_token(tenant_id),
        (kind, _, _) => anyhow::bail!("a {kind} credential without its owner"),
    };
    Ok(Some(Credential {
        id: r.get("credential_id"),
        revoked: r.get("credential_revoked"),
        updated_at: r.get("credential_updated_at"),
        sealed: Sealed {
            key_id: r.get("credential_key_id"),
            bytes,
        },
        owner,
        team,
    }))
}

/// Hands claimed rows back, their attempt uncounted, when nothing was sent for them
/// (the provider client could not be set up): `queued` with a fresh outbox clock, so the
/// redelivered SQS message claims them again. Only the attempt that was claimed.
#[tracing::instrument(name = "release claimed", skip_all, fields(rows = held.len()))]
pub async fn release(client: &Client, held: &[(Uuid, i32)]) -> anyhow::Result<u64> {
    let stmt = client
        .prepare_cached(
            r#"
            UPDATE notification_log AS n SET
                status = 'queued', attempt_count = n.attempt_count - 1,
                next_attempt_at = now(), lease_expires_at = NULL
            FROM unnest($1::uuid[], $2::int[]) AS r(id, attempt)
            WHERE n.id = r.id AND n.status = 'sending' AND n.attempt_count = r.attempt
            "#,
        )
        .await?;
    let ids: Vec<Uuid> = held.iter().map(|(id, _)| *id).collect();
    let attempts: Vec<i32> = held.iter().map(|(_, a)| *a).collect();
    client
        .execute(&stmt, &[&ids, &attempts])
        .await
        .context("handing claimed rows back")
}

/// The outcome of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptResult {
    pub id: Uuid,
    /// The claim's `attempt_count`: a result only lands on the attempt it belongs to.
    pub attempt: i32,
    pub outcome: AttemptOutcome,
    /// The credential the provider refused as revoked or expired (its id and the
    /// version that was sent with), to mark it so.
    pub revoked_credential: Option<(Uuid, DateTime<Utc>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    Sent {
        provider_message_id: Option<String>,
    },
    /// Not sent, by rule rather than by failure (the number opted out at the carrier).
    Suppressed {
        reason: &'static str,
    },
    /// Not sent yet, by rule (the person's quiet hours): `queued` again, due `until`,
    /// the attempt uncounted.
    Deferred {
        until: DateTime<Utc>,
        reason: &'static str,
    },
    /// `next_attempt_at: None` means final: permanent, or out of attempts.
    Failed {
        error: String,
        retryable: bool,
        next_attempt_at: Option<DateTime<Utc>>,
    },
}

impl AttemptOutcome {
    /// The escalation's view of this attempt ([`crate::domain::engine::Outcome`]): a
    /// delivery that gave up may let the escalation's next step start at once.
    pub fn gave_up(&self) -> bool {
        let (status, reason, retry_pending) = match self {
            AttemptOutcome::Sent { .. } => (NotificationStatus::Sent, None, false),
            AttemptOutcome::Suppressed { reason } => {
                (NotificationStatus::Suppressed, Some(*reason), false)
            }
            AttemptOutcome::Deferred { .. } => (NotificationStatus::Queued, None, false),
            AttemptOutcome::Failed {
                next_attempt_at, ..
            } => (NotificationStatus::Failed, None, next_attempt_at.is_some()),
        };
        Outcome::of(status, reason, retry_pending) == Outcome::GaveUp
    }
}

/// The record statement ([`record`]), with the answered-escalation rule written in.
static RECORD: LazyLock<String> = LazyLock::new(|| {
    RECORD_SQL
        .replace("{answered}", &super::answered_reason("e.status"))
        .replace("{raise}", super::system_events::RAISE)
});

const RECORD_SQL: &str = r#"
            WITH r AS (
                SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::text[], $5::text[], $6::bool[],
                                     $7::timestamptz[], $8::text[], $12::bool[], $13::text[])
                    AS r(id, attempt, status, provider_message_id, error, retryable, next_attempt_at, reason,
                         gave_up, deferred)
            ), updated AS (
                UPDATE notification_log AS n SET
                    status = CASE WHEN r.status IN ('failed', 'queued') AND e.status <> 'triggered'
                                  THEN 'suppressed' ELSE r.status END,
                    suppressed_reason = CASE WHEN r.status IN ('failed', 'queued') AND e.status <> 'triggered'
                                             THEN {answered} ELSE r.reason END,
                    deferred_reason = CASE WHEN e.status = 'triggered' THEN r.deferred END,
                    attempt_count = n.attempt_count - CASE WHEN r.status = 'queued' THEN 1 ELSE 0 END,
                    provider_message_id = COALESCE(r.provider_message_id, n.provider_message_id),
                    -- A deferral keeps what the last real attempt said.
                    error = CASE WHEN r.status = 'queued' THEN n.error ELSE r.error END,
                    retryable = CASE WHEN r.status = 'queued' THEN n.retryable ELSE r.retryable END,
                    next_attempt_at = CASE WHEN e.status = 'triggered' THEN r.next_attempt_at END,
                    sent_at = CASE WHEN r.status = 'sent' THEN now() ELSE n.sent_at END,
                    lease_expires_at = NULL
                FROM r, escalations AS e
                WHERE n.id = r.id AND n.status = 'sending' AND n.attempt_count = r.attempt
                  AND e.id = n.escalation_id
                RETURNING n.id, n.tenant_id, n.escalation_id, n.recipient_id, n.channel, n.status, n.attempt_count,
                          n.provider_message_id, n.error, n.retryable, n.suppressed_reason,
                          n.next_attempt_at, n.deferred_reason, r.gave_up
            ), gave_up AS MATERIALIZED (
                SELECT DISTINCT escalation_id FROM updated WHERE gave_up
            ), wake AS (
                -- A delivery that gave up (engine::Outcome::GaveUp, decided in Rust) may be what the
                -- escalation's next step waits for: a tier whose every delivery gave up
                -- moves on at once. This only makes the escalation due now; the engine's
                -- planner decides. Locked rows are skipped, never waited for (an
                -- acknowledgement holding the escalation may wait on these very rows);
                -- a skipped wake-up leaves the step at its timer. Driven by the batch's
                -- few escalation ids (materialized, and a CASE the engine's partial index
                -- cannot answer): a plan from `escalations_next_step` reads every open
                -- escalation on each batch.
                UPDATE escalations AS e SET next_escalation_at = now()
                FROM (SELECT x.id FROM gave_up g JOIN escalations x ON x.id = g.escalation_id
                      WHERE CASE x.status WHEN 'triggered' THEN x.next_escalation_at > now()
                                          ELSE false END
                      ORDER BY x.id
                      FOR UPDATE OF x SKIP LOCKED) AS due
                WHERE e.id = due.id
            ), revoked AS (
                -- Marked once, for admins to see; replacing the credential clears it.
                UPDATE credentials AS c SET revoked_at = now(), revoked_reason = left(x.error, 200)
                FROM unnest($9::uuid[], $10::text[], $11::timestamptz[]) AS x(id, error, version)
                -- Only the version that was refused: a reinstall meanwhile is left alone.
                WHERE c.id = x.id AND c.updated_at = x.version AND c.revoked_at IS NULL
                RETURNING c.id, c.tenant_id, c.kind, c.team
            ), revoked_event AS (
                INSERT INTO admin_system_events AS a (tenant_id, kind, severity, subject, title, detail)
                SELECT tenant_id, 'credential_revoked', 'warning', id::text,
                       CASE kind WHEN 'teams_webhook' THEN 'A Teams webhook stopped working'
                                 ELSE 'Slack refused Herald''s token' END
                           || COALESCE(' (team ' || team || ')', '') || ': connect it again',
                       jsonb_build_object('credential_id', id, 'kind', kind, 'team', team)
                FROM revoked
                {raise}
            ), provider_failing AS (
                -- Most of this batch failed on the provider's side (domain::system_events).
                INSERT INTO admin_system_events AS a (tenant_id, kind, severity, subject, title, detail)
                SELECT NULL, 'provider_failing', 'critical', $14, 'Sending by ' || $14 || ' is failing',
                       $16::jsonb
                WHERE $15 = 'failing'
                {raise}
            ), provider_recovered AS (
                UPDATE admin_system_events SET resolved_at = now(), resolved_by = 'herald'
                WHERE $15 = 'healthy' AND tenant_id IS NULL AND kind = 'provider_failing'
                  AND subject = $14 AND resolved_at IS NULL
            ), rate_limited AS (
                -- People's rate limits held pages back: one open event per tenant and
                -- channel, counting the batches that met it.
                INSERT INTO admin_system_events AS a (tenant_id, kind, severity, subject, title, detail)
                SELECT tenant_id, 'sending_paused', 'warning', $14,
                       'Rate limits held back pages on ' || $14,
                       jsonb_build_object('reason', 'rate_limited', 'held_back', count(*),
                                          'people', count(DISTINCT recipient_id))
                FROM updated WHERE suppressed_reason = 'rate_limited' AND $14 IS NOT NULL
                GROUP BY tenant_id
                {raise}
            ), counters_down AS (
                -- The counters could not be reached: every page below critical is held
                -- (retried), for every tenant.
                INSERT INTO admin_system_events AS a (tenant_id, kind, severity, subject, title, detail)
                SELECT NULL, 'sending_paused', 'critical', $14,
                       'Rate-limit counters unreachable: ' || $14 || ' pages below critical are held',
                       jsonb_build_object('reason', 'counters_unreachable')
                WHERE $17 = 'unreachable'
                {raise}
            ), counters_back AS (
                UPDATE admin_system_events SET resolved_at = now(), resolved_by = 'herald'
                WHERE $17 = 'answered' AND tenant_id IS NULL AND kind = 'sending_paused'
                  AND subject = $14 AND resolved_at IS NULL
            ), evt AS (
                INSERT INTO event_log (tenant_id, escalation_id, notification_id, event_type, actor_type, actor_id, detail)
                SELECT tenant_id, escalation_id, id,
                       CASE WHEN deferred_reason IS NOT NULL THEN 'notification.deferred'
                            ELSE 'notification.' || status END,
                       'system', 'dispatch-' || channel,
                       jsonb_strip_nulls(jsonb_build_object(
                           'attempt', attempt_count, 'provider_message_id', provider_message_id,
                           'error', error, 'retryable', retryable,
                           'reason', COALESCE(suppressed_reason, deferred_reason),
                           'until', CASE WHEN deferred_reason IS NOT NULL THEN next_attempt_at END))
                FROM updated
            )
            SELECT (SELECT count(*) FROM updated) AS written,
                   -- Sent while someone answered: their messages show buttons that no
                   -- longer apply, and the answer's rewrite may have missed them.
                   ARRAY(SELECT DISTINCT u.escalation_id FROM updated u
                         JOIN escalations e ON e.id = u.escalation_id
                         WHERE u.status = 'sent' AND e.status <> 'triggered') AS answered
            "#;

/// Records every result of a batch in ONE statement, with one `event_log` row per
/// attempt. Only the attempt that was claimed is touched (`sending`, same
/// `attempt_count`): a dispatcher that stalled past its lease cannot overwrite the row a
/// later attempt now owns. A failure (or a deferral) on an escalation acknowledged or
/// resolved meanwhile becomes `suppressed`, not a retry. A deferred row is `queued`
/// again, due at its `next_attempt_at` (the outbox sweep enqueues it then), its attempt
/// uncounted.
#[tracing::instrument(name = "record batch", skip_all, fields(results = results.len()))]
pub async fn record(client: &Client, results: &[AttemptResult]) -> anyhow::Result<Recorded> {
    record_batch(client, None, results).await
}

/// A dispatch batch's channel, and whether it could count the batch against people's rate
/// limits: what the batch says about Herald beyond each row's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchContext {
    pub channel: Channel,
    pub counters: Counters,
}

impl BatchContext {
    /// A batch of `channel` that did not consult the rate-limit counters.
    pub fn of(channel: Channel) -> Self {
        Self {
            channel,
            counters: Counters::NotAsked,
        }
    }
}

/// The rate-limit counters, as a batch found them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Counters {
    /// No limits configured, or nothing in the batch to count.
    #[default]
    NotAsked,
    /// They answered: an open "counters unreachable" event of the channel is resolved.
    Answered,
    /// They could not be reached: pages below critical were held (retried), which opens
    /// (or counts on) a Herald-wide `sending_paused` event for the channel.
    Unreachable,
}

/// [`record`], also telling what the batch says about its channel (see
/// [`crate::domain::system_events`]): most of it failing on the provider's side opens (or
/// counts on) a `provider_failing` event, a clean batch resolves it; rows held back by
/// people's rate limits raise the tenant's `sending_paused` event, and counters that
/// could not be reached Herald's.
pub async fn record_batch(
    client: &Client,
    batch: Option<BatchContext>,
    results: &[AttemptResult],
) -> anyhow::Result<Recorded> {
    let channel = batch.map(|b| b.channel);
    let counters = match batch.map(|b| b.counters) {
        Some(Counters::Answered) => Some("answered"),
        Some(Counters::Unreachable) => Some("unreachable"),
        Some(Counters::NotAsked) | None => None,
    };
    let stmt = client.prepare_cached(&RECORD).await?;
    let attempts_made = results
        .iter()
        .filter(|r| {
            matches!(
                r.outcome,
                AttemptOutcome::Sent { .. } | AttemptOutcome::Failed { .. }
            )
        })
        .count();
    let provider_failures = results
        .iter()
        .filter(|r| {
            matches!(
                r.outcome,
                AttemptOutcome::Failed {
                    retryable: true,
                    ..
                }
            )
        })
        .count();
    let (health, health_detail) = match (
        channel,
        crate::domain::system_events::provider_health(attempts_made, provider_failures),
    ) {
        (Some(_), Health::Failing { attempts, failed }) => (
            Some("failing"),
            serde_json::json!({
                "attempts": attempts, "failed": failed,
                // The provider's first error code of the batch (never a message body).
                "error": results.iter().find_map(|r| match &r.outcome {
                    AttemptOutcome::Failed { error, retryable: true, .. } =>
                        Some(error.split(':').next().unwrap_or_default().chars().take(100).collect::<String>()),
                    _ => None,
                }),
            }),
        ),
        (Some(_), Health::Healthy) => (Some("healthy"), serde_json::Value::Null),
        _ => (None, serde_json::Value::Null),
    };
    let channel_name = channel.map(Channel::as_str);
    let mut ids = Vec::with_capacity(results.len());
    let attempts: Vec<i32> = results.iter().map(|r| r.attempt).collect();
    let mut statuses = Vec::with_capacity(results.len());
    let mut message_ids = Vec::with_capacity(results.len());
    let mut errors = Vec::with_capacity(results.len());
    let mut retryables = Vec::with_capacity(results.len());
    let mut next_attempts = Vec::with_capacity(results.len());
    let mut reasons: Vec<Option<&str>> = Vec::with_capacity(results.len());
    let mut deferred: Vec<Option<&str>> = Vec::with_capacity(results.len());
    let gave_up: Vec<bool> = results.iter().map(|r| r.outcome.gave_up()).collect();
    let (mut revoked_ids, mut revoked_errors, mut revoked_versions) =
        (Vec::new(), Vec::<&str>::new(), Vec::new());
    for r in results {
        ids.push(r.id);
        if let (Some((credential, version)), AttemptOutcome::Failed { error, .. }) =
            (r.revoked_credential, &r.outcome)
        {
            revoked_ids.push(credential);
            revoked_errors.push(error.as_str());
            revoked_versions.push(version);
        }
        match &r.outcome {
            AttemptOutcome::Sent {
                provider_message_id,
            } => {
                statuses.push(NotificationStatus::Sent.as_str());
                message_ids.push(provider_message_id.as_deref());
                errors.push(None);
                retryables.push(None);
                next_attempts.push(None);
                reasons.push(None);
                deferred.push(None);
            }
            AttemptOutcome::Suppressed { reason } => {
                statuses.push(NotificationStatus::Suppressed.as_str());
                message_ids.push(None);
                errors.push(None);
                retryables.push(None);
                next_attempts.push(None);
                reasons.push(Some(reason));
                deferred.push(None);
            }
            AttemptOutcome::Deferred { until, reason } => {
                statuses.push(NotificationStatus::Queued.as_str());
                message_ids.push(None);
                errors.push(None);
                retryables.push(None);
                next_attempts.push(Some(*until));
                reasons.push(None);
                deferred.push(Some(reason));
            }
            AttemptOutcome::Failed {
                error,
                retryable,
                next_attempt_at,
            } => {
                statuses.push(NotificationStatus::Failed.as_str());
                message_ids.push(None);
                errors.push(Some(error.as_str()));
                retryables.push(Some(*retryable));
                next_attempts.push(*next_attempt_at);
                reasons.push(None);
                deferred.push(None);
            }
        }
    }
    let row = client
        .query_one(
            &stmt,
            &[
                &ids,
                &attempts,
                &statuses,
                &message_ids,
                &errors,
                &retryables,
                &next_attempts,
                &reasons,
                &revoked_ids,
                &revoked_errors,
                &revoked_versions,
                &gave_up,
                &deferred,
                &channel_name,
                &health,
                &health_detail,
                &counters,
            ],
        )
        .await
        .context("recording delivery results")?;
    Ok(Recorded {
        written: u64::try_from(row.get::<_, i64>("written")).unwrap_or(0),
        answered_meanwhile: row.get("answered"),
    })
}

/// What recording a batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    /// Rows this batch still owned and updated.
    pub written: u64,
    /// Escalations answered while this batch sent a message for them.
    pub answered_meanwhile: Vec<Uuid>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_claim_without_reply_codes_takes_no_code_steps_and_fewer_parameters() {
        let with = claim_sql(true);
        let without = claim_sql(false);
        assert!(with.contains("sms_reply_codes") && with.contains("$8"));
        assert!(!without.contains("sms_reply") && !without.contains("$8"));
        assert!(without.contains("NULL::smallint AS reply_code"));
        // Everything else is the same statement.
        for part in [
            "WITH locked AS MATERIALIZED",
            "tokens AS (",
            "LEFT JOIN LATERAL",
        ] {
            assert!(with.contains(part) && without.contains(part), "{part}");
        }
    }
}
