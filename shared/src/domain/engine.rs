//! The escalation engine's rules: given an escalation's policy, where it stands (round,
//! levels fired), what its current round has sent so far and the clock, which rows are
//! due now, what to record, and when to look again. Pure: `db::engine` only gathers
//! the facts, in one statement, and applies the plan, in another; ingest plans an
//! escalation's first wave with the same function.
//!
//! The rules, each in one place here:
//! - a level fires `after_minutes` after its round started, or at once when everyone of
//!   the levels already fired gave up (every delivery failed for good or was
//!   suppressed): a dead end never delays a page;
//! - for each person of a fired level, the next tier starts when every delivery of
//!   their current tier gave up, or when they did not answer within the tier's wait;
//! - a delivery sent on a channel with a receipt window ([`Channels::receipt_windows`])
//!   that no positive receipt confirmed within the window gave up too: "sent" is not
//!   "delivered", and a page nobody's phone confirmed must not wait out the tier's delay
//!   (a negative receipt makes its row `failed`, which gives up at once);
//! - a round is over when every level fired and every person's last tier gave up or
//!   had its wait; then `repeat` more rounds start over, and after the last one the
//!   escalation is exhausted (nothing more is sent, and it says so).
//!
//! Acknowledgements are not in here: the engine only runs on `triggered` escalations,
//! claimed in the transaction that applies the plan (see `db::engine`).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, Utc};

use super::policy::{EscalationPolicy, Level, PlannedNotification, Reachable, Tier, reason};
use super::{Channel, NotificationStatus};

/// How one delivery of the current round stands, as far as escalating is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Not settled: queued, being sent, or failed with a retry still to come.
    Pending,
    /// It reached the person's device, inbox or team channel. Reaching is not
    /// answering: the next tier still comes after its wait.
    Reached,
    /// It never will: failed for good, or suppressed (no address, channel off...).
    GaveUp,
}

impl Outcome {
    /// `retry_pending`: a failed row with a `next_attempt_at` (another attempt is due).
    pub fn of(
        status: NotificationStatus,
        suppressed_reason: Option<&str>,
        retry_pending: bool,
    ) -> Self {
        match status {
            NotificationStatus::Queued | NotificationStatus::Sending => Outcome::Pending,
            NotificationStatus::Failed if retry_pending => Outcome::Pending,
            NotificationStatus::Failed => Outcome::GaveUp,
            NotificationStatus::Sent | NotificationStatus::Delivered => Outcome::Reached,
            NotificationStatus::Suppressed
                if suppressed_reason == Some(reason::SENT_TO_TEAM_CHANNEL) =>
            {
                Outcome::Reached
            }
            NotificationStatus::Suppressed => Outcome::GaveUp,
        }
    }
}

/// One delivery row of the escalation's current round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub level: u32,
    pub tier: Tier,
    /// The caller's id of the person.
    pub recipient: String,
    pub channel: Channel,
    pub queued_at: DateTime<Utc>,
    pub outcome: Outcome,
    /// When it was sent, while no receipt has confirmed it (`sent`, not `delivered`).
    pub unconfirmed_since: Option<DateTime<Utc>>,
}

/// What the planner knows of the deployment's channels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Channels {
    /// The channels with a queue: rows for any other are `channel_not_enabled`.
    pub enabled: BTreeSet<Channel>,
    /// How long each channel's provider has to confirm a send with a delivery receipt
    /// (`HERALD_RECEIPT_WINDOW_MINUTES_<CHANNEL>`). Only for channels whose receipts
    /// reach Herald: on any other, every send would look unconfirmed.
    pub receipt_windows: BTreeMap<Channel, TimeDelta>,
}

impl From<BTreeSet<Channel>> for Channels {
    fn from(enabled: BTreeSet<Channel>) -> Self {
        Self {
            enabled,
            receipt_windows: BTreeMap::new(),
        }
    }
}

/// A tier started now is looked at again this long after its window would run out from
/// its queueing, so the send (milliseconds later) has usually had its full window.
const RECHECK_SLACK: TimeDelta = TimeDelta::seconds(30);

