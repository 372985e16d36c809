//! Curated system events for the people who run Herald (`admin_system_events`): only
//! what needs a person, each kind raised in one place, de-duplicated so one outage is one
//! open event (its `occurrences` count the repeats):
//! - `provider_failing` (critical, about Herald itself): a dispatch batch in which most
//!   attempts failed on the provider's side ([`provider_health`]); resolved by Herald
//!   when a later batch of the channel goes through clean;
//! - `escalation_exhausted` (critical for a critical page, else warning): the policy ran
//!   out and nobody answered (raised by the engine's apply statement);
//! - `credential_revoked` (warning): a provider refused a stored credential for good (a
//!   Slack token revoked, a Teams webhook deleted), raised where it is marked;
//! - `sending_paused`: people's rate limits held a tenant's pages back on a channel
//!   (warning, the tenant's), or the rate-limit counters could not be reached so every
//!   page below critical is held (critical, Herald's; resolved by Herald when a batch
//!   reaches them again), both raised by the record statement;
//! - `dlq_messages` (warning, Herald's): a channel's dead-letter queue holds messages
//!   (the rows are safe in PostgreSQL, but a dispatcher kept failing on them); raised by
//!   the retry sweep, which reads the DLQs' depths every run and resolves the event once
//!   the DLQ is empty.
//!
//! Tenants list theirs and Herald's own, and resolve theirs (`resolved_by`).

use serde::Serialize;

/// Attempts a batch needs before it says anything about its provider.
pub const MIN_ATTEMPTS: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Critical,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

impl std::str::FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "critical" => Ok(Severity::Critical),
            "warning" => Ok(Severity::Warning),
            "info" => Ok(Severity::Info),
            other => Err(format!(
                "unknown severity `{other}`; expected critical, warning or info"
            )),
        }
    }
}

/// What one dispatch batch says about its channel's provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// At least half of at least [`MIN_ATTEMPTS`] attempts failed in a way a retry may
    /// fix (throttling, timeouts, 5xx): the provider, not the addresses.
    Failing { attempts: usize, failed: usize },
    /// At least [`MIN_ATTEMPTS`] attempts and none failed that way.
    Healthy,
    /// Too few attempts to tell, or some failures but not most.
    Unknown,
}

/// The rule: `attempts` calls to the provider in a batch, `provider_failures` of them
/// failed retryably.
pub fn provider_health(attempts: usize, provider_failures: usize) -> Health {
    if attempts < MIN_ATTEMPTS {
        Health::Unknown
    } else if provider_failures * 2 >= attempts {
        Health::Failing {
            attempts,
            failed: provider_failures,
        }
    } else if provider_failures == 0 {
        Health::Healthy
    } else {
        Health::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_of_a_real_batch_failing_is_an_outage_and_a_clean_one_ends_it() {
        assert_eq!(
            provider_health(10, 5),
            Health::Failing {
                attempts: 10,
                failed: 5
            }
        );
        assert_eq!(provider_health(10, 4), Health::Unknown);
        assert_eq!(provider_health(10, 0), Health::Healthy);
        // Too few to tell either way: one failed send of two is not an outage.
        assert_eq!(provider_health(4, 4), Health::Unknown);
        assert_eq!(provider_health(4, 0), Health::Unknown);
        assert_eq!("warning".parse(), Ok(Severity::Warning));
        assert!("loud".parse::<Severity>().is_err());
    }
}
