//! What retention deletes: ONE list of rules, each a bounded `DELETE` of rows older than
//! a window. A new table gets a new entry in [`RULES`], nothing else.

use std::time::Duration;

use anyhow::Context;

use super::Client;
use crate::config::RetentionConfig;

/// Which configured window a rule uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    Tokens,
    ResolvedEscalations,
    EventLog,
    Inbox,
    /// Fixed, not configured: a signature must be kept while a replay of it could still
    /// pass Slack's five-minute timestamp check.
    SlackReplay,
    /// Fixed: how long after its escalation is resolved a reply code still answers
    /// "already resolved" (then a reply gets help).
    SmsCodes,
    /// Fixed: inbound SMS ids are kept while SQS could still deliver the message again
    /// (and help is sent at most once per ten minutes).
    SmsReplies,
    /// Fixed: a number nobody paged for this long starts again at code 1.
    SmsCounters,
    /// Fixed: how long after it expired an OAuth state is kept (its callback then says
    /// "already used or never issued" rather than "expired", which is just as final).
    OAuthStates,
    /// Fixed: how long an opt-out that ran out stays listed (inactive) in the API, so
    /// "why was I paged again?" has its answer for a while.
    OptOuts,
    /// Resolved system events.
    SystemEvents,
}

/// How long a Slack request signature is kept: the five-minute window either way, and
/// a margin for clocks.
pub const SLACK_REPLAY_WINDOW: Duration = Duration::from_secs(15 * 60);

/// How long a resolved escalation's reply codes stand.
pub const SMS_CODE_AFTER_RESOLVED: Duration = Duration::from_secs(3600);
/// How long an inbound SMS id is remembered (SQS keeps a message at most 14 days, but
/// the sms-reply queue hands it to the DLQ after five receives within minutes).
pub const SMS_REPLY_LOG: Duration = Duration::from_secs(2 * 24 * 3600);
/// How long an idle number keeps its code counter.
pub const SMS_COUNTER_IDLE: Duration = Duration::from_secs(30 * 24 * 3600);
/// How long an expired OAuth state is kept.
pub const OAUTH_STATE_AFTER_EXPIRY: Duration = Duration::from_secs(3600);
/// How long an expired opt-out is kept.
pub const OPT_OUT_AFTER_EXPIRY: Duration = Duration::from_secs(30 * 24 * 3600);

impl Window {
    pub fn of(self, config: &RetentionConfig) -> Duration {
        match self {
            Window::Tokens => config.tokens,
            Window::ResolvedEscalations => config.resolved_escalations,
            Window::EventLog => config.event_log,
            Window::Inbox => config.inbox,
            Window::SlackReplay => SLACK_REPLAY_WINDOW,
            Window::SmsCodes => SMS_CODE_AFTER_RESOLVED,
            Window::SmsReplies => SMS_REPLY_LOG,
            Window::SmsCounters => SMS_COUNTER_IDLE,
            Window::OAuthStates => OAUTH_STATE_AFTER_EXPIRY,
            Window::OptOuts => OPT_OUT_AFTER_EXPIRY,
            Window::SystemEvents => config.system_events,
        }
    }
}

/// One kind of row retention removes (a table may have several rules, each served by
/// its own index). `sql` takes `$1`, the window in seconds, and `$2`, the most rows of
/// `table` one statement may delete; it locks only what it deletes, skips rows someone
/// else holds, and returns one row: the count deleted from `table`, then one count per
/// table in `children` (rows that belong to those and go with them).
#[derive(Debug)]
pub struct Rule {
    pub table: &'static str,
    pub children: &'static [&'static str],
    pub window: Window,
    sql: &'static str,
}

