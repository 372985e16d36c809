use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{Channel, NotificationStatus};

/// Which channels to use, in escalating tiers. Primary channels go out at once, in
/// parallel; secondary and fallback are used when the tier before them did not reach
/// anyone in time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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

/// A tier of a level's channels. Primary goes out when the level fires; secondary when
/// every primary delivery to the person failed for good or they did not answer within
/// `secondary_after_minutes`; fallback likewise after secondary.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Primary,
    Secondary,
    Fallback,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Primary => "primary",
            Tier::Secondary => "secondary",
            Tier::Fallback => "fallback",
        }
    }
}

impl std::str::FromStr for Tier {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "primary" => Ok(Tier::Primary),
            "secondary" => Ok(Tier::Secondary),
            "fallback" => Ok(Tier::Fallback),
            other => Err(format!("unknown tier `{other}`")),
        }
    }
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Minutes before the secondary tier when nobody answered the primary one.
pub const DEFAULT_SECONDARY_AFTER_MINUTES: u32 = 5;
/// Minutes (from the level firing) before the fallback tier.
pub const DEFAULT_FALLBACK_AFTER_MINUTES: u32 = 10;

/// One level of an escalation policy: who is paged, `after_minutes` after the round
/// started, and over which channel tiers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Level {
    pub after_minutes: u32,
    /// The caller's ids of the people (recipients' `id`).
    pub recipients: Vec<String>,
    pub channels: ChannelPolicy,
    pub secondary_after_minutes: u32,
    pub fallback_after_minutes: u32,
}

impl Level {
    /// The level's non-empty tiers in order, each with how long after the tier before it
    /// it is due when nobody answered (zero for primary).
    pub fn tiers(&self) -> Vec<(Tier, &[Channel], chrono::TimeDelta)> {
        let minutes = |m: u32| chrono::TimeDelta::minutes(i64::from(m));
        let mut tiers = Vec::with_capacity(3);
        let mut previous = 0;
        for (tier, channels, offset) in [
            (Tier::Primary, &self.channels.primary, 0),
            (
                Tier::Secondary,
                &self.channels.secondary,
                self.secondary_after_minutes,
            ),
            (
                Tier::Fallback,
                &self.channels.fallback,
                self.fallback_after_minutes,
            ),
        ] {
            if channels.is_empty() {
                continue;
            }
            tiers.push((
                tier,
                channels.as_slice(),
                minutes(offset.saturating_sub(previous)),
            ));
            previous = offset;
        }
        tiers
    }

    /// How long a person has to answer the level's last tier before the level counts as
    /// done for them: the same wait as between primary and secondary.
    pub fn final_wait(&self) -> chrono::TimeDelta {
        chrono::TimeDelta::minutes(i64::from(self.secondary_after_minutes))
    }
}

/// Who is paged, in which order and how often: levels fire in order after their delay;
/// after the last level, `repeat` more rounds start over while nobody answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EscalationPolicy {
    pub levels: Vec<Level>,
    pub repeat: u8,
    /// PagerDuty's acknowledgement timeout: an escalation acknowledged but not resolved
    /// this many minutes later goes back to `triggered` and the policy starts over from
    /// its first level (with its repeats). Off when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_timeout_minutes: Option<u32>,
}

impl EscalationPolicy {
    pub const MAX_LEVELS: usize = 10;
    pub const MAX_REPEAT: u8 = 9;
    /// A level fires at most a week after its round started.
    pub const MAX_AFTER_MINUTES: u32 = 7 * 24 * 60;
    /// Tier delays are at most a day.
    pub const MAX_TIER_MINUTES: u32 = 24 * 60;
    /// An acknowledgement holds at most a day before it times out.
    pub const MAX_ACK_TIMEOUT_MINUTES: u32 = 24 * 60;

