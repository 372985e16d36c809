//! Opt-outs: a person asks not to be paged on a channel, or on any, for a while or for
//! good. An opt-out wins over every priority (quiet hours bend for critical pages; an
//! opt-out never does), and the escalation moves on to the person's other channels.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{Channel, FieldError};

/// What an opt-out covers: one channel Herald pages on, or all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum OptOutScope {
    All,
    Channel(Channel),
}

impl OptOutScope {
    /// `all`, or a channel Herald pages on. The in-app inbox is the person's own record of
    /// their pages, not a page: it cannot be opted out of.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        if raw == "all" {
            return Ok(Self::All);
        }
        match raw.parse::<Channel>() {
            Ok(Channel::InApp) => Err(FieldError::new(
                "invalid",
                "channel",
                "the in-app inbox keeps a record of every page and cannot be opted out of",
            )),
            Ok(channel) => Ok(Self::Channel(channel)),
            Err(_) => Err(FieldError::new(
                "invalid",
                "channel",
                "`channel` is `all` or one of email, sms, push, slack, teams, voice",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Channel(c) => c.as_str(),
        }
    }

    /// Whether a notification on `channel` is covered (the dispatch claim's
    /// `channel IN (n.channel, 'all')` says the same in SQL).
    pub fn covers(self, channel: Channel) -> bool {
        match self {
            Self::All => channel != Channel::InApp,
            Self::Channel(c) => c == channel,
        }
    }
}

impl fmt::Display for OptOutScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The longest reason kept.
pub const MAX_REASON_CHARS: usize = 500;

/// The body of `PUT /v1/recipients/{id}/opt-outs/{channel}`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "on leave", "expires_at": "2030-01-15T09:00:00Z"}))]
pub struct OptOutRequest {
    pub reason: Option<String>,
    /// RFC 3339; absent or null: until removed.
    pub expires_at: Option<DateTime<Utc>>,
}

/// An opt-out ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOptOut {
    pub scope: OptOutScope,
    pub reason: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl NewOptOut {
    pub fn parse(
        scope: OptOutScope,
        request: OptOutRequest,
        now: DateTime<Utc>,
    ) -> Result<Self, FieldError> {
        let reason = request
            .reason
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty());
        if reason
            .as_ref()
            .is_some_and(|r| r.chars().count() > MAX_REASON_CHARS)
        {
            return Err(FieldError::new(
                "too_long",
                "reason",
                format!("`reason` is at most {MAX_REASON_CHARS} characters"),
            ));
        }
        if request.expires_at.is_some_and(|at| at <= now) {
            return Err(FieldError::new(
                "invalid",
                "expires_at",
                "`expires_at` is in the past: an opt-out that already ran out would change nothing",
            ));
        }
        Ok(Self {
            scope,
            reason,
            expires_at: request.expires_at,
        })
    }
}

/// Whether a stored opt-out still holds at `now`.
pub fn holds(expires_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    expires_at.is_none_or(|at| at > now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn a_scope_is_all_or_a_paging_channel() {
        assert_eq!(OptOutScope::parse("all"), Ok(OptOutScope::All));
        assert_eq!(
            OptOutScope::parse("sms"),
            Ok(OptOutScope::Channel(Channel::Sms))
        );
        assert_eq!(
            OptOutScope::parse("in_app").map_err(|e| e.field),
            Err("channel".to_owned())
        );
        assert_eq!(
            OptOutScope::parse("fax").map_err(|e| e.field),
            Err("channel".to_owned())
        );
        assert_eq!(OptOutScope::Channel(Channel::Voice).as_str(), "voice");
    }

    #[test]
    fn all_covers_every_paging_channel_and_a_channel_only_itself() {
        for channel in Channel::ALL {
            assert_eq!(OptOutScope::All.covers(channel), channel != Channel::InApp);
            assert!(OptOutScope::Channel(channel).covers(channel));
        }
        assert!(!OptOutScope::Channel(Channel::Sms).covers(Channel::Voice));
    }

    #[test]
    fn an_opt_out_in_the_past_or_with_a_long_reason_is_refused() {
        let now = Utc::now();
        let past = OptOutRequest {
            reason: None,
            expires_at: Some(now - TimeDelta::seconds(1)),
        };
        assert_eq!(
            NewOptOut::parse(OptOutScope::All, past, now).map_err(|e| e.field),
            Err("expires_at".to_owned())
        );
        let long = OptOutRequest {
            reason: Some("x".repeat(MAX_REASON_CHARS + 1)),
            expires_at: None,
        };
        assert_eq!(
            NewOptOut::parse(OptOutScope::All, long, now).map_err(|e| e.field),
            Err("reason".to_owned())
        );
    }

    #[test]
    fn a_blank_reason_is_none_and_no_expiry_holds_for_good() {
        let now = Utc::now();
        let ok = NewOptOut::parse(
            OptOutScope::Channel(Channel::Email),
            OptOutRequest {
                reason: Some("   ".into()),
                expires_at: None,
            },
            now,
        )
        .expect("valid");
        assert_eq!(ok.reason, None);
        assert!(holds(None, now));
        assert!(holds(Some(now + TimeDelta::minutes(1)), now));
        assert!(!holds(Some(now), now));
    }
}