/// Where a triggered escalation stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// 0 for the first pass over the levels, then one more per repeat (and per start
    /// over after an acknowledgement timed out: round numbers never repeat, so every
    /// row of an escalation stays unique).
    pub round: u32,
    /// The round this pass of the policy began with: 0, or the round that started over
    /// when an acknowledgement timed out. `repeat` counts from it.
    pub first_round: u32,
    pub round_started_at: DateTime<Utc>,
    /// How many levels of this round have fired (level 0 first).
    pub levels_fired: u32,
}

impl Progress {
    /// A new escalation, triggered at `now`: nothing fired yet.
    pub fn start(now: DateTime<Utc>) -> Self {
        Self {
            round: 0,
            first_round: 0,
            round_started_at: now,
            levels_fired: 0,
        }
    }
}

/// What the escalation's audit log records of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `escalation.level_fired`: the level's people get their primary tier.
    LevelFired { round: u32, level: u32 },
    /// `escalation.tier_started`: a person's secondary or fallback tier.
    TierStarted {
        round: u32,
        level: u32,
        recipient: String,
        tier: Tier,
    },
    /// `escalation.exhausted`: the last round ended and nobody answered.
    Exhausted { rounds: u32 },
}

impl Step {
    pub fn event_type(&self) -> &'static str {
        match self {
            Step::LevelFired { .. } => "escalation.level_fired",
            Step::TierStarted { .. } => "escalation.tier_started",
            Step::Exhausted { .. } => "escalation.exhausted",
        }
    }

    /// The event's `detail`.
    pub fn detail(&self) -> serde_json::Value {
        match self {
            Step::LevelFired { round, level } => {
                serde_json::json!({ "round": round, "level": level })
            }
            Step::TierStarted {
                round,
                level,
                recipient,
                tier,
            } => serde_json::json!({
                "round": round, "level": level, "recipient": recipient, "tier": tier.as_str()
            }),
            Step::Exhausted { rounds } => serde_json::json!({ "rounds": rounds }),
        }
    }
}

/// The engine's decision for one escalation at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Rows to write now (one per channel of each tier that starts).
    pub rows: Vec<PlannedNotification>,
    pub steps: Vec<Step>,
    /// Where the escalation stands after the plan.
    pub progress: Progress,
    /// When the next step may be due; `None` once exhausted.
    pub next_at: Option<DateTime<Utc>>,
}

impl Plan {
    pub fn exhausted(&self) -> bool {
        self.steps
            .iter()
            .any(|s| matches!(s, Step::Exhausted { .. }))
    }
}

/// Who the policy's ids are and what they can be reached on.
pub trait Directory {
    fn find(&self, recipient: &str) -> Option<&dyn Reachable>;
}

impl<R: Reachable> Directory for BTreeMap<String, R> {
    fn find(&self, recipient: &str) -> Option<&dyn Reachable> {
        self.get(recipient).map(|r| r as &dyn Reachable)
    }
}

/// A person's current tier within one fired level.
#[derive(Debug, Clone, Copy)]
struct Track {
    /// Index into the level's non-empty tiers.
    tier: usize,
    started: DateTime<Utc>,
    outcome: Outcome,
    /// When a receipt window of the tier runs out, if that may change its outcome.
    recheck: Option<DateTime<Utc>>,
}

impl Track {
    /// Folds the rows of one tier, each with when its receipt window runs out: it gave
    /// up only when every row did, and is worth a look at the earliest window's end
    /// unless a row is settled as reached (confirmed, or on a channel without receipts).
    fn fold(
        rows: impl Iterator<Item = (Outcome, Option<DateTime<Utc>>)>,
    ) -> (Outcome, Option<DateTime<Utc>>) {
        let (mut folded, mut recheck, mut settled) = (Outcome::GaveUp, None, false);
        for (o, until) in rows {
            folded = match (folded, o) {
                (_, Outcome::Reached) | (Outcome::Reached, _) => Outcome::Reached,
                (_, Outcome::Pending) | (Outcome::Pending, _) => Outcome::Pending,
                _ => Outcome::GaveUp,
            };
            settled |= o == Outcome::Reached && until.is_none();
            recheck = earliest(recheck, until);
        }
        (folded, if settled { None } else { recheck })
    }
}

struct Planner<'a> {
    policy: &'a EscalationPolicy,
    people: &'a dyn Directory,
    channels: &'a Channels,
    now: DateTime<Utc>,
    tracks: BTreeMap<(u32, &'a str), Track>,
    plan: Plan,
}