    /// The policy of an escalation that names none: everyone at once, on `channels`'
    /// tiers with the default delays, once.
    pub fn everyone(recipients: Vec<String>, channels: ChannelPolicy) -> Self {
        Self {
            levels: vec![Level {
                after_minutes: 0,
                recipients,
                channels,
                secondary_after_minutes: DEFAULT_SECONDARY_AFTER_MINUTES,
                fallback_after_minutes: DEFAULT_FALLBACK_AFTER_MINUTES,
            }],
            repeat: 0,
            ack_timeout_minutes: None,
        }
    }
}

/// Why a notification was recorded but not sent.
pub mod reason {
    pub const CHANNEL_NOT_ENABLED: &str = "channel_not_enabled";
    pub const NO_ADDRESS: &str = "no_address_for_channel";
    pub const ESCALATION_ACKNOWLEDGED: &str = "escalation_acknowledged";
    pub const ESCALATION_RESOLVED: &str = "escalation_resolved";
    /// The person opted out of the channel (or of all), through Herald's API: never
    /// sent, whatever the priority; the escalation moves on to their other channels.
    pub const OPTED_OUT: &str = "opted_out";
    /// The address is on the tenant's suppression list for the channel: a provider
    /// reported it bad (a permanent bounce, a number that does not exist) or its owner
    /// complained (see [`crate::domain::receipt`]). Removed through the API.
    pub const ADDRESS_SUPPRESSED: &str = "address_suppressed";
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
    /// The person reached the channel's rate limit (see [`crate::domain::rate_limit`]):
    /// the escalation moves on to their next channels at once.
    pub const RATE_LIMITED: &str = "rate_limited";
    /// Not a suppression: the row is held `queued` until the person's quiet hours end
    /// (see [`crate::domain::quiet_hours`]), its `deferred_reason`.
    pub const QUIET_HOURS: &str = "quiet_hours";
    /// The person was erased (`DELETE /v1/recipients/{id}`) before this was sent.
    pub const RECIPIENT_ERASED: &str = "recipient_erased";

    /// The one rule for a delivery whose escalation was answered before it went out:
    /// it is suppressed, and this says why; `None` while the escalation is triggered.
    /// (`db::answered_reason` is the same rule as SQL, built from this function.)
    pub fn answered(status: crate::domain::EscalationStatus) -> Option<&'static str> {
        use crate::domain::EscalationStatus::*;
        match status {
            Triggered => None,
            Acknowledged => Some(ESCALATION_ACKNOWLEDGED),
            Resolved => Some(ESCALATION_RESOLVED),
        }
    }
}

/// One notification row to write: a channel of a tier of a level, for one person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedNotification {
    /// The caller's id of the person.
    pub recipient: String,
    pub level: u32,
    pub round: u32,
    pub tier: Tier,
    pub channel: Channel,
    pub status: NotificationStatus,
    pub suppressed_reason: Option<&'static str>,
}

/// What a recipient can be reached on.
pub trait Reachable {
    fn has_address(&self, channel: Channel) -> bool;

    /// They opted out of `channel` (or of all), and the opt-out holds. A request's
    /// recipients are not known to have any (the dispatch claim checks again anyway).
    fn opted_out(&self, _channel: Channel) -> bool {
        false
    }
}

/// Which of a person's addresses are known: the one rule for "has an address on this
/// channel", for a request's recipients and stored ones alike.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contacts {
    pub email: bool,
    pub phone: bool,
    pub push: bool,
    pub slack: bool,
}

impl Reachable for Contacts {
    fn has_address(&self, channel: Channel) -> bool {
        match channel {
            Channel::Email => self.email,
            Channel::Sms | Channel::Voice => self.phone,
            Channel::Push => self.push,
            Channel::Slack => self.slack,
            // A Teams webhook is registered through the API, not sent with escalations:
            // the dispatcher finds it (or records that there is none).
            Channel::Teams => true,
            Channel::InApp => true,
        }
    }
}

