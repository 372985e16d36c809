use std::fmt;
use std::str::FromStr;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EscalationStatus {
    Triggered,
    Acknowledged,
    Resolved,
}

impl EscalationStatus {
    pub const ALL: [EscalationStatus; 3] = [
        EscalationStatus::Triggered,
        EscalationStatus::Acknowledged,
        EscalationStatus::Resolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EscalationStatus::Triggered => "triggered",
            EscalationStatus::Acknowledged => "acknowledged",
            EscalationStatus::Resolved => "resolved",
        }
    }
}

impl FromStr for EscalationStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "triggered" => Ok(Self::Triggered),
            "acknowledged" => Ok(Self::Acknowledged),
            "resolved" => Ok(Self::Resolved),
            other => Err(format!("unknown escalation status `{other}`")),
        }
    }
}

impl fmt::Display for EscalationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationStatus {
    Queued,
    Sending,
    Sent,
    Delivered,
    Failed,
    Suppressed,
}

impl NotificationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationStatus::Queued => "queued",
            NotificationStatus::Sending => "sending",
            NotificationStatus::Sent => "sent",
            NotificationStatus::Delivered => "delivered",
            NotificationStatus::Failed => "failed",
            NotificationStatus::Suppressed => "suppressed",
        }
    }
}

impl FromStr for NotificationStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "queued" => Ok(Self::Queued),
            "sending" => Ok(Self::Sending),
            "sent" => Ok(Self::Sent),
            "delivered" => Ok(Self::Delivered),
            "failed" => Ok(Self::Failed),
            "suppressed" => Ok(Self::Suppressed),
            other => Err(format!("unknown notification status `{other}`")),
        }
    }
}

impl fmt::Display for NotificationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a person (through a magic link) or a caller (through the API) does to an escalation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Acknowledge,
    Resolve,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Acknowledge => "acknowledge",
            Action::Resolve => "resolve",
        }
    }

    /// The states this action moves an escalation out of. Acknowledging a resolved
    /// escalation, or resolving it twice, changes nothing.
    pub fn applies_to(self, status: EscalationStatus) -> bool {
        match self {
            Action::Acknowledge => status == EscalationStatus::Triggered,
            Action::Resolve => status != EscalationStatus::Resolved,
        }
    }

    pub fn allowed_from(self) -> &'static [&'static str] {
        match self {
            Action::Acknowledge => &["triggered"],
            Action::Resolve => &["triggered", "acknowledged"],
        }
    }

    pub fn target(self) -> EscalationStatus {
        match self {
            Action::Acknowledge => EscalationStatus::Acknowledged,
            Action::Resolve => EscalationStatus::Resolved,
        }
    }

    /// Past tense for pages and events ("acknowledged").
    pub fn past_tense(self) -> &'static str {
        self.target().as_str()
    }
}

impl FromStr for Action {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "acknowledge" => Ok(Self::Acknowledge),
            "resolve" => Ok(Self::Resolve),
            other => Err(format!("unknown action `{other}`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use EscalationStatus::*;

    #[test]
    fn acknowledge_applies_only_to_triggered() {
        assert!(Action::Acknowledge.applies_to(Triggered));
        assert!(!Action::Acknowledge.applies_to(Acknowledged));
        assert!(!Action::Acknowledge.applies_to(Resolved));
    }

    #[test]
    fn resolve_applies_until_resolved() {
        assert!(Action::Resolve.applies_to(Triggered));
        assert!(Action::Resolve.applies_to(Acknowledged));
        assert!(!Action::Resolve.applies_to(Resolved));
    }

    #[test]
    fn allowed_from_matches_applies_to() {
        for action in [Action::Acknowledge, Action::Resolve] {
            for status in [Triggered, Acknowledged, Resolved] {
                assert_eq!(
                    action.allowed_from().contains(&status.as_str()),
                    action.applies_to(status)
                );
            }
        }
    }
}