/// Decides what is due for a `triggered` escalation at `now`, given `deliveries`: the
/// rows of its current round (`progress.round`; rows of other rounds are ignored).
/// Bounded: every loop turn fires a level, starts a tier or a round, or ends.
pub fn plan(
    policy: &EscalationPolicy,
    progress: &Progress,
    deliveries: &[Delivery],
    people: &dyn Directory,
    channels: &Channels,
    now: DateTime<Utc>,
) -> Plan {
    let mut planner = Planner {
        policy,
        people,
        channels,
        now,
        tracks: BTreeMap::new(),
        plan: Plan {
            rows: Vec::new(),
            steps: Vec::new(),
            progress: progress.clone(),
            next_at: None,
        },
    };
    planner.read(deliveries);
    planner.run();
    planner.plan
}

/// An escalation's first wave, planned at ingest: level 0 at `now` (and whatever an
/// unreachable level 0 makes due at once).
pub fn first_wave(
    policy: &EscalationPolicy,
    people: &dyn Directory,
    channels: &Channels,
    now: DateTime<Utc>,
) -> Plan {
    plan(policy, &Progress::start(now), &[], people, channels, now)
}

impl<'a> Planner<'a> {
    fn read(&mut self, deliveries: &[Delivery]) {
        for (li, level) in self.fired_levels() {
            let tiers = level.tiers();
            for person in &level.recipients {
                let mine = |d: &&Delivery| d.level == li && d.recipient == *person;
                let Some(latest) = deliveries.iter().filter(mine).map(|d| d.tier).max() else {
                    continue;
                };
                let Some(index) = tiers.iter().position(|(t, ..)| *t == latest) else {
                    continue;
                };
                let of_tier = || deliveries.iter().filter(mine).filter(|d| d.tier == latest);
                let started = of_tier().map(|d| d.queued_at).min().unwrap_or(self.now);
                let (outcome, recheck) = Track::fold(of_tier().map(|d| self.outcome_of(d)));
                self.tracks.insert(
                    (li, person.as_str()),
                    Track {
                        tier: index,
                        started,
                        outcome,
                        recheck,
                    },
                );
            }
        }
    }

    /// A delivery's outcome at `now`, with when its receipt window runs out: sent but
    /// unconfirmed past the window is given up; a row not sent yet is looked at again
    /// once a send would have had its window.
    fn outcome_of(&self, d: &Delivery) -> (Outcome, Option<DateTime<Utc>>) {
        let Some(window) = self.channels.receipt_windows.get(&d.channel).copied() else {
            return (d.outcome, None);
        };
        let until = match (d.outcome, d.unconfirmed_since) {
            (Outcome::Reached, Some(sent)) => sent + window,
            (Outcome::Pending, _) => d.queued_at + window + RECHECK_SLACK,
            (outcome, _) => return (outcome, None),
        };
        match d.outcome {
            Outcome::Reached if until <= self.now => (Outcome::GaveUp, None),
            outcome => (outcome, (until > self.now).then_some(until)),
        }
    }

