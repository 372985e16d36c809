use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{Channel, NotificationStatus};

/// Which channels to use, in escalating tiers. Primary channels go out at once, in
/// parallel; secondary and fallback are used when the tier before them did not reach
/// anyone in time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelPolicy {
    pub primary: Vec<Channel>,
    pub secondary: Vec<Channel>,
    pub fallback: Vec<Channel>,
}

impl Default for ChannelPolicy {
    fn default() -> Self {
        Self {
            primary: vec![Channel::Email, Channel::Slack, Channel::Push],
            secondary: vec![Channel::Sms],
            fallback: vec![Channel::Voice],
        }
    }
}

/// Why a notification was recorded but not sent.
pub mod reason {
    pub const CHANNEL_NOT_ENABLED: &str = "channel_not_enabled";
    pub const NO_ADDRESS: &str = "no_address_for_channel";
    pub const ESCALATION_ACKNOWLEDGED: &str = "escalation_acknowledged";
    pub const ESCALATION_RESOLVED: &str = "escalation_resolved";
    /// The carrier says the number opted out of SMS (replied STOP).
    pub const OPTED_OUT_AT_CARRIER: &str = "opted_out_at_carrier";
    /// The page reaches this recipient's team channel through another recipient's row.
    pub const SENT_TO_TEAM_CHANNEL: &str = "sent_to_team_channel";
    /// The tenant has not connected the channel's provider (no Slack installation).
    pub const NOT_CONNECTED: &str = "channel_not_connected";
    /// The provider refused the credential as revoked or expired (a Slack token, a
    /// deleted Teams webhook): admins see it in `GET /v1/integrations` until they
    /// replace it.
    pub const CREDENTIAL_REVOKED: &str = "credential_revoked";
}

/// One row ingest will write for a recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedNotification {
    /// Index into the request's recipients.
    pub recipient: usize,
    pub channel: Channel,
    pub status: NotificationStatus,
    pub suppressed_reason: Option<&'static str>,
}

/// What a recipient can be reached on.
pub trait Reachable {
    fn has_address(&self, channel: Channel) -> bool;
}

/// Plans the first wave: every primary channel for every recipient. A channel that is
/// not `enabled` (no queue configured for it), or one the recipient has no address for,
/// is recorded as suppressed with its reason so the delivery log shows why nothing went
/// out.
pub fn plan_primary<R: Reachable>(
    policy: &ChannelPolicy,
    recipients: &[R],
    enabled: &BTreeSet<Channel>,
) -> Vec<PlannedNotification> {
    let mut planned = Vec::with_capacity(recipients.len() * policy.primary.len());
    for (index, recipient) in recipients.iter().enumerate() {
        for &channel in &policy.primary {
            let suppressed_reason = if !enabled.contains(&channel) {
                Some(reason::CHANNEL_NOT_ENABLED)
            } else if !recipient.has_address(channel) {
                Some(reason::NO_ADDRESS)
            } else {
                None
            };
            let status = match (suppressed_reason, channel) {
                (Some(_), _) => NotificationStatus::Suppressed,
                // The inbox row is written with the escalation: nothing to send.
                (None, Channel::InApp) => NotificationStatus::Delivered,
                (None, _) => NotificationStatus::Queued,
            };
            planned.push(PlannedNotification {
                recipient: index,
                channel,
                status,
                suppressed_reason,
            });
        }
    }
    planned
}

#[cfg(test)]
mod tests {
    use super::*;

    struct R(&'static [Channel]);
    impl Reachable for R {
        fn has_address(&self, channel: Channel) -> bool {
            self.0.contains(&channel)
        }
    }

    fn email_only() -> BTreeSet<Channel> {
        BTreeSet::from([Channel::Email])
    }

    #[test]
    fn enabled_channel_with_address_is_queued() {
        let plan = plan_primary(
            &ChannelPolicy::default(),
            &[R(&[Channel::Email, Channel::Slack])],
            &email_only(),
        );
        assert_eq!(plan.len(), 3);
        assert_eq!(plan[0].channel, Channel::Email);
        assert_eq!(plan[0].status, NotificationStatus::Queued);
    }

    #[test]
    fn disabled_channels_are_suppressed_not_dropped() {
        let plan = plan_primary(
            &ChannelPolicy::default(),
            &[R(&[Channel::Email, Channel::Slack])],
            &email_only(),
        );
        let slack = plan
            .iter()
            .find(|p| p.channel == Channel::Slack)
            .expect("slack row");
        assert_eq!(slack.status, NotificationStatus::Suppressed);
        assert_eq!(slack.suppressed_reason, Some(reason::CHANNEL_NOT_ENABLED));
    }

    #[test]
    fn missing_address_is_suppressed_with_its_reason() {
        let plan = plan_primary(&ChannelPolicy::default(), &[R(&[])], &email_only());
        assert_eq!(plan[0].suppressed_reason, Some(reason::NO_ADDRESS));
    }

    #[test]
    fn an_in_app_row_is_delivered_when_planned() {
        let policy = ChannelPolicy {
            primary: vec![Channel::InApp, Channel::Email],
            secondary: vec![],
            fallback: vec![],
        };
        let enabled = BTreeSet::from([Channel::Email, Channel::InApp]);
        let plan = plan_primary(&policy, &[R(&[Channel::InApp])], &enabled);
        assert_eq!(plan[0].status, NotificationStatus::Delivered);
        assert_eq!(plan[1].suppressed_reason, Some(reason::NO_ADDRESS));
    }

    #[test]
    fn secondary_and_fallback_are_not_planned_at_ingest() {
        let plan = plan_primary(
            &ChannelPolicy::default(),
            &[R(&[Channel::Sms, Channel::Voice])],
            &BTreeSet::from(Channel::ALL),
        );
        assert!(
            plan.iter()
                .all(|p| p.channel != Channel::Sms && p.channel != Channel::Voice)
        );
    }
}
