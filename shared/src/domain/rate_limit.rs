//! Per-person, per-channel rate limits: how many pages a person may get on a channel
//! within a window (GoAlert's per-contact-method limits are the defaults). The counters
//! live in DynamoDB ([`crate::rate_limit`]); this module decides, without I/O, which
//! counters a batch adds to, by how much, under which condition, and which rows go out
//! once the store has answered.
//!
//! Windows are fixed and aligned to the epoch (a 15-minute window starts at :00, :15,
//! :30, :45 UTC), and each window's start is part of its counter's key, so a counter of
//! a window that ended is never read again: DynamoDB's TTL deletes it late (the emulator
//! never), and nothing depends on when. A fixed window lets a burst straddle its edge
//! (5 SMS at 10:14 and 5 at 10:15); the longer window (11 an hour) bounds that.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Channel, Priority};

/// At most `max` pages within `seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub max: u32,
    pub seconds: u32,
}

impl Window {
    pub const fn new(max: u32, seconds: u32) -> Self {
        Self { max, seconds }
    }

    /// The epoch second the window containing `at` started.
    pub fn start(self, at: DateTime<Utc>) -> i64 {
        let len = i64::from(self.seconds.max(1));
        at.timestamp().div_euclid(len) * len
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.seconds;
        if s.is_multiple_of(3600) {
            write!(f, "{}/{}h", self.max, s / 3600)
        } else if s.is_multiple_of(60) {
            write!(f, "{}/{}m", self.max, s / 60)
        } else {
            write!(f, "{}/{}s", self.max, s)
        }
    }
}

/// A channel's windows, all of which must have room for a page to go out. Written
/// `5/15m,11/1h` (`s`, `m`, `h`), or `off` for none.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Limits(Vec<Window>);

impl Limits {
    /// The longest window Herald accepts: a day.
    pub const MAX_WINDOW_SECONDS: u32 = 86_400;
    /// Windows per channel.
    pub const MAX_WINDOWS: usize = 4;

    pub fn windows(&self) -> &[Window] {
        &self.0
    }

    pub fn is_off(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Limits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("off");
        }
        for (i, w) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{w}")?;
        }
        Ok(())
    }
}

impl FromStr for Limits {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") {
            return Ok(Self::default());
        }
        let mut windows = Vec::new();
        for part in s.split(',') {
            let part = part.trim();
            let (max, len) = part
                .split_once('/')
                .ok_or_else(|| format!("`{part}` is not `<count>/<window>` (e.g. 5/15m)"))?;
            let max: u32 = max
                .trim()
                .parse()
                .map_err(|_| format!("`{max}` in `{part}` is not a count"))?;
            let len = len.trim();
            let (digits, unit) = len.split_at(len.len().saturating_sub(1));
            let scale = match unit {
                "s" => 1,
                "m" => 60,
                "h" => 3600,
                _ => return Err(format!("`{len}` in `{part}` ends in s, m or h")),
            };
            let n: u32 = digits
                .parse()
                .map_err(|_| format!("`{len}` in `{part}` is not a length of time"))?;
            let seconds = n.saturating_mul(scale);
            if max == 0 {
                return Err(format!(
                    "`{part}` allows nothing: write `off` to turn the limit off, or a count of at least 1"
                ));
            }
            if seconds == 0 || seconds > Self::MAX_WINDOW_SECONDS {
                return Err(format!("`{part}`: a window is 1s to 24h"));
            }
            if windows.iter().any(|w: &Window| w.seconds == seconds) {
                return Err(format!("`{part}`: two limits for the same window"));
            }
            windows.push(Window::new(max, seconds));
        }
        if windows.len() > Self::MAX_WINDOWS {
            return Err(format!("at most {} windows per channel", Self::MAX_WINDOWS));
        }
        windows.sort_by_key(|w| w.seconds);
        Ok(Self(windows))
    }
}

/// Every channel's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits(BTreeMap<Channel, Limits>);