    fn fired_levels(&self) -> impl Iterator<Item = (u32, &'a Level)> + use<'a> {
        let fired = self.plan.progress.levels_fired as usize;
        let policy: &'a EscalationPolicy = self.policy;
        (0u32..).zip(policy.levels.iter().take(fired))
    }

    fn run(&mut self) {
        loop {
            let (next, all_done, all_gave_up) = self.advance_tiers();
            let fired = self.plan.progress.levels_fired as usize;
            if let Some(level) = self.policy.levels.get(fired) {
                let due = self.plan.progress.round_started_at + minutes(level.after_minutes);
                if due <= self.now || (fired > 0 && all_gave_up) {
                    self.fire(fired as u32);
                    continue;
                }
                self.plan.next_at = earliest(next, Some(due));
                return;
            }
            if !all_done {
                self.plan.next_at = next;
                return;
            }
            let progress = &mut self.plan.progress;
            if progress.round - progress.first_round.min(progress.round)
                < u32::from(self.policy.repeat)
            {
                progress.round += 1;
                progress.round_started_at = self.now;
                progress.levels_fired = 0;
                self.tracks.clear();
                continue;
            }
            self.plan.steps.push(Step::Exhausted {
                rounds: progress.round - progress.first_round.min(progress.round) + 1,
            });
            self.plan.next_at = None;
            return;
        }
    }

    /// Starts every tier that is due in the fired levels. Returns when the next tier
    /// (or a last tier's wait) comes due, whether every person is done with this round,
    /// and whether every one of them gave up.
    fn advance_tiers(&mut self) -> (Option<DateTime<Utc>>, bool, bool) {
        let (mut next, mut all_done, mut all_gave_up) = (None, true, true);
        for (li, level) in self.fired_levels() {
            let tiers = level.tiers();
            for person in &level.recipients {
                let key = (li, person.as_str());
                // No rows for a person of a fired level: nobody to reach there.
                while let Some(track) = self.tracks.get(&key).copied() {
                    let last = track.tier + 1 >= tiers.len();
                    let wait = if last {
                        level.final_wait()
                    } else {
                        tiers[track.tier + 1].2
                    };
                    let due = match track.outcome {
                        Outcome::GaveUp => self.now,
                        _ => track.started + wait,
                    };
                    // A receipt window running out before the wait may end the tier sooner.
                    let recheck = track.recheck.filter(|r| *r > self.now && *r < due);
                    if last {
                        if track.outcome != Outcome::GaveUp {
                            all_gave_up = false;
                            if due > self.now {
                                all_done = false;
                                next = earliest(next, Some(due));
                            }
                            // The last tier giving up may fire the next level early.
                            next = earliest(next, recheck);
                        }
                        break;
                    }
                    if due > self.now {
                        (all_done, all_gave_up) = (false, false);
                        next = earliest(next, earliest(Some(due), recheck));
                        break;
                    }
                    self.start_tier(li, level, track.tier + 1, person);
                }
            }
        }
        (next, all_done, all_gave_up)
    }

    fn fire(&mut self, li: u32) {
        let policy: &'a EscalationPolicy = self.policy;
        let level = &policy.levels[li as usize];
        self.plan.progress.levels_fired = li + 1;
        self.plan.steps.push(Step::LevelFired {
            round: self.plan.progress.round,
            level: li,
        });
        for person in &level.recipients {
            self.start_tier(li, level, 0, person);
        }
    }

    /// Writes the rows of `level`'s tier `index` for `person`, at `now`.
    fn start_tier(&mut self, li: u32, level: &'a Level, index: usize, person: &'a str) {
        let tiers = level.tiers();
        let (tier, channels, _) = tiers[index];
        let round = self.plan.progress.round;
        if tier != Tier::Primary {
            self.plan.steps.push(Step::TierStarted {
                round,
                level: li,
                recipient: person.to_owned(),
                tier,
            });
        }
        let mut outcomes = Vec::with_capacity(channels.len());
        if let Some(reach) = self.people.find(person) {
            for &channel in channels {
                let (status, suppressed_reason) =
                    super::policy::start_status(channel, reach, &self.channels.enabled);
                outcomes.push(self.outcome_of(&Delivery {
                    level: li,
                    tier,
                    recipient: person.to_owned(),
                    channel,
                    queued_at: self.now,
                    outcome: Outcome::of(status, suppressed_reason, false),
                    unconfirmed_since: None,
                }));
                self.plan.rows.push(PlannedNotification {
                    recipient: person.to_owned(),
                    level: li,
                    round,
                    tier,
                    channel,
                    status,
                    suppressed_reason,
                });
            }
        }
        let (outcome, recheck) = Track::fold(outcomes.into_iter());
        self.tracks.insert(
            (li, person),
            Track {
                tier: index,
                started: self.now,
                outcome,
                recheck,
            },
        );
    }
}

fn minutes(m: u32) -> TimeDelta {
    TimeDelta::minutes(i64::from(m))
}

fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ChannelPolicy;

    #[derive(Debug, Clone)]
    struct R(Vec<Channel>);
    impl Reachable for R {
        fn has_address(&self, channel: Channel) -> bool {
            self.0.contains(&channel)
        }
    }

    fn t(minutes: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-03T03:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + TimeDelta::minutes(minutes)
    }

    fn everywhere() -> R {
        R(Channel::ALL.to_vec())
    }

    fn people(list: &[(&str, R)]) -> BTreeMap<String, R> {
        list.iter()
            .map(|(id, r)| ((*id).to_owned(), r.clone()))
            .collect()
    }