/// What a notification on `channel` for this recipient starts as: queued, or suppressed
/// with its reason when the channel is not `enabled` (no queue configured for it), the
/// recipient opted out of it, or has no address on it, so the delivery log shows why
/// nothing went out. An in-app row is its inbox entry: delivered when written.
pub fn start_status<R: Reachable + ?Sized>(
    channel: Channel,
    recipient: &R,
    enabled: &BTreeSet<Channel>,
) -> (NotificationStatus, Option<&'static str>) {
    if !enabled.contains(&channel) {
        (
            NotificationStatus::Suppressed,
            Some(reason::CHANNEL_NOT_ENABLED),
        )
    } else if recipient.opted_out(channel) {
        (NotificationStatus::Suppressed, Some(reason::OPTED_OUT))
    } else if !recipient.has_address(channel) {
        (NotificationStatus::Suppressed, Some(reason::NO_ADDRESS))
    } else if channel == Channel::InApp {
        (NotificationStatus::Delivered, None)
    } else {
        (NotificationStatus::Queued, None)
    }
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

    struct OptedOut;
    impl Reachable for OptedOut {
        fn has_address(&self, _channel: Channel) -> bool {
            false
        }
        fn opted_out(&self, channel: Channel) -> bool {
            channel == Channel::Email
        }
    }

    #[test]
    fn an_opted_out_channel_is_suppressed_with_that_reason_before_any_address_check() {
        assert_eq!(
            start_status(Channel::Email, &OptedOut, &email_only()),
            (NotificationStatus::Suppressed, Some(reason::OPTED_OUT))
        );
        assert_eq!(
            start_status(Channel::Sms, &OptedOut, &email_only()).1,
            Some(reason::CHANNEL_NOT_ENABLED)
        );
    }

    fn email_only() -> BTreeSet<Channel> {
        BTreeSet::from([Channel::Email])
    }

    #[test]
    fn enabled_channel_with_address_is_queued() {
        let r = R(&[Channel::Email, Channel::Slack]);
        assert_eq!(
            start_status(Channel::Email, &r, &email_only()),
            (NotificationStatus::Queued, None)
        );
    }

    #[test]
    fn disabled_channels_are_suppressed_not_dropped() {
        let r = R(&[Channel::Email, Channel::Slack]);
        assert_eq!(
            start_status(Channel::Slack, &r, &email_only()),
            (
                NotificationStatus::Suppressed,
                Some(reason::CHANNEL_NOT_ENABLED)
            )
        );
    }

    #[test]
    fn missing_address_is_suppressed_with_its_reason() {
        assert_eq!(
            start_status(Channel::Email, &R(&[]), &email_only()).1,
            Some(reason::NO_ADDRESS)
        );
    }

    #[test]
    fn an_in_app_row_is_delivered_when_planned() {
        let enabled = BTreeSet::from([Channel::Email, Channel::InApp]);
        assert_eq!(
            start_status(Channel::InApp, &R(&[Channel::InApp]), &enabled).0,
            NotificationStatus::Delivered
        );
    }

    #[test]
    fn tiers_skip_empty_ones_and_count_waits_from_the_tier_before() {
        let mut level = EscalationPolicy::everyone(vec!["u".into()], ChannelPolicy::default())
            .levels
            .remove(0);
        let waits: Vec<(Tier, i64)> = level
            .tiers()
            .iter()
            .map(|(t, _, w)| (*t, w.num_minutes()))
            .collect();
        assert_eq!(
            waits,
            [
                (Tier::Primary, 0),
                (Tier::Secondary, 5),
                (Tier::Fallback, 5)
            ]
        );
        level.channels.secondary.clear();
        let waits: Vec<(Tier, i64)> = level
            .tiers()
            .iter()
            .map(|(t, _, w)| (*t, w.num_minutes()))
            .collect();
        assert_eq!(waits, [(Tier::Primary, 0), (Tier::Fallback, 10)]);
        assert_eq!(level.final_wait().num_minutes(), 5);
    }

    #[test]
    fn tier_names_round_trip() {
        for tier in [Tier::Primary, Tier::Secondary, Tier::Fallback] {
            assert_eq!(tier.as_str().parse::<Tier>(), Ok(tier));
        }
    }
}