/// In order. A rule with children deletes them in the same statement as their parent,
/// so no parent is ever left half-deleted and no batch scans past children it already
/// deleted.
pub const RULES: &[Rule] = &[
    Rule {
        // Expired more than a window ago. Until then a click on an old link still says
        // "expired" instead of "unknown link".
        table: "magic_link_tokens",
        children: &[],
        window: Window::Tokens,
        sql: r#"
            WITH gone AS (
                DELETE FROM magic_link_tokens
                WHERE token_hash IN (
                    SELECT token_hash FROM magic_link_tokens
                    WHERE expires_at < now() - make_interval(secs => $1)
                    LIMIT $2
                    FOR UPDATE SKIP LOCKED)
                RETURNING 1
            )
            SELECT count(*) FROM gone
        "#,
    },
    Rule {
        // Used more than a window ago (a link says "already used by …" until then).
        table: "magic_link_tokens",
        children: &[],
        window: Window::Tokens,
        sql: r#"
            WITH gone AS (
                DELETE FROM magic_link_tokens
                WHERE token_hash IN (
                    SELECT token_hash FROM magic_link_tokens
                    WHERE used_at < now() - make_interval(secs => $1)
                    LIMIT $2
                    FOR UPDATE SKIP LOCKED)
                RETURNING 1
            )
            SELECT count(*) FROM gone
        "#,
    },
    Rule {
        // Escalations resolved longer ago than the window, with their delivery rows and
        // any tokens left. The batch bounds escalations; each has a bounded number of
        // delivery rows (recipients x channels x levels), and the adaptive batch size
        // keeps the statement short either way.
        table: "escalations",
        children: &[
            "notification_log",
            "magic_link_tokens",
            "notifications",
            "sms_reply_codes",
        ],
        window: Window::ResolvedEscalations,
        sql: r#"
            WITH doomed AS (
                SELECT id FROM escalations
                WHERE status = 'resolved' AND resolved_at < now() - make_interval(secs => $1)
                ORDER BY resolved_at
                LIMIT $2
                FOR UPDATE SKIP LOCKED
            ), tokens AS (
                -- Through their delivery rows (a token's one key): `notification_log`'s
                -- step key finds them by escalation.
                DELETE FROM magic_link_tokens WHERE notification_id IN (
                    SELECT n.id FROM notification_log n WHERE n.escalation_id IN (SELECT id FROM doomed))
                RETURNING 1
            ), inbox AS (
                DELETE FROM notifications WHERE escalation_id IN (SELECT id FROM doomed)
                RETURNING 1
            ), codes AS (
                DELETE FROM sms_reply_codes WHERE escalation_id IN (SELECT id FROM doomed)
                RETURNING 1
            ), deliveries AS (
                DELETE FROM notification_log WHERE escalation_id IN (SELECT id FROM doomed)
                RETURNING 1
            ), gone AS (
                DELETE FROM escalations WHERE id IN (SELECT id FROM doomed)
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM deliveries),
                   (SELECT count(*) FROM tokens), (SELECT count(*) FROM inbox),
                   (SELECT count(*) FROM codes)
        "#,
    },
    Rule {
        // The audit log outlives the escalations it describes, up to its own window.
        table: "event_log",
        children: &[],
        window: Window::EventLog,
        sql: r#"
            WITH gone AS (
                DELETE FROM event_log
                WHERE id IN (
                    SELECT id FROM event_log
                    WHERE occurred_at < now() - make_interval(secs => $1)
                    ORDER BY occurred_at
                    LIMIT $2
                    FOR UPDATE SKIP LOCKED)
                RETURNING 1
            )
            SELECT count(*) FROM gone
        "#,
    },
    Rule {
        // In-app rows past their expiry (already hidden), or older than the window, read
        // or not, deleted or not. Each side has its index; PostgreSQL ORs the two.
        table: "notifications",
        children: &[],
        window: Window::Inbox,
        sql: r#"
            WITH gone AS (
                DELETE FROM notifications
                WHERE id IN (
                    SELECT id FROM notifications
                    WHERE expires_at < now() OR created_at < now() - make_interval(secs => $1)
                    LIMIT $2
                    FOR UPDATE SKIP LOCKED)
                RETURNING 1
            )
            SELECT count(*) FROM gone
        "#,
    },
    Rule {
        // Signatures of Slack interactions, once a replay could no longer pass the
        // timestamp check anyway.
        table: "slack_request_signatures",
        children: &[],
        window: Window::SlackReplay,
        sql: r#"
            WITH gone AS (
                DELETE FROM slack_request_signatures
                WHERE signature IN (
                    SELECT signature FROM slack_request_signatures
                    WHERE received_at < now() - make_interval(secs => $1)
                    LIMIT $2
                    FOR UPDATE SKIP LOCKED)
                RETURNING 1
            )
            SELECT count(*) FROM gone
        "#,
    },
    Rule {
        // OAuth flows nobody finished, a while after they expired.
        table: "oauth_states",
        children: &[],
        window: Window::OAuthStates,
        sql: r#"
            WITH gone AS (
                DELETE FROM oauth_states
                WHERE nonce IN (
                    SELECT nonce FROM oauth_states
                    WHERE expires_at < now() - make_interval(secs => $1)
                    LIMIT $2
                    FOR UPDATE SKIP LOCKED)
                RETURNING 1
            )
            SELECT count(*) FROM gone
        "#,
    },
    Rule {
        // Reply codes of escalations resolved a while ago: a reply then gets help. The
        // codes table holds at most 99 rows a number, so the scan stays small.
        table: "sms_reply_codes",
        children: &[],
        window: Window::SmsCodes,
        sql: r#"
            WITH gone AS (
                DELETE FROM sms_reply_codes
                WHERE (phone, code) IN (
                    SELECT k.phone, k.code FROM sms_reply_codes k
                    JOIN escalations e ON e.id = k.escalation_id
                    WHERE e.status = 'resolved' AND e.resolved_at < now() - make_interval(secs => $1)
                    LIMIT $2
                    FOR UPDATE OF k SKIP LOCKED)
                RETURNING 1
            )
            SELECT count(*) FROM gone
        "#,
    },
    Rule {
        // Inbound SMS ids, once no redelivery of them can come.
        table: "sms_replies",
        children: &[],
        window: Window::SmsReplies,
        sql: r#"
            WITH gone AS (
                DELETE FROM sms_replies
                WHERE inbound_message_id IN (
                    SELECT inbound_message_id FROM sms_replies
                    WHERE received_at < now() - make_interval(secs => $1)
                    LIMIT $2
                    FOR UPDATE SKIP LOCKED)
                RETURNING 1
            )
            SELECT count(*) FROM gone
        "#,
    },
    Rule {
        // Counters of numbers idle for a month and holding no code: they start at 1 again.
        table: "sms_reply_counters",
        children: &[],
        window: Window::SmsCounters,
        sql: r#"
            WITH gone AS (
                DELETE FROM sms_reply_counters
                WHERE phone IN (
                    SELECT x.phone FROM sms_reply_counters x
                    WHERE x.updated_at < now() - make_interval(secs => $1)
                      AND NOT EXISTS (SELECT 1 FROM sms_reply_codes k WHERE k.phone = x.phone)
                    LIMIT $2
                    FOR UPDATE SKIP LOCKED)
                RETURNING 1
            )
            SELECT count(*) FROM gone
        "#,
    },
    Rule {
        // Opt-outs that ran out a while ago (they already page nobody's way).
        table: "opt_outs",
        children: &[],
        window: Window::OptOuts,
        sql: r#"
            WITH gone AS (
                DELETE FROM opt_outs
                WHERE (recipient_id, channel) IN (
                    SELECT recipient_id, channel FROM opt_outs
                    WHERE expires_at < now() - make_interval(secs => $1)
                    LIMIT $2
                    FOR UPDATE SKIP LOCKED)
                RETURNING 1
            )
            SELECT count(*) FROM gone
        "#,
    },
    Rule {
        // Resolved longer ago than the window; open ones stay however old.
        table: "admin_system_events",
        children: &[],
        window: Window::SystemEvents,
        sql: r#"
            WITH gone AS (
                DELETE FROM admin_system_events
                WHERE id IN (
                    SELECT id FROM admin_system_events
                    WHERE resolved_at < now() - make_interval(secs => $1)
                    LIMIT $2
                    FOR UPDATE SKIP LOCKED)
                RETURNING 1
            )
            SELECT count(*) FROM gone
        "#,
    },
];

/// Bounds how long any retention statement waits for a lock (a cascade or child delete
/// may meet a row another transaction holds): it fails instead, and the next run retries.
pub async fn bound_lock_waits(client: &Client, limit: Duration) -> anyhow::Result<()> {
    client
        .batch_execute(&format!("SET lock_timeout = {}", limit.as_millis().max(1)))
        .await
        .context("setting lock_timeout")
}

/// What one batch deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    /// Rows of the rule's own table: fewer than the limit means the rule is done.
    pub rows: u64,
    /// Every table's count, the rule's own first, then its children.
    pub per_table: Vec<(&'static str, u64)>,
}

/// Deletes one batch of at most `limit` rows of `rule.table` (and their children).
#[tracing::instrument(name = "retention batch", skip_all, fields(table = rule.table, limit = limit))]
pub async fn delete_batch(
    client: &Client,
    rule: &Rule,
    window: Duration,
    limit: u32,
) -> anyhow::Result<Deleted> {
    let stmt = client.prepare_cached(rule.sql).await?;
    let row = client
        .query_one(&stmt, &[&window.as_secs_f64(), &i64::from(limit)])
        .await
        .with_context(|| format!("deleting expired {}", rule.table))?;
    let per_table: Vec<(&'static str, u64)> = std::iter::once(rule.table)
        .chain(rule.children.iter().copied())
        .enumerate()
        .map(|(i, table)| (table, u64::try_from(row.get::<_, i64>(i)).unwrap_or(0)))
        .collect();
    Ok(Deleted {
        rows: per_table[0].1,
        per_table,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_is_bounded_and_parameterised() {
        for rule in RULES {
            assert!(rule.sql.contains("LIMIT $2"), "{} is bounded", rule.table);
            assert!(rule.sql.contains("$1"), "{} uses its window", rule.table);
            assert!(
                rule.sql.contains("SKIP LOCKED"),
                "{} never waits",
                rule.table
            );
        }
    }

    #[test]
    fn every_child_count_is_returned() {
        for rule in RULES {
            assert_eq!(
                rule.sql.matches("count(*)").count(),
                1 + rule.children.len(),
                "{}",
                rule.table
            );
        }
    }
}