    fn level(after: u32, who: &[&str]) -> Level {
        Level {
            after_minutes: after,
            recipients: who.iter().map(|s| (*s).to_owned()).collect(),
            channels: ChannelPolicy {
                primary: vec![Channel::Email],
                secondary: vec![Channel::Sms],
                fallback: vec![Channel::Voice],
            },
            secondary_after_minutes: 5,
            fallback_after_minutes: 10,
        }
    }

    fn policy(levels: Vec<Level>, repeat: u8) -> EscalationPolicy {
        EscalationPolicy {
            levels,
            repeat,
            ack_timeout_minutes: None,
        }
    }

    fn all() -> Channels {
        Channels::from(BTreeSet::from(Channel::ALL))
    }

    /// An escalation as the database would hold it: its progress and rows.
    struct Sim {
        policy: EscalationPolicy,
        people: BTreeMap<String, R>,
        progress: Progress,
        rows: Vec<(u32, Delivery)>,
        exhausted: bool,
        next_at: Option<DateTime<Utc>>,
    }

    impl Sim {
        fn new(policy: EscalationPolicy, people: BTreeMap<String, R>) -> Self {
            let first = first_wave(&policy, &people, &all(), t(0));
            let mut sim = Sim {
                policy,
                people,
                progress: Progress::start(t(0)),
                rows: Vec::new(),
                exhausted: false,
                next_at: None,
            };
            sim.apply(first, t(0));
            sim
        }

        fn apply(&mut self, plan: Plan, now: DateTime<Utc>) {
            for row in &plan.rows {
                self.rows.push((
                    row.round,
                    Delivery {
                        level: row.level,
                        tier: row.tier,
                        recipient: row.recipient.clone(),
                        channel: row.channel,
                        queued_at: now,
                        outcome: Outcome::of(row.status, row.suppressed_reason, false),
                        unconfirmed_since: None,
                    },
                ));
            }
            self.exhausted |= plan.exhausted();
            self.progress = plan.progress;
            self.next_at = plan.next_at;
        }

        /// Runs the engine at `now`; returns the rows it wrote as (level, person, tier).
        fn at(&mut self, now: DateTime<Utc>) -> Vec<(u32, String, Tier)> {
            let current: Vec<Delivery> = self
                .rows
                .iter()
                .filter(|(round, _)| *round == self.progress.round)
                .map(|(_, d)| d.clone())
                .collect();
            let plan = plan(
                &self.policy,
                &self.progress,
                &current,
                &self.people,
                &all(),
                now,
            );
            let mut started: Vec<(u32, String, Tier)> = plan
                .rows
                .iter()
                .map(|r| (r.level, r.recipient.clone(), r.tier))
                .collect();
            started.dedup();
            self.apply(plan, now);
            started
        }

        fn settle(&mut self, who: &str, tier: Tier, outcome: Outcome) {
            for (_, d) in &mut self.rows {
                if d.recipient == who && d.tier == tier {
                    d.outcome = outcome;
                }
            }
        }
    }

    /// Every channel enabled; email and SMS providers confirm within 2 minutes.
    fn with_receipts() -> Channels {
        Channels {
            receipt_windows: BTreeMap::from([
                (Channel::Email, TimeDelta::minutes(2)),
                (Channel::Sms, TimeDelta::minutes(2)),
            ]),
            ..all()
        }
    }

    /// Alice's email (her primary), sent `sent_after` seconds after minute 0, `confirmed`
    /// or not by a receipt.
    fn emailed(sent_after: Option<i64>, confirmed: bool) -> Delivery {
        let sent = sent_after.map(|s| t(0) + TimeDelta::seconds(s));
        Delivery {
            level: 0,
            tier: Tier::Primary,
            recipient: "a".into(),
            channel: Channel::Email,
            queued_at: t(0),
            outcome: if sent.is_some() {
                Outcome::Reached
            } else {
                Outcome::Pending
            },
            unconfirmed_since: sent.filter(|_| !confirmed),
        }
    }

