//! The PostgreSQL store. All SQL lives in this module's children, parameterised; one
//! async function per query.

pub mod engine;
pub mod escalations;
pub mod inbox;
pub mod notifications;
pub mod oauth;
pub mod opt_outs;
pub mod policies;
pub mod receipts;
pub mod recipients;
pub mod retention;
pub mod slack;
pub mod sms;
pub mod stats;
pub mod sweep;
pub mod system_events;
pub mod teams;
pub mod templates;
pub mod tenants;
pub mod tokens;

mod pool;

pub use deadpool_postgres::{Client, Pool, PoolError, Transaction};
pub use pool::{connect_pool, migrate, migrate_down, migrations_dir};

/// Who changed something, for `event_log` and the escalation's "acknowledged by".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub kind: ActorKind,
    /// The API key id, the recipient's caller-side id, or the function name.
    pub id: String,
    /// What a human reads: "Alice Martin" or "API key hk_3f9a…".
    pub display: String,
    pub recipient_id: Option<uuid::Uuid>,
    pub ip: Option<std::net::IpAddr>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorKind {
    ApiKey,
    Recipient,
    System,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::ApiKey => "api_key",
            ActorKind::Recipient => "recipient",
            ActorKind::System => "system",
        }
    }
}

/// [`reason::answered`](crate::domain::policy::reason::answered) as SQL over the
/// escalation status column `status`: the reason a pending delivery of an answered
/// escalation is suppressed with, NULL while it is triggered. Statements that must
/// decide in SQL (a sweep taking due rows) use this fragment instead of spelling the
/// rule again.
pub(crate) fn answered_reason(status: &str) -> String {
    let arms: String = crate::domain::EscalationStatus::ALL
        .into_iter()
        .filter_map(|s| {
            crate::domain::policy::reason::answered(s)
                .map(|why| format!(" WHEN '{}' THEN '{why}'", s.as_str()))
        })
        .collect();
    format!("(CASE {status}{arms} END)")
}

/// A level or round number as its `integer` column (ours stay far below `i32::MAX`).
pub(crate) fn to_i32(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Reads a text column that holds one of our enums.
pub(crate) fn parse_col<T>(row: &tokio_postgres::Row, col: &str) -> anyhow::Result<T>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let raw: &str = row.try_get(col)?;
    raw.parse::<T>()
        .map_err(|e| anyhow::anyhow!("column {col}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answered_reason_fragment_is_the_domain_rule() {
        assert_eq!(
            answered_reason("e.status"),
            "(CASE e.status WHEN 'acknowledged' THEN 'escalation_acknowledged' \
             WHEN 'resolved' THEN 'escalation_resolved' END)"
        );
    }
}