impl Default for RateLimits {
    /// SMS 5 per 15 minutes and 11 an hour, voice 3 and 7 (GoAlert's); email, push,
    /// Slack and Teams generous (100 per 15 minutes, 300 an hour): they are there to stop
    /// a runaway loop, not a busy night. The in-app inbox has none: it is a record.
    fn default() -> Self {
        let limits = |windows: &[(u32, u32)]| {
            Limits(windows.iter().map(|&(m, s)| Window::new(m, s)).collect())
        };
        let generous = limits(&[(100, 900), (300, 3600)]);
        Self(BTreeMap::from([
            (Channel::Sms, limits(&[(5, 900), (11, 3600)])),
            (Channel::Voice, limits(&[(3, 900), (7, 3600)])),
            (Channel::Email, generous.clone()),
            (Channel::Push, generous.clone()),
            (Channel::Slack, generous.clone()),
            (Channel::Teams, generous),
        ]))
    }
}

impl RateLimits {
    /// No limits on any channel.
    pub fn off() -> Self {
        Self(BTreeMap::new())
    }

    pub fn with(mut self, channel: Channel, limits: Limits) -> Self {
        if channel != Channel::InApp {
            self.0.insert(channel, limits);
        }
        self
    }

    pub fn for_channel(&self, channel: Channel) -> &[Window] {
        self.0.get(&channel).map(Limits::windows).unwrap_or(&[])
    }
}

/// A row that is about to go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub recipient: Uuid,
    pub channel: Channel,
    pub priority: Priority,
}

/// One conditional increment: add `add` to the counter `key` when it holds at most
/// `cap` (or does not exist yet), keeping it until `expires_at` (epoch seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Increment {
    pub key: String,
    pub add: u32,
    pub cap: u32,
    pub expires_at: i64,
}

#[derive(Debug, Clone)]
struct Counter {
    key: String,
    max: u32,
    expires_at: i64,
    /// What the store said the counter holds, after it refused a write; until then it is
    /// taken to have room.
    seen: Option<u32>,
}

/// The rows of one person on one channel, most urgent first, and the counters they
/// share.
#[derive(Debug, Clone)]
struct Group {
    rows: Vec<usize>,
    counters: Vec<Counter>,
}

impl Group {
    /// How many of the rows go out: as many as every counter has room for.
    fn grant(&self) -> u32 {
        let wanted = u32::try_from(self.rows.len()).unwrap_or(u32::MAX);
        self.counters
            .iter()
            .map(|c| c.max.saturating_sub(c.seen.unwrap_or(0)))
            .fold(wanted, u32::min)
    }
}

/// A batch's rate-limit decision, as it stands: built from the rows about to go out,
/// corrected by what the store refused, read out once the store accepted its writes.
#[derive(Debug, Clone)]
pub struct Plan {
    requests: usize,
    groups: Vec<Group>,
}

impl Plan {
    pub fn new(limits: &RateLimits, now: DateTime<Utc>, requests: &[Request]) -> Self {
        let mut by_person: BTreeMap<(Uuid, Channel), Vec<usize>> = BTreeMap::new();
        for (i, r) in requests.iter().enumerate() {
            if !limits.for_channel(r.channel).is_empty() {
                by_person
                    .entry((r.recipient, r.channel))
                    .or_default()
                    .push(i);
            }
        }
        let groups = by_person
            .into_iter()
            .map(|((recipient, channel), mut rows)| {
                // Should the limit leave room for only some, the most urgent go.
                rows.sort_by_key(|&i| (requests[i].priority, i));
                let counters = limits
                    .for_channel(channel)
                    .iter()
                    .map(|w| {
                        let start = w.start(now);
                        Counter {
                            key: format!("{recipient}#{channel}#{}#{start}", w.seconds),
                            max: w.max,
                            expires_at: start + i64::from(w.seconds),
                            seen: None,
                        }
                    })
                    .collect();
                Group { rows, counters }
            })
            .collect();
        Self {
            requests: requests.len(),
            groups,
        }
    }