    #[test]
    fn a_send_no_receipt_confirms_within_its_window_gives_up_before_the_tiers_wait() {
        let policy = policy(vec![level(0, &["a"])], 0);
        let people = people(&[("a", everywhere())]);
        let channels = with_receipts();
        let run = |deliveries: &[Delivery], now| {
            let mut progress = Progress::start(t(0));
            progress.levels_fired = 1;
            plan(&policy, &progress, deliveries, &people, &channels, now)
        };
        // The first wave looks again when a send would have had its window (not at the
        // secondary's minute 5).
        let first = first_wave(&policy, &people, &channels, t(0));
        assert_eq!(first.next_at, Some(t(2) + RECHECK_SLACK));
        // Sent 3 s after minute 0, unconfirmed: nothing yet at minute 1, the next look
        // when its window ends.
        let early = run(&[emailed(Some(3), false)], t(1));
        assert!(early.rows.is_empty());
        assert_eq!(early.next_at, Some(t(2) + TimeDelta::seconds(3)));
        // Past it: the SMS tier starts now, at minute 2, not minute 5.
        let late = run(&[emailed(Some(3), false)], t(2) + TimeDelta::seconds(3));
        assert_eq!(
            late.rows.iter().map(|r| r.channel).collect::<Vec<_>>(),
            [Channel::Sms]
        );
        // Confirmed: the tier's own wait, as before.
        let confirmed = run(&[emailed(Some(3), true)], t(3));
        assert!(confirmed.rows.is_empty());
        assert_eq!(confirmed.next_at, Some(t(5)));
        // Not sent yet (queued, or held by quiet hours): no window runs.
        let queued = run(&[emailed(None, false)], t(3));
        assert!(queued.rows.is_empty());
        assert_eq!(queued.next_at, Some(t(5)));
        // Without receipt windows nothing changes: the tier waits its 5 minutes.
        let plain = plan(
            &policy,
            &Progress {
                levels_fired: 1,
                ..Progress::start(t(0))
            },
            &[emailed(Some(3), false)],
            &people,
            &all(),
            t(3),
        );
        assert!(plain.rows.is_empty());
        assert_eq!(plain.next_at, Some(t(5)));
    }

    #[test]
    fn the_last_tier_unconfirmed_fires_the_next_level_early() {
        // One tier only (email), then Bob at minute 15.
        let mut only_email = level(0, &["a"]);
        only_email.channels.secondary.clear();
        only_email.channels.fallback.clear();
        let policy = policy(vec![only_email, level(15, &["b"])], 0);
        let people = people(&[("a", everywhere()), ("b", everywhere())]);
        let mut progress = Progress::start(t(0));
        progress.levels_fired = 1;
        let ran = plan(
            &policy,
            &progress,
            &[emailed(Some(3), false)],
            &people,
            &with_receipts(),
            t(3),
        );
        assert_eq!(ran.progress.levels_fired, 2, "{ran:?}");
        assert!(ran.rows.iter().all(|r| r.recipient == "b"));
    }

    fn s(level: u32, who: &str, tier: Tier) -> (u32, String, Tier) {
        (level, who.to_owned(), tier)
    }

    #[test]
    fn the_first_wave_is_level_0_primary_and_the_next_look_is_at_secondary_after() {
        let sim = Sim::new(
            policy(vec![level(0, &["a", "b"]), level(15, &["c"])], 0),
            people(&[
                ("a", everywhere()),
                ("b", everywhere()),
                ("c", everywhere()),
            ]),
        );
        let firsts: Vec<_> = sim
            .rows
            .iter()
            .map(|(_, d)| (d.level, d.recipient.as_str(), d.tier))
            .collect();
        assert_eq!(firsts, [(0, "a", Tier::Primary), (0, "b", Tier::Primary)]);
        assert_eq!(sim.next_at, Some(t(5)));
        assert_eq!(sim.progress.levels_fired, 1);
    }

    #[test]
    fn secondary_waits_for_its_delay_while_primary_is_pending_or_reached() {
        let mut sim = Sim::new(
            policy(vec![level(0, &["a"])], 0),
            people(&[("a", everywhere())]),
        );
        sim.settle("a", Tier::Primary, Outcome::Reached);
        assert!(sim.at(t(4)).is_empty());
        assert_eq!(sim.next_at, Some(t(5)));
        assert_eq!(sim.at(t(5)), [s(0, "a", Tier::Secondary)]);
        // Fallback comes fallback_after - secondary_after after secondary started.
        assert_eq!(sim.next_at, Some(t(10)));
        assert!(sim.at(t(9)).is_empty());
        assert_eq!(sim.at(t(10)), [s(0, "a", Tier::Fallback)]);
        // Then the person has the final wait to answer, and the round is over.
        assert_eq!(sim.next_at, Some(t(15)));
        assert!(sim.at(t(15)).is_empty());
        assert!(sim.exhausted);
        assert_eq!(sim.next_at, None);
    }

