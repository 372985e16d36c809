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
}

impl Window {
    pub fn of(self, config: &RetentionConfig) -> Duration {
        match self {
            Window::Tokens => config.tokens,
            Window::ResolvedEscalations => config.resolved_escalations,
            Window::EventLog => config.event_log,
        }
    }
}

/// One kind of row retention removes (a table may have several rules, each served by
/// its own index). `sql` deletes at most `$2` rows older than `$1`
/// seconds and returns how many it deleted; it locks only the rows it deletes and skips
/// rows someone else holds.
#[derive(Debug)]
pub struct Rule {
    /// The table the counts are reported under.
    pub table: &'static str,
    pub window: Window,
    sql: &'static str,
}

/// In order: children before parents, so a parent's delete never cascades into an
/// unbounded number of children.
pub const RULES: &[Rule] = &[
    Rule {
        // Expired more than a window ago. Until then a click on an old link still says
        // "expired" instead of "unknown link".
        table: "magic_link_tokens",
        window: Window::Tokens,
        sql: r#"
            WITH gone AS (
                DELETE FROM magic_link_tokens
                WHERE id IN (
                    SELECT id FROM magic_link_tokens
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
        window: Window::Tokens,
        sql: r#"
            WITH gone AS (
                DELETE FROM magic_link_tokens
                WHERE id IN (
                    SELECT id FROM magic_link_tokens
                    WHERE used_at < now() - make_interval(secs => $1)
                    LIMIT $2
                    FOR UPDATE SKIP LOCKED)
                RETURNING 1
            )
            SELECT count(*) FROM gone
        "#,
    },
    Rule {
        // Delivery rows of escalations resolved longer ago than the window (their tokens
        // follow by cascade: at most two per attempt).
        table: "notification_log",
        window: Window::ResolvedEscalations,
        sql: r#"
            WITH gone AS (
                DELETE FROM notification_log
                WHERE id IN (
                    SELECT n.id
                    FROM escalations AS e
                    JOIN notification_log AS n ON n.escalation_id = e.id
                    WHERE e.status = 'resolved' AND e.resolved_at < now() - make_interval(secs => $1)
                    LIMIT $2
                    FOR UPDATE OF n SKIP LOCKED)
                RETURNING 1
            )
            SELECT count(*) FROM gone
        "#,
    },
    Rule {
        // Then the escalations themselves, once their delivery rows are gone.
        table: "escalations",
        window: Window::ResolvedEscalations,
        sql: r#"
            WITH gone AS (
                DELETE FROM escalations
                WHERE id IN (
                    SELECT e.id FROM escalations AS e
                    WHERE e.status = 'resolved' AND e.resolved_at < now() - make_interval(secs => $1)
                      AND NOT EXISTS (SELECT 1 FROM notification_log AS n WHERE n.escalation_id = e.id)
                    LIMIT $2
                    FOR UPDATE SKIP LOCKED)
                RETURNING 1
            )
            SELECT count(*) FROM gone
        "#,
    },
    Rule {
        // The audit log outlives the escalations it describes, up to its own window.
        table: "event_log",
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
];

/// Deletes one batch of at most `limit` rows for `rule`; returns how many went.
#[tracing::instrument(name = "retention batch", skip_all, fields(table = rule.table, limit = limit))]
pub async fn delete_batch(
    client: &Client,
    rule: &Rule,
    window: Duration,
    limit: u32,
) -> anyhow::Result<u64> {
    let stmt = client.prepare_cached(rule.sql).await?;
    let deleted: i64 = client
        .query_one(&stmt, &[&window.as_secs_f64(), &i64::from(limit)])
        .await
        .with_context(|| format!("deleting expired {}", rule.table))?
        .get(0);
    Ok(u64::try_from(deleted).unwrap_or(0))
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
    fn children_go_before_their_parents() {
        let pos = |t: &str| RULES.iter().position(|r| r.table == t).expect(t);
        assert!(pos("notification_log") < pos("escalations"));
        assert!(pos("magic_link_tokens") < pos("notification_log"));
    }
}