    /// The increments to write, all or none (one transaction): one per counter of each
    /// person who still gets at least one row out.
    pub fn increments(&self) -> Vec<Increment> {
        self.groups
            .iter()
            .map(|g| (g, g.grant()))
            .filter(|(_, n)| *n > 0)
            .flat_map(|(g, n)| {
                g.counters.iter().map(move |c| Increment {
                    key: c.key.clone(),
                    add: n,
                    cap: c.max - n,
                    expires_at: c.expires_at,
                })
            })
            .collect()
    }

    /// The store refused the write to `key`: the counter holds `count`. Returns whether
    /// the key was one of this plan's.
    pub fn refused(&mut self, key: &str, count: u32) -> bool {
        let mut found = false;
        for c in self.groups.iter_mut().flat_map(|g| g.counters.iter_mut()) {
            if c.key == key {
                c.seen = Some(count);
                found = true;
            }
        }
        found
    }

    /// Per request, in order: whether it goes out (once the store took
    /// [`Plan::increments`]). Rows on a channel without limits always do.
    pub fn allowed(&self) -> Vec<bool> {
        let mut allowed = vec![true; self.requests];
        for g in &self.groups {
            let n = usize::try_from(g.grant()).unwrap_or(usize::MAX);
            for &i in g.rows.iter().skip(n) {
                allowed[i] = false;
            }
        }
        allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 4, h, m, s).unwrap()
    }

    fn req(recipient: Uuid, channel: Channel, priority: Priority) -> Request {
        Request {
            recipient,
            channel,
            priority,
        }
    }

    #[test]
    fn limits_parse_in_any_order_and_print_back() {
        let l: Limits = " 11/1h, 5/15m ".parse().unwrap();
        assert_eq!(l.windows(), &[Window::new(5, 900), Window::new(11, 3600)]);
        assert_eq!(l.to_string(), "5/15m,11/1h");
        assert!("off".parse::<Limits>().unwrap().is_off());
        assert_eq!("30/45s".parse::<Limits>().unwrap().to_string(), "30/45s");
    }

    #[test]
    fn limits_refuse_what_cannot_be_meant() {
        for bad in [
            "5",
            "5/15",
            "x/15m",
            "5/15d",
            "0/15m",
            "5/0m",
            "5/25h",
            "5/15m,6/900s",
            "",
            "1/1s,2/2s,3/3s,4/4s,5/5s",
        ] {
            assert!(bad.parse::<Limits>().is_err(), "{bad:?} parsed");
        }
        let e = "0/1h".parse::<Limits>().unwrap_err();
        assert!(e.contains("off"), "{e}");
    }

    #[test]
    fn the_defaults_are_goalerts_for_sms_and_voice_and_none_for_the_inbox() {
        let d = RateLimits::default();
        assert_eq!(
            d.for_channel(Channel::Sms),
            &[Window::new(5, 900), Window::new(11, 3600)]
        );
        assert_eq!(
            d.for_channel(Channel::Voice),
            &[Window::new(3, 900), Window::new(7, 3600)]
        );
        assert!(d.for_channel(Channel::InApp).is_empty());
        for c in [
            Channel::Email,
            Channel::Push,
            Channel::Slack,
            Channel::Teams,
        ] {
            assert!(d.for_channel(c).iter().all(|w| w.max >= 100), "{c}");
        }
        let inbox = d.with(Channel::InApp, "1/1h".parse().unwrap());
        assert!(inbox.for_channel(Channel::InApp).is_empty());
    }

    #[test]
    fn windows_align_to_the_epoch() {
        let w = Window::new(5, 900);
        assert_eq!(w.start(at(10, 14, 59)), at(10, 0, 0).timestamp());
        assert_eq!(w.start(at(10, 15, 0)), at(10, 15, 0).timestamp());
        let h = Window::new(11, 3600);
        assert_eq!(h.start(at(10, 59, 59)), at(10, 0, 0).timestamp());
    }

    #[test]
    fn one_page_adds_one_to_each_window_with_room_for_it() {
        let who = Uuid::new_v4();
        let plan = Plan::new(
            &RateLimits::default(),
            at(10, 20, 0),
            &[req(who, Channel::Sms, Priority::High)],
        );
        let inc = plan.increments();
        assert_eq!(inc.len(), 2);
        assert_eq!(
            inc[0].key,
            format!("{who}#sms#900#{}", at(10, 15, 0).timestamp())
        );
        assert_eq!((inc[0].add, inc[0].cap), (1, 4));
        assert_eq!(inc[0].expires_at, at(10, 30, 0).timestamp());
        assert_eq!(
            inc[1].key,
            format!("{who}#sms#3600#{}", at(10, 0, 0).timestamp())
        );
        assert_eq!((inc[1].add, inc[1].cap), (1, 10));
        assert_eq!(plan.allowed(), vec![true]);
    }

    #[test]
    fn a_persons_rows_in_one_batch_share_one_increment_per_window() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let rows = [
            req(a, Channel::Voice, Priority::High),
            req(b, Channel::Voice, Priority::High),
            req(a, Channel::Voice, Priority::Critical),
        ];
        let plan = Plan::new(&RateLimits::default(), at(3, 0, 0), &rows);
        let inc = plan.increments();
        assert_eq!(inc.len(), 4, "two windows for each of two people");
        let a15 = inc
            .iter()
            .find(|i| i.key.starts_with(&format!("{a}#voice#900")))
            .unwrap();
        assert_eq!((a15.add, a15.cap), (2, 1));
        assert_eq!(plan.allowed(), vec![true, true, true]);
    }

    #[test]
    fn a_full_window_stops_the_least_urgent_rows_first() {
        let a = Uuid::new_v4();
        let rows = [
            req(a, Channel::Voice, Priority::Low),
            req(a, Channel::Voice, Priority::Critical),
            req(a, Channel::Voice, Priority::High),
        ];
        let mut plan = Plan::new(&RateLimits::default(), at(3, 0, 0), &rows);
        let key = plan.increments()[0].key.clone();
        // Two voice calls went out this quarter hour already: room for one more.
        assert!(plan.refused(&key, 2));
        let inc = plan.increments();
        assert!(inc.iter().all(|i| i.add == 1));
        assert_eq!(inc[0].cap, 2);
        assert_eq!(plan.allowed(), vec![false, true, false]);
    }

    #[test]
    fn a_person_with_no_room_writes_nothing_and_others_still_go() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let rows = [
            req(a, Channel::Sms, Priority::Critical),
            req(b, Channel::Sms, Priority::Low),
        ];
        let mut plan = Plan::new(&RateLimits::default(), at(3, 0, 0), &rows);
        let hour_key = format!("{a}#sms#3600#{}", at(3, 0, 0).timestamp());
        assert!(plan.refused(&hour_key, 11));
        let inc = plan.increments();
        assert!(
            inc.iter().all(|i| i.key.starts_with(&b.to_string())),
            "{inc:?}"
        );
        assert_eq!(plan.allowed(), vec![false, true]);
        assert!(!plan.refused("someone-else#sms#900#0", 3));
    }

    #[test]
    fn more_rows_than_a_window_allows_are_cut_at_its_size() {
        let a = Uuid::new_v4();
        let rows: Vec<Request> = (0..7)
            .map(|_| req(a, Channel::Sms, Priority::High))
            .collect();
        let plan = Plan::new(&RateLimits::default(), at(3, 0, 0), &rows);
        let inc = plan.increments();
        assert_eq!((inc[0].add, inc[0].cap), (5, 0));
        assert_eq!(plan.allowed().iter().filter(|a| **a).count(), 5);
    }

    #[test]
    fn channels_without_limits_need_no_counter() {
        let a = Uuid::new_v4();
        let limits = RateLimits::default().with(Channel::Email, Limits::default());
        let rows = [
            req(a, Channel::Email, Priority::Low),
            req(a, Channel::InApp, Priority::Low),
        ];
        let plan = Plan::new(&limits, at(3, 0, 0), &rows);
        assert!(plan.increments().is_empty());
        assert_eq!(plan.allowed(), vec![true, true]);
        assert!(
            Plan::new(
                &RateLimits::off(),
                at(3, 0, 0),
                &[req(a, Channel::Sms, Priority::Low)]
            )
            .increments()
            .is_empty()
        );
    }
}