    #[test]
    fn secondary_starts_at_once_when_every_primary_delivery_gave_up() {
        let mut lvl = level(0, &["a"]);
        lvl.channels.primary = vec![Channel::Email, Channel::Push];
        let mut sim = Sim::new(policy(vec![lvl], 0), people(&[("a", everywhere())]));
        // One of two failing for good is not enough.
        sim.rows[0].1.outcome = Outcome::GaveUp;
        assert!(sim.at(t(1)).is_empty());
        sim.settle("a", Tier::Primary, Outcome::GaveUp);
        assert_eq!(sim.at(t(1)), [s(0, "a", Tier::Secondary)]);
        // The fallback's wait counts from when secondary really started.
        assert_eq!(sim.next_at, Some(t(6)));
    }

    #[test]
    fn a_person_with_no_primary_address_gets_secondary_in_the_first_wave() {
        let sim = Sim::new(
            policy(vec![level(0, &["a"])], 0),
            people(&[("a", R(vec![Channel::Sms, Channel::Voice]))]),
        );
        let tiers: Vec<_> = sim.rows.iter().map(|(_, d)| (d.tier, d.outcome)).collect();
        assert_eq!(
            tiers,
            [
                (Tier::Primary, Outcome::GaveUp),
                (Tier::Secondary, Outcome::Pending)
            ]
        );
        assert_eq!(sim.next_at, Some(t(5)));
    }

    #[test]
    fn the_next_level_fires_after_its_delay_or_at_once_when_everyone_before_gave_up() {
        let p = policy(vec![level(0, &["a"]), level(15, &["b"])], 0);
        let who = people(&[("a", everywhere()), ("b", everywhere())]);
        let mut sim = Sim::new(p.clone(), who.clone());
        sim.at(t(5));
        sim.at(t(10));
        assert_eq!(sim.next_at, Some(t(15)));
        assert_eq!(sim.at(t(15)), [s(1, "b", Tier::Primary)]);

        let mut sim = Sim::new(p, who);
        sim.settle("a", Tier::Primary, Outcome::GaveUp);
        assert_eq!(sim.at(t(1)), [s(0, "a", Tier::Secondary)]);
        sim.settle("a", Tier::Secondary, Outcome::GaveUp);
        // Fallback; level 1 waits while fallback may still reach a.
        assert_eq!(sim.at(t(2)), [s(0, "a", Tier::Fallback)]);
        sim.settle("a", Tier::Fallback, Outcome::GaveUp);
        // Now everyone before gave up: level 1 at once, not at minute 15.
        assert_eq!(sim.at(t(2)), [s(1, "b", Tier::Primary)]);
    }

    #[test]
    fn a_level_of_nobody_reachable_moves_straight_on() {
        let sim = Sim::new(
            policy(vec![level(0, &["a", "ghost"]), level(15, &["b"])], 0),
            people(&[("a", R(vec![])), ("b", everywhere())]),
        );
        let levels: Vec<_> = sim
            .rows
            .iter()
            .map(|(_, d)| (d.level, d.recipient.as_str(), d.tier))
            .collect();
        assert_eq!(
            levels,
            [
                (0, "a", Tier::Primary),
                (0, "a", Tier::Secondary),
                (0, "a", Tier::Fallback),
                (1, "b", Tier::Primary)
            ]
        );
    }

    #[test]
    fn a_late_sweep_catches_up_and_times_tiers_from_when_they_really_start() {
        let mut sim = Sim::new(
            policy(vec![level(0, &["a"]), level(15, &["b"])], 0),
            people(&[("a", everywhere()), ("b", everywhere())]),
        );
        assert_eq!(
            sim.at(t(40)),
            [s(0, "a", Tier::Secondary), s(1, "b", Tier::Primary)]
        );
        // a's fallback and b's secondary are 5 minutes after their tiers really went
        // out, not at once: a late sweep does not fire a whole level in one go.
        assert_eq!(sim.next_at, Some(t(45)));
        assert_eq!(
            sim.at(t(45)),
            [s(0, "a", Tier::Fallback), s(1, "b", Tier::Secondary)]
        );
    }

