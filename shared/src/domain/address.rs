//! Where one notification goes: the recipient's address for its channel, parsed. The
//! claim picks the one column its channel needs (`CASE n.channel ...`), so a new channel
//! adds a variant here and a branch there, never a field to every struct.

use std::fmt;

use super::{Channel, EmailAddress, PhoneE164};

/// An SNS mobile-push platform endpoint ARN:
/// `arn:aws:sns:us-east-1:123456789012:endpoint/APNS/my-app/0d4b...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushEndpointArn(String);

impl PushEndpointArn {
    pub const MAX_LEN: usize = 1600;

    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let bad = || {
            "must be an SNS platform endpoint ARN like \
             arn:aws:sns:us-east-1:123456789012:endpoint/GCM/app/1b2c…"
                .to_owned()
        };
        if s.len() > Self::MAX_LEN {
            return Err(format!("longer than {} characters", Self::MAX_LEN));
        }
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        let [arn, partition, service, region, account, resource] = parts.as_slice() else {
            return Err(bad());
        };
        let region_ok = !region.is_empty()
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
        let segments: Vec<&str> = resource.split('/').collect();
        let resource_ok = matches!(segments.as_slice(), ["endpoint", platform, app, id]
            if !platform.is_empty() && !app.is_empty() && !id.is_empty()
                && platform.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
                && app.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        if *arn == "arn"
            && partition.starts_with("aws")
            && *service == "sns"
            && region_ok
            && account_ok
            && resource_ok
        {
            Ok(Self(s.to_owned()))
        } else {
            Err(bad())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The push platform (`APNS`, `APNS_SANDBOX`, `GCM`...), from the ARN.
    pub fn platform(&self) -> &str {
        self.0
            .rsplit(':')
            .next()
            .and_then(|r| r.split('/').nth(1))
            .unwrap_or("")
    }
}

/// A Slack member id (`U024BE7LH`; `W…` for Enterprise Grid users).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackUserId(String);

impl SlackUserId {
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let ok = (9..=21).contains(&s.len())
            && s.starts_with(['U', 'W'])
            && s.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err("a Slack user id looks like U024BE7LH".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The destination of one delivery, parsed for its channel.
#[derive(Clone, PartialEq, Eq)]
pub enum Address {
    Email(EmailAddress),
    /// SMS and voice.
    Phone(PhoneE164),
    Push(PushEndpointArn),
    Slack(SlackUserId),
    /// The destination is a webhook URL, which is a bearer secret: it travels as the
    /// delivery's credential, never as an address.
    Teams,
    InApp,
}

/// Addresses never reach logs.
impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            Address::Email(_) => "Email",
            Address::Phone(_) => "Phone",
            Address::Push(_) => "Push",
            Address::Slack(_) => "Slack",
            Address::Teams => "Teams",
            Address::InApp => "InApp",
        };
        write!(f, "Address::{kind}(..)")
    }
}

impl Address {
    /// Parses the raw column the claim chose for `channel` (every address in the store
    /// was parsed by ingest on the way in). `None` means the recipient has no (valid)
    /// address for it any more: the delivery fails for good without a provider call.
    pub fn parse(channel: Channel, raw: Option<&str>) -> Option<Self> {
        match channel {
            Channel::Teams => return Some(Address::Teams),
            Channel::InApp => return Some(Address::InApp),
            _ => {}
        }
        let raw = raw?;
        match channel {
            Channel::Email => EmailAddress::parse(raw).ok().map(Address::Email),
            Channel::Sms | Channel::Voice => PhoneE164::from_stored(raw).map(Address::Phone),
            Channel::Push => PushEndpointArn::parse(raw).ok().map(Address::Push),
            Channel::Slack => SlackUserId::parse(raw).ok().map(Address::Slack),
            Channel::Teams | Channel::InApp => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:sns:us-east-1:123456789012:endpoint/GCM/herald-app/5e3e9847-3183-3f18-a7e8-671c3a57d4b3";

    #[test]
    fn platform_endpoint_arn_is_accepted_and_knows_its_platform() {
        let arn = PushEndpointArn::parse(ARN).expect("valid");
        assert_eq!(arn.platform(), "GCM");
        let apns = PushEndpointArn::parse(
            "arn:aws:sns:eu-west-1:123456789012:endpoint/APNS_SANDBOX/ios-app/0a1b2c3d",
        )
        .expect("valid");
        assert_eq!(apns.platform(), "APNS_SANDBOX");
    }

    #[test]
    fn other_arns_are_not_push_endpoints() {
        for bad in [
            "arn:",
            "arn:aws:sns:us-east-1:123456789012:my-topic",
            "arn:aws:sqs:us-east-1:123456789012:endpoint/GCM/app/1",
            "arn:aws:sns:us-east-1:1234:endpoint/GCM/app/1",
            "arn:aws:sns:us-east-1:123456789012:endpoint/GCM/app",
            "arn:aws:sns:us-east-1:123456789012:endpoint/GCM/app/1 2",
            "https://sns.amazonaws.com/",
        ] {
            assert!(PushEndpointArn::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn slack_ids_have_slacks_shape() {
        assert!(SlackUserId::parse("U024BE7LH").is_ok());
        assert!(SlackUserId::parse("W012A3CDE").is_ok());
        for bad in ["u024be7lh", "C024BE7LH", "U02", "U024BE7LH!", "@alice"] {
            assert!(SlackUserId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_address_follows_the_channel() {
        assert!(matches!(
            Address::parse(Channel::Sms, Some("+14155550101")),
            Some(Address::Phone(_))
        ));
        assert!(matches!(
            Address::parse(Channel::Push, Some(ARN)),
            Some(Address::Push(_))
        ));
        assert_eq!(Address::parse(Channel::Email, Some("not an email")), None);
        assert_eq!(Address::parse(Channel::Voice, None), None);
        assert_eq!(Address::parse(Channel::Teams, None), Some(Address::Teams));
    }

    #[test]
    fn debug_never_shows_the_address() {
        let a = Address::parse(Channel::Sms, Some("+14155550101")).expect("valid");
        assert!(!format!("{a:?}").contains("555"));
    }
}