    #[test]
    fn repeats_start_over_with_a_new_round_then_the_escalation_is_exhausted() {
        let mut lvl = level(0, &["a"]);
        lvl.channels.secondary.clear();
        lvl.channels.fallback.clear();
        let mut sim = Sim::new(policy(vec![lvl], 2), people(&[("a", everywhere())]));
        assert_eq!(sim.next_at, Some(t(5)));
        assert_eq!(sim.at(t(5)), [s(0, "a", Tier::Primary)]);
        assert_eq!(sim.progress.round, 1);
        assert_eq!(sim.progress.round_started_at, t(5));
        assert_eq!(sim.at(t(10)), [s(0, "a", Tier::Primary)]);
        assert_eq!(sim.progress.round, 2);
        assert!(!sim.exhausted);
        assert!(sim.at(t(15)).is_empty());
        assert!(sim.exhausted);
        let rounds: Vec<u32> = sim.rows.iter().map(|(r, _)| *r).collect();
        assert_eq!(rounds, [0, 1, 2]);
    }

    #[test]
    fn a_start_over_after_an_acknowledgement_timed_out_gets_its_repeats_again() {
        let mut lvl = level(0, &["a"]);
        lvl.channels.secondary.clear();
        lvl.channels.fallback.clear();
        let mut sim = Sim::new(policy(vec![lvl], 1), people(&[("a", everywhere())]));
        // Acknowledged, then the timeout: the escalation starts over at round 3 (rounds
        // 0 and 1 were this pass's, 2 was skipped by nobody: numbers only go up).
        sim.progress = Progress {
            round: 3,
            first_round: 3,
            round_started_at: t(60),
            levels_fired: 0,
        };
        assert_eq!(sim.at(t(60)), [s(0, "a", Tier::Primary)]);
        assert_eq!(sim.at(t(65)), [s(0, "a", Tier::Primary)]);
        assert_eq!(sim.progress.round, 4, "one repeat, as on the first pass");
        assert!(sim.at(t(70)).is_empty());
        assert!(sim.exhausted);
        assert_eq!(
            plan(
                &sim.policy,
                &Progress {
                    round: 4,
                    first_round: 3,
                    round_started_at: t(65),
                    levels_fired: 1,
                },
                &[],
                &sim.people,
                &all(),
                t(70),
            )
            .steps,
            [Step::Exhausted { rounds: 2 }]
        );
    }

    #[test]
    fn planning_again_at_the_same_moment_writes_nothing_twice() {
        let mut sim = Sim::new(
            policy(vec![level(0, &["a"]), level(15, &["b"])], 1),
            people(&[("a", everywhere()), ("b", everywhere())]),
        );
        for minute in [5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70] {
            sim.at(t(minute));
            assert!(sim.at(t(minute)).is_empty(), "minute {minute}");
        }
        assert!(sim.exhausted);
        let mut keys: Vec<_> = sim
            .rows
            .iter()
            .map(|(r, d)| (*r, d.level, d.recipient.clone(), d.tier))
            .collect();
        let n = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(
            keys.len(),
            n,
            "a (round, level, person, tier) started twice"
        );
        assert_eq!(n, 12);
    }

    #[test]
    fn what_counts_as_giving_up() {
        use NotificationStatus::*;
        assert_eq!(Outcome::of(Queued, None, false), Outcome::Pending);
        assert_eq!(Outcome::of(Sending, None, false), Outcome::Pending);
        assert_eq!(Outcome::of(Failed, None, true), Outcome::Pending);
        assert_eq!(Outcome::of(Failed, None, false), Outcome::GaveUp);
        assert_eq!(Outcome::of(Sent, None, false), Outcome::Reached);
        assert_eq!(Outcome::of(Delivered, None, false), Outcome::Reached);
        assert_eq!(
            Outcome::of(Suppressed, Some(reason::NO_ADDRESS), false),
            Outcome::GaveUp
        );
        assert_eq!(
            Outcome::of(Suppressed, Some(reason::SENT_TO_TEAM_CHANNEL), false),
            Outcome::Reached
        );
    }
}
