//! The escalation engine as a property (proptest): a random policy and a random
//! interleaving of clock advances, engine sweeps (some overlapping), delivery outcomes
//! (sent, transient, permanent, rate-limited) and answers (acknowledge, resolve, an
//! acknowledgement landing while a page is being sent), driven through the real code
//! against real PostgreSQL: the real engine run (`escalate_at`, with a simulated
//! clock), the dispatcher's real claim and record statements, the real API. Each case
//! is one escalation. After every step its rows, audit events and columns are read
//! back and checked against the policy's rules by an oracle written here from the
//! rules (it does not call the planner):
//!
//! - nothing is sent after an answer committed ([`Run::check_answer`]);
//! - each (round, level, person, tier) starts at most once ([`Run::check_fired_once`]);
//! - every person of a fired level gets their primary tier, each row attempted or
//!   suppressed with a reason ([`Run::check_rows`]);
//! - a secondary or fallback tier, a later level, a new round and the exhaustion only
//!   start once their condition held ([`Run::check_new_steps`]), and a sweep leaves
//!   nothing overdue behind, its next look exactly when the next step is due
//!   ([`Run::check_timer`]);
//! - an unanswered escalation ends `exhausted`, within a bounded number of sweeps
//!   ([`Run::drain`]), and nothing moves after that;
//! - delivery receipts (delivered, bounced, delayed; late, repeated and out of order)
//!   settle a row in latest-state-wins order whatever order they come in, and a bounce
//!   that leaves a person's tier with nothing that reached them makes the escalation due
//!   at once, so the next sweep starts their next tier ([`Run::receipt`], then
//!   [`Run::check_timer`]).
//!
//! Two clocks meet here: the engine runs at the simulated clock, while the dispatch
//! statements use the database's `now()`. The simulated clock starts at real time and
//! never falls behind it, so a wake-up the record statement sets at `now()` is due for
//! the engine; a transient failure's retry is due at a simulated time, and when that
//! has passed it is moved to the database's `now()` before claiming (see
//! [`Run::deliverable`]).
//!
//! `PROPTEST_CASES` sets the number of cases (default [`DEFAULT_CASES`]); a failure is
//! shrunk and printed as the smallest case found, its steps and the state it left.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use herald::db::engine as db_engine;
use herald::db::notifications::{self, AttemptOutcome, AttemptResult};
use herald::domain::engine as planner;
use herald::domain::policy::reason;
use herald::domain::{Channel, EscalationPolicy, Tier};
use herald::scheduled::EngineSummary;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, unique_email, unique_phone};

/// Cases of the main property when `PROPTEST_CASES` is not set: about half a minute on
/// two loaded cores (a case takes 0.3 to 0.6 s); the racing one runs a third as many.
const DEFAULT_CASES: u32 = 40;

/// The pool of people a policy draws from.
const PEOPLE: [&str; 3] = ["ana", "ben", "chloe"];

/// The channels a generated policy pages on.
const PAGED: [Channel; 4] = [Channel::Email, Channel::Sms, Channel::Voice, Channel::Push];

/// How far the clock moves between sweeps while an unanswered escalation is run out.
const DRAIN_STEP_MINUTES: i64 = 10;

// ---------------------------------------------------------------------------------
// The generated case
// ---------------------------------------------------------------------------------

/// Which addresses a person has (a missing one makes their rows on it `suppressed`).
#[derive(Debug, Clone, Copy)]
struct Reach {
    email: bool,
    phone: bool,
    push: bool,
}

#[derive(Debug, Clone)]
struct LevelSpec {
    after_minutes: u32,
    recipients: Vec<&'static str>,
    primary: Vec<Channel>,
    secondary: Vec<Channel>,
    fallback: Vec<Channel>,
    secondary_after_minutes: u32,
    fallback_after_minutes: u32,
}

#[derive(Debug, Clone)]
struct PolicySpec {
    /// By index into [`PEOPLE`].
    reach: [Reach; 3],
    levels: Vec<LevelSpec>,
    repeat: u8,
}

/// What a delivery attempt comes back with.
#[derive(Debug, Clone, Copy)]
enum Delivery {
    Sent,
    /// Failed, retried `retry_in_minutes` later (simulated).
    Transient {
        retry_in_minutes: u32,
    },
    /// Failed for good.
    Permanent,
    /// Past the person's rate limit: `suppressed` / `rate_limited`.
    RateLimited,
}

/// What a provider reports after it took a message (see `herald::domain::receipt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReceiptKind {
    Delivered,
    Bounced,
    Delayed,
}

#[derive(Debug, Clone)]
enum Op {
    /// A receipt for one row a provider took (`pick` among them, answered or not by an
    /// earlier receipt), handed to the feedback statement `copies` times.
    Receipt {
        pick: u8,
        kind: ReceiptKind,
        copies: u8,
    },
    Advance {
        minutes: u32,
    },
    /// One engine run at the clock.
    Sweep,
    /// Two engine runs at the same clock, concurrently.
    OverlappingSweeps,
    /// A dispatcher claims one deliverable row (`pick` among them) and records `result`.
    Deliver {
        pick: u8,
        result: Delivery,
    },
    Acknowledge,
    Resolve,
    /// A row is claimed, the escalation is acknowledged, then the send's result lands.
    AcknowledgeDuringSend {
        pick: u8,
        result: Delivery,
    },
    /// An engine run has locked the escalation and written its plan; an acknowledgement
    /// comes in and waits for it; the run commits.
    AcknowledgeDuringSweep,
}

#[derive(Clone)]
struct Case {
    policy: PolicySpec,
    ops: Vec<Op>,
    /// When running an unanswered escalation out: fail every pending delivery for good
    /// before each sweep, or let only time pass.
    drain_fails_pending: bool,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Case {{")?;
        for (who, reach) in PEOPLE.iter().zip(&self.policy.reach) {
            writeln!(f, "  {who}: {reach:?}")?;
        }
        for (i, level) in self.policy.levels.iter().enumerate() {
            writeln!(f, "  level {i}: {level:?}")?;
        }
        writeln!(f, "  repeat: {}", self.policy.repeat)?;
        for (i, op) in self.ops.iter().enumerate() {
            writeln!(f, "  op {}: {op:?}", i + 1)?;
        }
        writeln!(f, "  drain_fails_pending: {}", self.drain_fails_pending)?;
        write!(f, "}}")
    }
}

fn reach() -> impl Strategy<Value = Reach> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(email, phone, push)| Reach {
        email,
        phone,
        push,
    })
}

/// A level and how many minutes after the level before it fires: 1 or 2 people, a
/// primary channel and each other channel in no tier, secondary or fallback (or primary
/// too), secondary after 1 to 8 minutes and fallback 1 to 8 minutes after that.
fn level() -> impl Strategy<Value = (u32, LevelSpec)> {
    (
        1u32..=15,
        proptest::sample::subsequence(PEOPLE.to_vec(), 1..=2),
        0usize..PAGED.len(),
        [0u8..4, 0u8..4, 0u8..4, 0u8..4],
        1u32..=8,
        1u32..=8,
    )
        .prop_map(
            |(gap, recipients, first, slots, secondary_after, fallback_gap)| {
                let mut tiers: [Vec<Channel>; 3] = Default::default();
                tiers[0].push(PAGED[first]);
                for (i, slot) in slots.into_iter().enumerate() {
                    if i != first && slot > 0 {
                        tiers[usize::from(slot) - 1].push(PAGED[i]);
                    }
                }
                let [primary, secondary, fallback] = tiers;
                let level = LevelSpec {
                    after_minutes: 0,
                    recipients,
                    primary,
                    secondary,
                    fallback,
                    secondary_after_minutes: secondary_after,
                    fallback_after_minutes: secondary_after + fallback_gap,
                };
                (gap, level)
            },
        )
}

fn policy() -> impl Strategy<Value = PolicySpec> {
    (
        [reach(), reach(), reach()],
        proptest::collection::vec(level(), 1..=3),
        0u8..=2,
    )
        .prop_map(|(reach, levels, repeat)| {
            let mut after = 0;
            let levels = levels
                .into_iter()
                .enumerate()
                .map(|(i, (gap, mut level))| {
                    if i > 0 {
                        after += gap;
                    }
                    level.after_minutes = after;
                    level
                })
                .collect();
            PolicySpec {
                reach,
                levels,
                repeat,
            }
        })
}

fn delivery() -> impl Strategy<Value = Delivery> {
    prop_oneof![
        3 => Just(Delivery::Sent),
        2 => (1u32..=5).prop_map(|retry_in_minutes| Delivery::Transient { retry_in_minutes }),
        2 => Just(Delivery::Permanent),
        2 => Just(Delivery::RateLimited),
    ]
}

fn receipt_kind() -> impl Strategy<Value = ReceiptKind> {
    prop_oneof![
        3 => Just(ReceiptKind::Delivered),
        2 => Just(ReceiptKind::Bounced),
        1 => Just(ReceiptKind::Delayed),
    ]
}

/// Everything but answers.
fn activity() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (any::<u8>(), receipt_kind(), 1u8..=2)
            .prop_map(|(pick, kind, copies)| Op::Receipt { pick, kind, copies }),
        4 => (1u32..=12).prop_map(|minutes| Op::Advance { minutes }),
        3 => Just(Op::Sweep),
        1 => Just(Op::OverlappingSweeps),
        5 => (any::<u8>(), delivery()).prop_map(|(pick, result)| Op::Deliver { pick, result }),
    ]
}

fn answer() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Acknowledge),
        2 => Just(Op::Resolve),
        2 => (any::<u8>(), delivery())
            .prop_map(|(pick, result)| Op::AcknowledgeDuringSend { pick, result }),
    ]
}

/// Which interleavings a property draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interleavings {
    /// Answers between steps, or during a send: half the cases are never answered.
    Sequential,
    /// As well: one acknowledgement that waits on an engine run holding the escalation.
    AckRacingSweep,
}

/// 10 to 40 steps of activity, with 0 to 2 answers (half the cases none) placed among
/// them.
fn case(kind: Interleavings) -> impl Strategy<Value = Case> {
    let answers = prop_oneof![
        1 => Just(Vec::new()),
        1 => proptest::collection::vec((any::<u8>(), answer()), 1..=2),
    ];
    let racing = match kind {
        Interleavings::Sequential => Just(None).boxed(),
        Interleavings::AckRacingSweep => any::<u8>().prop_map(Some).boxed(),
    };
    (
        policy(),
        proptest::collection::vec(activity(), 10..=40),
        answers,
        racing,
        any::<bool>(),
    )
        .prop_map(|(policy, mut ops, answers, racing, drain_fails_pending)| {
            let racing = racing.map(|at| (at, Op::AcknowledgeDuringSweep));
            for (at, op) in answers.into_iter().chain(racing) {
                let at = usize::from(at) % (ops.len() + 1);
                ops.insert(at, op);
            }
            Case {
                policy,
                ops,
                drain_fails_pending,
            }
        })
}

// ---------------------------------------------------------------------------------
// The policy's rules, as the oracle reads them
// ---------------------------------------------------------------------------------

fn minutes(m: u32) -> TimeDelta {
    TimeDelta::minutes(i64::from(m))
}

impl LevelSpec {
    /// The level's non-empty tiers in order, each with its delay from the level firing.
    fn tiers(&self) -> Vec<(Tier, &[Channel], u32)> {
        [
            (Tier::Primary, self.primary.as_slice(), 0),
            (
                Tier::Secondary,
                self.secondary.as_slice(),
                self.secondary_after_minutes,
            ),
            (
                Tier::Fallback,
                self.fallback.as_slice(),
                self.fallback_after_minutes,
            ),
        ]
        .into_iter()
        .filter(|(_, channels, _)| !channels.is_empty())
        .collect()
    }

    fn channels(&self, tier: Tier) -> &[Channel] {
        match tier {
            Tier::Primary => &self.primary,
            Tier::Secondary => &self.secondary,
            Tier::Fallback => &self.fallback,
        }
    }

    /// The tier before `tier`, and how long after that one started `tier` is due when
    /// nobody answered (its delay minus the tier before's).
    fn before(&self, tier: Tier) -> Option<(Tier, TimeDelta)> {
        let tiers = self.tiers();
        let i = tiers.iter().position(|(t, ..)| *t == tier)?;
        let (previous, _, previous_offset) = tiers.get(i.checked_sub(1)?)?;
        Some((*previous, minutes(tiers[i].2 - previous_offset)))
    }

    /// The tier after `tier`, and its wait from when `tier` started.
    fn after(&self, tier: Tier) -> Option<(Tier, TimeDelta)> {
        let tiers = self.tiers();
        let i = tiers.iter().position(|(t, ..)| *t == tier)?;
        let (next, ..) = tiers.get(i + 1)?;
        self.before(*next).map(|(_, wait)| (*next, wait))
    }

    fn last_tier(&self) -> Tier {
        self.tiers().last().map_or(Tier::Primary, |(t, ..)| *t)
    }

    /// How long a person has to answer the level's last tier.
    fn final_wait(&self) -> TimeDelta {
        minutes(self.secondary_after_minutes)
    }
}

impl PolicySpec {
    fn reach_of(&self, who: &str) -> Reach {
        let i = PEOPLE
            .iter()
            .position(|p| *p == who)
            .expect("one of PEOPLE");
        self.reach[i]
    }

    /// The people some level pages, in [`PEOPLE`] order.
    fn paged(&self) -> Vec<&'static str> {
        PEOPLE
            .into_iter()
            .filter(|p| self.levels.iter().any(|l| l.recipients.contains(p)))
            .collect()
    }

    fn to_request(&self) -> Value {
        let recipients: Vec<Value> = self
            .paged()
            .into_iter()
            .map(|who| {
                let reach = self.reach_of(who);
                let mut r = json!({ "id": who });
                if reach.email {
                    r["email"] = json!(unique_email(who));
                }
                if reach.phone {
                    r["phone"] = json!(unique_phone());
                }
                if reach.push {
                    r["push_endpoint_arn"] = json!(format!(
                        "arn:aws:sns:us-east-1:000000000000:endpoint/GCM/herald-props/{}",
                        Uuid::new_v4()
                    ));
                }
                r
            })
            .collect();
        let names = |cs: &[Channel]| cs.iter().map(|c| c.as_str()).collect::<Vec<_>>();
        let levels: Vec<Value> = self
            .levels
            .iter()
            .map(|l| {
                json!({
                    "after_minutes": l.after_minutes,
                    "recipients": l.recipients,
                    "channels": {
                        "primary": names(&l.primary),
                        "secondary": names(&l.secondary),
                        "fallback": names(&l.fallback),
                    },
                    "secondary_after_minutes": l.secondary_after_minutes,
                    "fallback_after_minutes": l.fallback_after_minutes,
                })
            })
            .collect();
        json!({
            "title": "Property case: checkout error rate above 5%",
            "priority": "high",
            "recipients": recipients,
            "policy": { "levels": levels, "repeat": self.repeat },
        })
    }

    /// The most sweeps, [`DRAIN_STEP_MINUTES`] apart, an unanswered escalation may take
    /// to be exhausted from any point: per round, the last level's delay and the
    /// longest tier chain (fallback's delay plus the final wait), each step of the round
    /// possibly one sweep late, and one sweep more.
    fn drain_bound(&self) -> usize {
        let step = DRAIN_STEP_MINUTES as u32;
        let last_after = self.levels.last().map_or(0, |l| l.after_minutes);
        let chain = self
            .levels
            .iter()
            .map(|l| l.fallback_after_minutes + l.secondary_after_minutes)
            .max()
            .unwrap_or(0);
        let steps_per_round = self.levels.len() * 3;
        let per_round = (last_after + chain).div_ceil(step) as usize + steps_per_round + 1;
        (usize::from(self.repeat) + 1) * per_round + 1
    }
}

// ---------------------------------------------------------------------------------
// What the database holds
// ---------------------------------------------------------------------------------

/// One notification_log row of the escalation.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    id: Uuid,
    who: String,
    channel: Channel,
    level: u32,
    round: u32,
    tier: Tier,
    status: String,
    reason: Option<String>,
    next_attempt_at: Option<DateTime<Utc>>,
    queued_at: DateTime<Utc>,
    last_attempt_at: Option<DateTime<Utc>>,
    attempts: i32,
    provider_message_id: Option<String>,
}

impl Row {
    /// It never will reach the person: failed with no retry to come, or suppressed
    /// (a team-channel copy is not giving up: the page got there).
    fn gave_up(&self) -> bool {
        match self.status.as_str() {
            "failed" => self.next_attempt_at.is_none(),
            "suppressed" => self.reason.as_deref() != Some(reason::SENT_TO_TEAM_CHANNEL),
            _ => false,
        }
    }

    /// Queued, being sent, or failed with a retry to come.
    fn pending(&self) -> bool {
        match self.status.as_str() {
            "queued" | "sending" => true,
            "failed" => self.next_attempt_at.is_some(),
            _ => false,
        }
    }

    fn key(&self) -> (u32, u32, &str, Tier, Channel) {
        (self.round, self.level, &self.who, self.tier, self.channel)
    }

    fn describe(&self) -> String {
        format!(
            "r{} L{} {} {} {}: {}{}",
            self.round,
            self.level,
            self.who,
            self.tier,
            self.channel,
            self.status,
            self.reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
struct EscalationRow {
    status: String,
    current_level: i32,
    current_round: i32,
    round_started_at: DateTime<Utc>,
    next_escalation_at: Option<DateTime<Utc>>,
    exhausted_at: Option<DateTime<Utc>>,
    acknowledged_at: Option<DateTime<Utc>>,
    resolved_at: Option<DateTime<Utc>>,
    policy: EscalationPolicy,
}

impl EscalationRow {
    fn answered_at(&self) -> Option<DateTime<Utc>> {
        match (self.acknowledged_at, self.resolved_at) {
            (Some(a), Some(r)) => Some(a.min(r)),
            (a, r) => a.or(r),
        }
    }
}

/// An `escalation.*` step the engine recorded.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    LevelFired {
        round: u32,
        level: u32,
    },
    TierStarted {
        round: u32,
        level: u32,
        who: String,
        tier: Tier,
    },
    Exhausted {
        rounds: u32,
    },
}

#[derive(Debug, Clone)]
struct Snapshot {
    esc: EscalationRow,
    rows: Vec<Row>,
    events: Vec<Event>,
}

/// (round, level, person, tier): one tier of one person, all its channels' rows.
type TierKey = (u32, u32, String, Tier);

/// When a step is due: now (something gave up), or at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    Now,
    At(DateTime<Utc>),
}

impl Snapshot {
    fn tier(&self, round: u32, level: u32, who: &str, tier: Tier) -> Vec<&Row> {
        self.rows
            .iter()
            .filter(|r| r.round == round && r.level == level && r.who == who && r.tier == tier)
            .collect()
    }

    /// The person's latest tier that has rows in (round, level).
    fn latest(&self, round: u32, level: u32, who: &str) -> Option<(Tier, Vec<&Row>)> {
        let tier = self
            .rows
            .iter()
            .filter(|r| r.round == round && r.level == level && r.who == who)
            .map(|r| r.tier)
            .max()?;
        Some((tier, self.tier(round, level, who, tier)))
    }

    fn tiers(&self) -> BTreeMap<TierKey, Vec<&Row>> {
        let mut out: BTreeMap<TierKey, Vec<&Row>> = BTreeMap::new();
        for r in &self.rows {
            out.entry((r.round, r.level, r.who.clone(), r.tier))
                .or_default()
                .push(r);
        }
        out
    }

    /// How many levels of `round` fired (those with rows).
    fn levels_fired(&self, round: u32) -> u32 {
        self.rows
            .iter()
            .filter(|r| r.round == round)
            .map(|r| r.level + 1)
            .max()
            .unwrap_or(0)
    }

    /// When `round` started: its first rows are level 0's, written when it started.
    fn round_start(&self, round: u32) -> Option<DateTime<Utc>> {
        self.rows
            .iter()
            .filter(|r| r.round == round)
            .map(|r| r.queued_at)
            .min()
    }

    fn describe(&self) -> String {
        let mut out = format!(
            "escalation: {} round {} level {} round_started_at {} next {:?} exhausted {:?}\n",
            self.esc.status,
            self.esc.current_round,
            self.esc.current_level,
            self.esc.round_started_at,
            self.esc.next_escalation_at,
            self.esc.exhausted_at
        );
        for r in &self.rows {
            out += &format!(
                "  {} queued {} attempts {} next {:?}\n",
                r.describe(),
                r.queued_at.format("%H:%M:%S%.6f"),
                r.attempts,
                r.next_attempt_at.map(|t| t.format("%H:%M:%S").to_string())
            );
        }
        for e in &self.events {
            out += &format!("  event {e:?}\n");
        }
        out
    }
}

async fn load(app: &TestApp, id: Uuid) -> Snapshot {
    let client = app.pool.get().await.expect("a connection");
    let e = client
        .query_one(
            "SELECT status, current_level, current_round, round_started_at, next_escalation_at, \
                    exhausted_at, acknowledged_at, resolved_at, policy \
             FROM escalations WHERE id = $1",
            &[&id],
        )
        .await
        .expect("the escalation");
    let tokio_postgres::types::Json(policy): tokio_postgres::types::Json<EscalationPolicy> =
        e.get("policy");
    let esc = EscalationRow {
        status: e.get("status"),
        current_level: e.get("current_level"),
        current_round: e.get("current_round"),
        round_started_at: e.get("round_started_at"),
        next_escalation_at: e.get("next_escalation_at"),
        exhausted_at: e.get("exhausted_at"),
        acknowledged_at: e.get("acknowledged_at"),
        resolved_at: e.get("resolved_at"),
        policy,
    };
    let mut rows: Vec<Row> = client
        .query(
            "SELECT n.id, r.external_id, n.channel, n.level, n.round, n.tier, n.status, \
                    n.suppressed_reason, n.next_attempt_at, n.queued_at, n.last_attempt_at, \
                    n.attempt_count, n.provider_message_id \
             FROM notification_log n JOIN recipients r ON r.id = n.recipient_id \
             WHERE n.escalation_id = $1",
            &[&id],
        )
        .await
        .expect("the escalation's rows")
        .iter()
        .map(|r| Row {
            id: r.get(0),
            who: r.get(1),
            channel: r.get::<_, String>(2).parse().expect("a channel"),
            level: u32::try_from(r.get::<_, i32>(3)).expect("a level"),
            round: u32::try_from(r.get::<_, i32>(4)).expect("a round"),
            tier: r.get::<_, String>(5).parse().expect("a tier"),
            status: r.get(6),
            reason: r.get(7),
            next_attempt_at: r.get(8),
            queued_at: r.get(9),
            last_attempt_at: r.get(10),
            attempts: r.get(11),
            provider_message_id: r.get(12),
        })
        .collect();
    rows.sort_by(|a, b| a.key().cmp(&b.key()));
    let events = client
        .query(
            "SELECT event_type, detail FROM event_log \
             WHERE escalation_id = $1 AND event_type IN \
                   ('escalation.level_fired', 'escalation.tier_started', 'escalation.exhausted') \
             ORDER BY id",
            &[&id],
        )
        .await
        .expect("the escalation's events")
        .iter()
        .map(|r| event(r.get(0), &r.get::<_, Value>(1)))
        .collect();
    Snapshot { esc, rows, events }
}

fn event(kind: &str, detail: &Value) -> Event {
    let n = |field: &str| {
        detail[field]
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or_else(|| panic!("{kind} detail without {field}: {detail}"))
    };
    match kind {
        "escalation.level_fired" => Event::LevelFired {
            round: n("round"),
            level: n("level"),
        },
        "escalation.tier_started" => Event::TierStarted {
            round: n("round"),
            level: n("level"),
            who: detail["recipient"]
                .as_str()
                .expect("tier_started names its recipient")
                .to_owned(),
            tier: detail["tier"]
                .as_str()
                .expect("tier_started names its tier")
                .parse()
                .expect("a tier"),
        },
        _ => Event::Exhausted {
            rounds: n("rounds"),
        },
    }
}

// ---------------------------------------------------------------------------------
// Running a case
// ---------------------------------------------------------------------------------

/// Figures over every case run.
#[derive(Debug, Default)]
struct Stats {
    cases: u64,
    steps: u64,
    sweeps: u64,
    overlapping: u64,
    deliveries: BTreeMap<&'static str, u64>,
    receipts: BTreeMap<&'static str, u64>,
    acknowledgements: u64,
    during_send: u64,
    during_sweep: u64,
    resolutions: u64,
    claims_refused_after_answer: u64,
    levels_fired: u64,
    tiers_started: u64,
    exhausted: u64,
    answered: u64,
    rounds_repeated: u64,
    drain_sweeps: u64,
    max_drain_sweeps: usize,
}

/// What the step did, beyond what the database shows.
#[derive(Debug, Default)]
struct Effect {
    /// The engine runs' summaries, when the step ran `escalate_at`.
    sweeps: Vec<EngineSummary>,
    /// The step ran the engine (so may write rows).
    engine_ran: bool,
    /// A row claimed before an acknowledgement and recorded after it.
    in_flight: Option<Uuid>,
    note: String,
    /// Violations found while running the step.
    errors: Vec<String>,
}

/// What is known of an answer once it committed.
#[derive(Debug, Clone)]
struct Answered {
    at: DateTime<Utc>,
    rows: Vec<Row>,
    events: usize,
}

struct Run<'a> {
    app: &'a TestApp,
    id: Uuid,
    policy: &'a PolicySpec,
    t0: DateTime<Utc>,
    clock: DateTime<Utc>,
    step: usize,
    snap: Snapshot,
    /// The step after which each row was first seen given up.
    gave_up: HashMap<Uuid, usize>,
    answered: Option<Answered>,
    trace: Vec<String>,
    stats: Stats,
}

/// The real clock, to the microsecond (what PostgreSQL keeps).
fn real_now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).expect("a representable time")
}

impl<'a> Run<'a> {
    /// Posts the escalation (step 0: ingest plans its first wave) and checks it. The
    /// escalation is the only open one of the database: one a failed case left open is
    /// resolved first (through the API), so no engine run steps anything else.
    async fn start(app: &'a TestApp, policy: &'a PolicySpec) -> Result<Run<'a>, String> {
        close_open_escalations(app).await;
        let created = app.post_escalation(&policy.to_request()).await;
        if created.status != 202 {
            return Err(format!(
                "ingest answered {}: {}",
                created.status, created.text
            ));
        }
        let id: Uuid = created.json()["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("an escalation id");
        let t0 = real_now();
        let snap = load(app, id).await;
        let mut run = Run {
            app,
            id,
            policy,
            t0,
            clock: t0,
            step: 0,
            snap,
            gave_up: HashMap::new(),
            answered: None,
            trace: Vec::new(),
            stats: Stats::default(),
        };
        run.check_stored_policy()?;
        // Before ingest: nothing written, nothing exhausted.
        let mut before = Snapshot {
            rows: Vec::new(),
            events: Vec::new(),
            ..run.snap.clone()
        };
        before.esc.exhausted_at = None;
        let effect = Effect {
            engine_ran: true,
            note: "ingest".into(),
            ..Effect::default()
        };
        run.observe(&before, &effect, "post the escalation")?;
        Ok(run)
    }

    /// `t` as an offset from the case's start: `+5m00.012s`.
    fn minute(&self, t: DateTime<Utc>) -> String {
        let ms = (t - self.t0).num_milliseconds();
        let (sign, ms) = if ms < 0 { ('-', -ms) } else { ('+', ms) };
        format!(
            "{sign}{}m{:02}.{:03}s",
            ms / 60_000,
            (ms % 60_000) / 1000,
            ms % 1000
        )
    }

    /// Runs one step and checks everything after it.
    async fn apply(&mut self, op: &Op) -> Result<(), String> {
        self.step += 1;
        // The simulated clock never falls behind the database's.
        self.clock = self.clock.max(real_now());
        let before = self.snap.clone();
        let effect = match op {
            Op::Advance { minutes: m } => {
                self.clock += minutes(*m);
                Effect::default()
            }
            Op::Sweep => self.sweep(1, &before).await?,
            Op::OverlappingSweeps => self.sweep(2, &before).await?,
            Op::Deliver { pick, result } => self.deliver(*pick, *result).await?,
            Op::Receipt { pick, kind, copies } => self.receipt(*pick, *kind, *copies).await?,
            Op::Acknowledge => self.answer("acknowledge").await?,
            Op::Resolve => self.answer("resolve").await?,
            Op::AcknowledgeDuringSend { pick, result } => {
                self.acknowledge_during_send(*pick, *result).await?
            }
            Op::AcknowledgeDuringSweep => self.acknowledge_during_sweep().await?,
        };
        let mut effect = effect;
        self.snap = load(self.app, self.id).await;
        if self.answered.is_none() && self.snap.esc.status != "triggered" {
            // Answered in this step: from now on the claim takes none of its rows,
            // whatever state they were left in.
            effect.errors = self.offer_every_row().await.err().into_iter().collect();
            self.snap = load(self.app, self.id).await;
        }
        self.observe(&before, &effect, &format!("{op:?}"))
    }

    // -- the steps ------------------------------------------------------------------

    /// `n` engine runs at the clock, concurrently (`escalate_at`: the real sweep, which
    /// also hands the rows it writes to their queues). Exactly one of them steps the
    /// escalation when it is due, none when it is not.
    async fn sweep(&mut self, n: usize, before: &Snapshot) -> Result<Effect, String> {
        let due = before.esc.status == "triggered"
            && before
                .esc
                .next_escalation_at
                .is_some_and(|t| t <= self.clock);
        let sweeps = if n == 1 {
            vec![self.app.escalate_at(self.clock).await]
        } else {
            let (a, b) = tokio::join!(
                self.app.escalate_at(self.clock),
                self.app.escalate_at(self.clock)
            );
            self.stats.overlapping += 1;
            vec![a, b]
        };
        self.stats.sweeps += n as u64;
        let stepped: u64 = sweeps.iter().map(|s| s.escalations).sum();
        if stepped != u64::from(due) {
            return Err(format!(
                "the escalation was {}due at {} (next step {:?}) but {stepped} run(s) stepped it: {sweeps:?}",
                if due { "" } else { "not " },
                self.minute(self.clock),
                before.esc.next_escalation_at.map(|t| self.minute(t)),
            ));
        }
        let note = format!("{stepped} run(s) stepped it");
        Ok(Effect {
            sweeps,
            engine_ran: true,
            note,
            ..Effect::default()
        })
    }

    /// The rows a dispatcher could claim now: queued, or failed with a retry due at the
    /// simulated clock (such a retry is moved to the database's `now()`, so the claim,
    /// which compares with `now()`, takes it). In a stable order.
    async fn deliverable(&self) -> Vec<Row> {
        let due: Vec<Row> = self
            .snap
            .rows
            .iter()
            .filter(|r| {
                r.status == "queued"
                    || (r.status == "failed" && r.next_attempt_at.is_some_and(|t| t <= self.clock))
            })
            .cloned()
            .collect();
        let retries: Vec<Uuid> = due
            .iter()
            .filter(|r| r.status == "failed")
            .map(|r| r.id)
            .collect();
        if !retries.is_empty() {
            let client = self.app.pool.get().await.expect("a connection");
            client
                .execute(
                    "UPDATE notification_log SET next_attempt_at = now() \
                     WHERE id = ANY($1) AND status = 'failed' AND next_attempt_at IS NOT NULL",
                    &[&retries],
                )
                .await
                .expect("retries made due at the database's clock");
        }
        due
    }

    /// The dispatcher's claim of one row (the real statement).
    async fn claim(&self, row: &Row) -> Vec<notifications::Claimed> {
        let client = self.app.pool.get().await.expect("a connection");
        notifications::claim(
            &client,
            row.channel,
            &[row.id],
            &[],
            Duration::from_secs(3600),
            Duration::from_secs(120),
            false,
        )
        .await
        .expect("the claim statement")
    }

    fn outcome(&self, result: Delivery) -> AttemptOutcome {
        match result {
            Delivery::Sent => AttemptOutcome::Sent {
                provider_message_id: Some(format!("prop-{}", Uuid::new_v4().simple())),
            },
            Delivery::Transient { retry_in_minutes } => AttemptOutcome::Failed {
                error: "provider timed out".into(),
                retryable: true,
                next_attempt_at: Some(self.clock + minutes(retry_in_minutes)),
            },
            Delivery::Permanent => AttemptOutcome::Failed {
                error: "address rejected for good".into(),
                retryable: false,
                next_attempt_at: None,
            },
            Delivery::RateLimited => AttemptOutcome::Suppressed {
                reason: reason::RATE_LIMITED,
            },
        }
    }

    /// The dispatcher's record of one attempt (the real statement).
    async fn record(
        &self,
        claimed: &notifications::Claimed,
        result: Delivery,
    ) -> notifications::Recorded {
        let client = self.app.pool.get().await.expect("a connection");
        let results = [AttemptResult {
            id: claimed.id,
            attempt: claimed.attempt_count,
            outcome: self.outcome(result),
            revoked_credential: None,
        }];
        notifications::record(&client, &results)
            .await
            .expect("the record statement")
    }

    fn count_delivery(&mut self, result: Delivery) {
        let kind = match result {
            Delivery::Sent => "sent",
            Delivery::Transient { .. } => "transient",
            Delivery::Permanent => "permanent",
            Delivery::RateLimited => "rate-limited",
        };
        *self.stats.deliveries.entry(kind).or_default() += 1;
    }

    /// Once answered, no row of the escalation may be claimed: every row of it is
    /// offered to the dispatcher's claim, which must take none.
    async fn offer_every_row(&mut self) -> Result<(), String> {
        for row in self.snap.rows.clone() {
            let claimed = self.claim(&row).await;
            if !claimed.is_empty() {
                return Err(format!(
                    "{} was claimed after the escalation was {}",
                    row.describe(),
                    self.snap.esc.status
                ));
            }
            self.stats.claims_refused_after_answer += 1;
        }
        Ok(())
    }

    /// A dispatcher's attempt after the answer: nothing to claim.
    async fn claim_after_answer(&mut self) -> Result<Effect, String> {
        self.offer_every_row().await?;
        Ok(Effect {
            note: format!("all {} rows refused", self.snap.rows.len()),
            ..Effect::default()
        })
    }

    async fn deliver(&mut self, pick: u8, result: Delivery) -> Result<Effect, String> {
        if self.answered.is_some() {
            return self.claim_after_answer().await;
        }
        let rows = self.deliverable().await;
        if rows.is_empty() {
            return Ok(Effect {
                note: "nothing to deliver".into(),
                ..Effect::default()
            });
        }
        let row = &rows[usize::from(pick) % rows.len()];
        let claimed = self.claim(row).await;
        let [claimed] = claimed.as_slice() else {
            return Err(format!(
                "{} should be claimable, the claim took {}",
                row.describe(),
                claimed.len()
            ));
        };
        let recorded = self.record(claimed, result).await;
        if recorded.written != 1 {
            return Err(format!("{} recorded {recorded:?}", row.describe()));
        }
        self.count_delivery(result);
        Ok(Effect {
            note: format!("{} -> {result:?}", row.describe()),
            ..Effect::default()
        })
    }

    /// A provider's receipt for a row it took, through the feedback statement (the real
    /// one), `copies` times. The row then says what latest state wins says: `sent` <
    /// `delivered` < a failure after the send; a delay changes nothing. Receipts of an
    /// answered escalation are left out: what they may change there is covered in
    /// `feedback.rs`, and the oracle freezes an answered escalation's rows.
    async fn receipt(&mut self, pick: u8, kind: ReceiptKind, copies: u8) -> Result<Effect, String> {
        use herald::domain::receipt::{Receipt, Verdict};
        if self.answered.is_some() {
            return Ok(Effect {
                note: "answered: no receipt sent".into(),
                ..Effect::default()
            });
        }
        let taken: Vec<Row> = self
            .snap
            .rows
            .iter()
            .filter(|r| r.provider_message_id.is_some())
            .cloned()
            .collect();
        if taken.is_empty() {
            return Ok(Effect {
                note: "no row a provider took".into(),
                ..Effect::default()
            });
        }
        let row = &taken[usize::from(pick) % taken.len()];
        let verdict = match kind {
            ReceiptKind::Delivered => Verdict::Delivered,
            ReceiptKind::Bounced => Verdict::Failed { permanent: false },
            ReceiptKind::Delayed => Verdict::Delayed,
        };
        let receipt = Receipt {
            channel: row.channel,
            provider_message_id: row.provider_message_id.clone().unwrap_or_default(),
            verdict,
            at: self.clock,
            sent_at: row.last_attempt_at,
            detail: Some(format!("{kind:?}")),
            suppress: vec![],
        };
        let client = self.app.pool.get().await.expect("a connection");
        let mut changed = 0;
        for _ in 0..copies {
            let applied = herald::db::receipts::apply(&client, std::slice::from_ref(&receipt))
                .await
                .map_err(|e| format!("the receipt statement: {e:#}"))?;
            if applied.matched != [true] {
                return Err(format!("{}: its receipt matched no row", row.describe()));
            }
            changed += applied.changed;
        }
        // Latest state wins: sent 0, delivered 1, failed after the send 2.
        let rank = |status: &str| match status {
            "sent" => 0,
            "delivered" => 1,
            _ => 2,
        };
        let expected = match verdict.status() {
            Some(new) if verdict.rank() > rank(&row.status) => new.as_str().to_owned(),
            _ => row.status.clone(),
        };
        let now: String = client
            .query_one(
                "SELECT status FROM notification_log WHERE id = $1",
                &[&row.id],
            )
            .await
            .expect("the row")
            .get(0);
        let mut errors = Vec::new();
        if now != expected {
            errors.push(format!(
                "{} after a {kind:?} receipt is {now}, latest state wins says {expected}",
                row.describe()
            ));
        }
        if changed > u64::from(expected != row.status) {
            errors.push(format!(
                "{}: {changed} changes for one receipt",
                row.describe()
            ));
        }
        let counted = if expected == row.status {
            "changed nothing"
        } else {
            match kind {
                ReceiptKind::Delivered => "delivered",
                ReceiptKind::Bounced => "bounced",
                ReceiptKind::Delayed => "delayed",
            }
        };
        *self.stats.receipts.entry(counted).or_default() += 1;
        Ok(Effect {
            note: format!("{} <- {kind:?} x{copies}: {now}", row.describe()),
            errors,
            ..Effect::default()
        })
    }

    /// Through the API, as a caller with an API key does.
    async fn answer(&mut self, action: &str) -> Result<Effect, String> {
        let got = self
            .app
            .api(
                "POST",
                &format!("/v1/escalations/{}/{action}", self.id),
                None,
            )
            .await;
        if got.status != 200 {
            return Err(format!("{action} answered {}: {}", got.status, got.text));
        }
        match action {
            "acknowledge" => self.stats.acknowledgements += 1,
            _ => self.stats.resolutions += 1,
        }
        Ok(Effect {
            note: format!("changed: {}", got.json()["changed"]),
            ..Effect::default()
        })
    }

    /// A row is claimed (the send begins), the escalation is acknowledged, then the
    /// send's result is recorded: a message that went out stays `sent` (it was claimed
    /// before the answer) and the record reports the answer it crossed; a failure
    /// becomes `suppressed` / `escalation_acknowledged`, never a retry.
    async fn acknowledge_during_send(
        &mut self,
        pick: u8,
        result: Delivery,
    ) -> Result<Effect, String> {
        let rows = if self.answered.is_some() {
            Vec::new()
        } else {
            self.deliverable().await
        };
        if rows.is_empty() {
            let mut effect = self.answer("acknowledge").await?;
            effect.note += " (nothing was being sent)";
            return Ok(effect);
        }
        let row = &rows[usize::from(pick) % rows.len()];
        let claimed = self.claim(row).await;
        let [claimed] = claimed.as_slice() else {
            return Err(format!("{} should be claimable", row.describe()));
        };
        self.answer("acknowledge").await?;
        self.stats.during_send += 1;
        let recorded = self.record(claimed, result).await;
        self.count_delivery(result);
        let after = load(self.app, self.id).await;
        let now = after
            .rows
            .iter()
            .find(|r| r.id == row.id)
            .expect("the row is still there");
        let expected = match result {
            Delivery::Sent => ("sent", None),
            Delivery::RateLimited => ("suppressed", Some(reason::RATE_LIMITED)),
            Delivery::Transient { .. } | Delivery::Permanent => {
                ("suppressed", Some(reason::ESCALATION_ACKNOWLEDGED))
            }
        };
        if recorded.written != 1 || (now.status.as_str(), now.reason.as_deref()) != expected {
            return Err(format!(
                "a {result:?} recorded after the acknowledgement left {} ({recorded:?}); expected {expected:?}",
                now.describe()
            ));
        }
        if matches!(result, Delivery::Sent) && recorded.answered_meanwhile != [self.id] {
            return Err(format!(
                "a message sent across the acknowledgement is not reported as such: {recorded:?}"
            ));
        }
        Ok(Effect {
            in_flight: Some(row.id),
            note: format!(
                "{} -> {result:?} across the acknowledgement",
                row.describe()
            ),
            ..Effect::default()
        })
    }

    /// An engine run (the statements `escalate` runs: claim, plan, apply, in one
    /// transaction) locks the escalation and writes its plan; an acknowledgement comes
    /// in and waits for that lock; then the run commits.
    async fn acknowledge_during_sweep(&mut self) -> Result<Effect, String> {
        let now = self.clock;
        let channels = self.app.retry.settings.channels.clone();
        let mut client = self.app.pool.get().await.expect("a connection");
        let tx = client.transaction().await.expect("a transaction");
        let due = db_engine::claim_due(&tx, now, 10)
            .await
            .expect("the engine's claim");
        let plans: Vec<(Uuid, planner::Plan)> = due
            .iter()
            .map(|d| {
                let plan = planner::plan(
                    &d.policy,
                    &d.progress,
                    &d.deliveries,
                    &d.people,
                    &channels,
                    now,
                );
                (d.id, plan)
            })
            .collect();
        let applied = if plans.is_empty() {
            db_engine::AppliedBatch::default()
        } else {
            db_engine::apply(&tx, now, &plans)
                .await
                .expect("the engine's apply")
        };
        self.stats.sweeps += 1;
        self.stats.during_sweep += 1;
        let held = !due.is_empty();
        let commit = async {
            if held {
                self.wait_for_a_lock_waiter().await;
            }
            tx.commit().await.expect("the engine run commits");
        };
        let path = format!("/v1/escalations/{}/acknowledge", self.id);
        let (got, ()) = if held {
            tokio::join!(self.app.api("POST", &path, None), commit)
        } else {
            commit.await;
            (self.app.api("POST", &path, None).await, ())
        };
        if got.status != 200 {
            return Err(format!("acknowledge answered {}: {}", got.status, got.text));
        }
        self.stats.acknowledgements += 1;
        Ok(Effect {
            engine_ran: true,
            note: format!(
                "the run {} and wrote {} rows, then the acknowledgement (changed: {})",
                if held {
                    "held the escalation"
                } else {
                    "found nothing due"
                },
                applied.rows,
                got.json()["changed"]
            ),
            ..Effect::default()
        })
    }

    /// Until another session of this database waits for a lock (the acknowledgement
    /// behind the engine run), at most 10 s.
    async fn wait_for_a_lock_waiter(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let client = self.app.pool.get().await.expect("a connection");
        while Instant::now() < deadline {
            let waiting: i64 = client
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity \
                     WHERE datname = current_database() AND wait_event_type = 'Lock'",
                    &[],
                )
                .await
                .expect("pg_stat_activity")
                .get(0);
            if waiting > 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Runs an unanswered escalation out: the clock moves on [`DRAIN_STEP_MINUTES`]
    /// at a time with a sweep after each move (and, when the case says so, every
    /// pending delivery fails for good first), until it is exhausted, within
    /// [`PolicySpec::drain_bound`] sweeps.
    async fn drain(&mut self, fail_pending: bool) -> Result<(), String> {
        let bound = self.policy.drain_bound();
        let mut sweeps = 0;
        while self.snap.esc.exhausted_at.is_none() {
            if sweeps == bound {
                return Err(format!(
                    "still not exhausted after {bound} sweeps {DRAIN_STEP_MINUTES} minutes apart: stuck"
                ));
            }
            if fail_pending {
                self.fail_everything_pending().await?;
            }
            self.apply(&Op::Advance {
                minutes: DRAIN_STEP_MINUTES as u32,
            })
            .await?;
            self.apply(&Op::Sweep).await?;
            sweeps += 1;
        }
        self.stats.drain_sweeps += sweeps as u64;
        self.stats.max_drain_sweeps = self.stats.max_drain_sweeps.max(sweeps);
        Ok(())
    }

    /// Every pending delivery fails for good (through the dispatcher's statements),
    /// the clock first moving past the last retry time.
    async fn fail_everything_pending(&mut self) -> Result<(), String> {
        let retries = self
            .snap
            .rows
            .iter()
            .filter(|r| r.status == "failed")
            .filter_map(|r| r.next_attempt_at)
            .max();
        if let Some(latest) = retries
            && latest > self.clock
        {
            let wait = (latest - self.clock).num_seconds().max(0) as u32;
            self.apply(&Op::Advance {
                minutes: wait.div_ceil(60).max(1),
            })
            .await?;
        }
        for _ in 0..=self.snap.rows.len() {
            if !self.snap.rows.iter().any(Row::pending) {
                return Ok(());
            }
            self.apply(&Op::Deliver {
                pick: 0,
                result: Delivery::Permanent,
            })
            .await?;
        }
        Err("pending deliveries could not all be failed".into())
    }

    /// The end of a case, answered or exhausted: the escalation is finished for good.
    /// An exhausted one ran every level of every round and says so once; a day later a
    /// sweep finds nothing to do, and nothing changes.
    async fn finish(&mut self) -> Result<(), String> {
        let levels = self.policy.levels.len() as u32;
        let rounds = u32::from(self.policy.repeat) + 1;
        if self.answered.is_none() {
            let fired = self
                .snap
                .events
                .iter()
                .filter(|e| matches!(e, Event::LevelFired { .. }))
                .count() as u32;
            let exhausted: Vec<&Event> = self
                .snap
                .events
                .iter()
                .filter(|e| matches!(e, Event::Exhausted { .. }))
                .collect();
            if fired != levels * rounds || exhausted != [&Event::Exhausted { rounds }] {
                return Err(format!(
                    "exhausted after {fired} level(s) fired (expected {levels} x {rounds} rounds) with {exhausted:?}"
                ));
            }
            self.stats.exhausted += 1;
            self.stats.rounds_repeated += u64::from(self.policy.repeat);
        } else {
            self.stats.answered += 1;
        }
        self.stats.levels_fired += self
            .snap
            .events
            .iter()
            .filter(|e| matches!(e, Event::LevelFired { .. }))
            .count() as u64;
        self.stats.tiers_started += self
            .snap
            .events
            .iter()
            .filter(|e| matches!(e, Event::TierStarted { .. }))
            .count() as u64;
        let before = self.snap.clone();
        self.apply(&Op::Advance { minutes: 24 * 60 }).await?;
        self.apply(&Op::Sweep).await?;
        if self.snap.rows != before.rows || self.snap.events != before.events {
            return Err("a finished escalation moved a day later".into());
        }
        Ok(())
    }

    // -- the checks -----------------------------------------------------------------

    /// The policy stored with the escalation is the one posted.
    fn check_stored_policy(&self) -> Result<(), String> {
        let stored = &self.snap.esc.policy;
        let same = stored.repeat == self.policy.repeat
            && stored.levels.len() == self.policy.levels.len()
            && stored.levels.iter().zip(&self.policy.levels).all(|(s, p)| {
                s.after_minutes == p.after_minutes
                    && s.recipients == p.recipients
                    && s.channels.primary == p.primary
                    && s.channels.secondary == p.secondary
                    && s.channels.fallback == p.fallback
                    && s.secondary_after_minutes == p.secondary_after_minutes
                    && s.fallback_after_minutes == p.fallback_after_minutes
            });
        if same {
            Ok(())
        } else {
            Err(format!("stored policy {stored:?} is not the one posted"))
        }
    }

    /// Updates what is known of the rows' history, runs every check, and traces the step.
    fn observe(&mut self, before: &Snapshot, effect: &Effect, label: &str) -> Result<(), String> {
        for r in &self.snap.rows {
            if r.gave_up() {
                self.gave_up.entry(r.id).or_insert(self.step);
            }
        }
        self.stats.steps += 1;
        self.trace.push(format!(
            "step {} at {}: {label}{}",
            self.step,
            self.minute(self.clock),
            if effect.note.is_empty() {
                String::new()
            } else {
                format!(" -> {}", effect.note)
            }
        ));
        let mut errors = effect.errors.clone();
        errors.extend(self.check_rows());
        errors.extend(self.check_fired_once());
        errors.extend(self.check_new_steps(before, effect));
        errors.extend(self.check_answer(before, effect));
        if self.answered.is_none() {
            errors.extend(self.check_timer(effect));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("\n"))
        }
    }

    /// Every row belongs to the policy (a person of its level, a channel of its tier,
    /// a round of the policy's); a tier's rows are written together, one per channel of
    /// the tier; a suppressed row says why; a queued row has its outbox clock (and the
    /// run that wrote it handed it to its queue: [`Run::check_sweep_counts`]); no row is
    /// left `sending`; a row that gave up stays given up; every person of a fired
    /// level has their primary tier.
    fn check_rows(&self) -> Vec<String> {
        let mut errors = Vec::new();
        let policy = self.policy;
        for r in &self.snap.rows {
            let Some(level) = policy.levels.get(r.level as usize) else {
                errors.push(format!("{}: no such level", r.describe()));
                continue;
            };
            if !level.recipients.contains(&r.who.as_str())
                || !level.channels(r.tier).contains(&r.channel)
                || r.round > u32::from(policy.repeat)
            {
                errors.push(format!("{}: not in the policy", r.describe()));
            }
            if r.status == "suppressed" && r.reason.as_deref().is_none_or(str::is_empty) {
                errors.push(format!("{}: suppressed without a reason", r.describe()));
            }
            if r.status == "queued" && r.next_attempt_at.is_none() {
                errors.push(format!(
                    "{}: queued without an outbox clock, the sweep would never send it",
                    r.describe()
                ));
            }
            if r.status == "sending" {
                // Every claim here is recorded within its step.
                errors.push(format!("{}: left sending", r.describe()));
            }
            if self.gave_up.contains_key(&r.id) && !r.gave_up() {
                errors.push(format!("{}: gave up, then came back", r.describe()));
            }
        }
        for ((round, li, who, tier), rows) in self.snap.tiers() {
            let Some(level) = policy.levels.get(li as usize) else {
                continue;
            };
            let mut channels: Vec<Channel> = rows.iter().map(|r| r.channel).collect();
            channels.sort();
            let mut wanted = level.channels(tier).to_vec();
            wanted.sort();
            let starts: BTreeSet<DateTime<Utc>> = rows.iter().map(|r| r.queued_at).collect();
            if channels != wanted || starts.len() != 1 {
                errors.push(format!(
                    "r{round} L{li} {who} {tier}: rows on {channels:?} queued at {starts:?}, expected one write of {wanted:?}"
                ));
            }
        }
        for round in 0..=self.snap.esc.current_round.max(0) as u32 {
            for li in 0..self.snap.levels_fired(round) {
                let level = &policy.levels[li as usize];
                for who in &level.recipients {
                    if self.snap.tier(round, li, who, Tier::Primary).is_empty() {
                        errors.push(format!(
                            "r{round} L{li} fired but {who} got no primary tier"
                        ));
                    }
                }
            }
        }
        errors
    }

    /// Each level of each round fires once, each tier of each person starts once, the
    /// escalation is exhausted at most once: the audit events are unique, and match the
    /// rows one for one.
    fn check_fired_once(&self) -> Vec<String> {
        let mut errors = Vec::new();
        let mut seen = BTreeSet::new();
        for e in &self.snap.events {
            if !seen.insert(e.clone()) {
                errors.push(format!("{e:?} recorded twice"));
            }
        }
        if self
            .snap
            .events
            .iter()
            .filter(|e| matches!(e, Event::Exhausted { .. }))
            .count()
            > 1
        {
            errors.push("exhausted more than once".into());
        }
        let mut from_rows = BTreeSet::new();
        for (round, level, who, tier) in self.snap.tiers().into_keys() {
            if tier == Tier::Primary {
                from_rows.insert(Event::LevelFired { round, level });
            } else {
                from_rows.insert(Event::TierStarted {
                    round,
                    level,
                    who,
                    tier,
                });
            }
        }
        let from_events: BTreeSet<Event> = seen
            .into_iter()
            .filter(|e| !matches!(e, Event::Exhausted { .. }))
            .collect();
        if from_rows != from_events {
            errors.push(format!(
                "steps with rows but no event: {:?}; events with no rows: {:?}",
                from_rows.difference(&from_events).collect::<Vec<_>>(),
                from_events.difference(&from_rows).collect::<Vec<_>>()
            ));
        }
        let exhausted = self.snap.esc.exhausted_at.is_some();
        let event = self
            .snap
            .events
            .iter()
            .any(|e| matches!(e, Event::Exhausted { .. }));
        if exhausted != event {
            errors.push(format!(
                "exhausted_at {:?} but exhausted event: {event}",
                self.snap.esc.exhausted_at
            ));
        }
        errors
    }

    /// Whether every row of `rows` had given up when the engine ran in step `k`:
    /// before it, or written given up by that run (an answer in the same step comes
    /// after the run, and gives up rows with its own reason).
    fn gave_up_by(&self, rows: &[&Row], k: usize) -> bool {
        let answer = |r: &Row| {
            matches!(
                r.reason.as_deref(),
                Some(reason::ESCALATION_ACKNOWLEDGED | reason::ESCALATION_RESOLVED)
            )
        };
        rows.iter().all(|r| match self.gave_up.get(&r.id) {
            Some(at) => *at < k || (*at == k && !answer(r)),
            None => false,
        })
    }

    /// Why round `round` was not over at `at` (step `k`), if it was not: over when every
    /// level fired and every person is on their level's last tier, which gave up or
    /// had its final wait.
    fn round_not_over(&self, round: u32, at: DateTime<Utc>, k: usize) -> Option<String> {
        for (li, level) in self.policy.levels.iter().enumerate() {
            let li = li as u32;
            if self.snap.levels_fired(round) <= li {
                return Some(format!("level {li} of round {round} never fired"));
            }
            for who in &level.recipients {
                let Some((tier, rows)) = self.snap.latest(round, li, who) else {
                    return Some(format!("{who} of level {li} has no rows"));
                };
                if tier != level.last_tier() {
                    return Some(format!(
                        "{who} of level {li} was on {tier}, not yet on {}",
                        level.last_tier()
                    ));
                }
                let start = rows[0].queued_at;
                if !self.gave_up_by(&rows, k) && at < start + level.final_wait() {
                    return Some(format!(
                        "{who}'s {tier} of level {li} (started {}) had neither given up nor had its final wait",
                        self.minute(start)
                    ));
                }
            }
        }
        None
    }

    /// Whether every person of the levels of `round` before `level` is on a tier that
    /// gave up by step `k` (their last one, or the engine would have started the next).
    fn everyone_before_gave_up(&self, round: u32, level: u32, k: usize) -> bool {
        self.policy.levels[..level as usize]
            .iter()
            .enumerate()
            .all(|(li, l)| {
                l.recipients.iter().all(|who| {
                    self.snap
                        .latest(round, li as u32, who)
                        .is_some_and(|(_, rows)| self.gave_up_by(&rows, k))
                })
            })
    }

    /// Every tier, level, round and exhaustion that appeared in this step was due:
    /// - a secondary or fallback tier: the tier before it started earlier (or in this
    ///   same run), and either every delivery of it gave up or its wait had passed since
    ///   it really started;
    /// - a level after the first: the level before it fired, and either its
    ///   `after_minutes` had passed since its round started or everyone of the levels
    ///   before gave up;
    /// - a new round (or the exhaustion, after the last one): the round before was over.
    ///
    /// New rows come only from engine runs, stamped with the run's clock.
    fn check_new_steps(&self, before: &Snapshot, effect: &Effect) -> Vec<String> {
        let mut errors = Vec::new();
        let k = self.step;
        let old: BTreeSet<Uuid> = before.rows.iter().map(|r| r.id).collect();
        let new_tiers: BTreeMap<TierKey, Vec<&Row>> = self
            .snap
            .tiers()
            .into_iter()
            .filter(|(_, rows)| rows.iter().any(|r| !old.contains(&r.id)))
            .collect();
        if !new_tiers.is_empty() && !effect.engine_ran {
            errors.push(format!(
                "rows appeared in a step that ran no engine: {:?}",
                new_tiers.keys()
            ));
        }
        for ((round, li, who, tier), rows) in &new_tiers {
            let (round, li) = (*round, *li);
            let Some(level) = self.policy.levels.get(li as usize) else {
                continue;
            };
            let start = rows[0].queued_at;
            if self.step > 0 && start != self.clock {
                errors.push(format!(
                    "r{round} L{li} {who} {tier} queued at {}, not the run's clock {}",
                    self.minute(start),
                    self.minute(self.clock)
                ));
            }
            if let Some((previous, wait)) = level.before(*tier) {
                let earlier = self.snap.tier(round, li, who, previous);
                let Some(previous_start) = earlier.iter().map(|r| r.queued_at).min() else {
                    errors.push(format!(
                        "r{round} L{li} {who} {tier} started with no {previous} before it"
                    ));
                    continue;
                };
                let waited = start >= previous_start + wait;
                if !waited && !self.gave_up_by(&earlier, k) {
                    errors.push(format!(
                        "r{round} L{li} {who} {tier} started at {}, before its wait ({} min from {} at {}) and while {previous} had not given up: {:?}",
                        self.minute(start),
                        wait.num_minutes(),
                        previous,
                        self.minute(previous_start),
                        earlier.iter().map(|r| r.describe()).collect::<Vec<_>>()
                    ));
                }
            } else if li > 0 {
                let Some(round_start) = self.snap.round_start(round) else {
                    continue;
                };
                if !self
                    .snap
                    .rows
                    .iter()
                    .any(|r| r.round == round && r.level == li - 1)
                {
                    errors.push(format!("r{round} L{li} fired before level {}", li - 1));
                }
                let due = round_start + minutes(level.after_minutes);
                if start < due && !self.everyone_before_gave_up(round, li, k) {
                    errors.push(format!(
                        "r{round} L{li} fired at {}, before its {} minutes (due {}) and while someone before had not given up",
                        self.minute(start),
                        level.after_minutes,
                        self.minute(due)
                    ));
                }
            } else if round > 0
                && let Some(why) = self.round_not_over(round - 1, start, k)
            {
                errors.push(format!(
                    "round {round} started at {} before round {} was over: {why}",
                    self.minute(start),
                    round - 1
                ));
            }
        }
        if before.esc.exhausted_at.is_none()
            && let Some(at) = self.snap.esc.exhausted_at
        {
            let last = u32::from(self.policy.repeat);
            if self.snap.esc.current_round != last as i32 {
                errors.push(format!(
                    "exhausted in round {} of {}",
                    self.snap.esc.current_round, last
                ));
            } else if let Some(why) = self.round_not_over(last, at, k) {
                errors.push(format!(
                    "exhausted at {} before the last round was over: {why}",
                    self.minute(at)
                ));
            }
        }
        if before.esc.exhausted_at.is_some() && self.snap.rows.len() != before.rows.len() {
            errors.push("rows written after the escalation was exhausted".into());
        }
        errors.extend(self.check_sweep_counts(before, effect, &new_tiers));
        errors
    }

    /// An engine run's summary tells the truth: the rows, levels, tiers and
    /// exhaustions it wrote, and every queued row it wrote handed to its queue.
    fn check_sweep_counts(
        &self,
        before: &Snapshot,
        effect: &Effect,
        new_tiers: &BTreeMap<TierKey, Vec<&Row>>,
    ) -> Vec<String> {
        if effect.sweeps.is_empty() {
            return Vec::new();
        }
        let sum = |f: fn(&EngineSummary) -> u64| effect.sweeps.iter().map(f).sum::<u64>();
        let new_rows: Vec<&Row> = new_tiers.values().flatten().copied().collect();
        let queued = new_rows.iter().filter(|r| r.status == "queued").count() as u64;
        let primaries = new_tiers.keys().filter(|k| k.3 == Tier::Primary);
        let levels = primaries.map(|k| (k.0, k.1)).collect::<BTreeSet<_>>().len() as u64;
        let tiers = new_tiers.keys().filter(|k| k.3 != Tier::Primary).count() as u64;
        let exhausted =
            u64::from(before.esc.exhausted_at.is_none() && self.snap.esc.exhausted_at.is_some());
        let got = (
            sum(|s| s.rows),
            sum(|s| s.levels_fired),
            sum(|s| s.tiers_started),
            sum(|s| s.exhausted),
            sum(|s| s.enqueued),
            sum(|s| s.enqueue_failed),
        );
        let expected = (new_rows.len() as u64, levels, tiers, exhausted, queued, 0);
        if got == expected {
            Vec::new()
        } else {
            vec![format!(
                "the run(s) reported (rows, levels, tiers, exhausted, enqueued, enqueue failed) {got:?}, the database shows {expected:?}"
            )]
        }
    }

    /// When the escalation's next step is due, by the rules, from what the database
    /// holds at the clock: a tier whose deliveries all gave up moves on now, another
    /// after its wait; the next level at its delay (or now when everyone before gave
    /// up); a round whose people are all done ends now. `None` once exhausted.
    fn next_due(&self) -> Option<Due> {
        if self.snap.esc.exhausted_at.is_some() {
            return None;
        }
        let round = self.snap.esc.current_round.max(0) as u32;
        let now = self.clock;
        let fired = self.snap.levels_fired(round);
        let mut next: Option<Due> = None;
        let (mut all_done, mut all_gave_up) = (true, true);
        let mut earliest = |due: Due| next = Some(next.map_or(due, |n| n.min(due)));
        for (li, level) in self.policy.levels.iter().enumerate().take(fired as usize) {
            for who in &level.recipients {
                let Some((tier, rows)) = self.snap.latest(round, li as u32, who) else {
                    continue;
                };
                let start = rows.iter().map(|r| r.queued_at).min().unwrap_or(now);
                let gave_up = rows.iter().all(|r| r.gave_up());
                match level.after(tier) {
                    Some(_) if gave_up => earliest(Due::Now),
                    Some((_, wait)) => {
                        (all_done, all_gave_up) = (false, false);
                        earliest(Due::At(start + wait));
                    }
                    None if gave_up => {}
                    None => {
                        all_gave_up = false;
                        // Past the final wait the person is done with this round.
                        let due = start + level.final_wait();
                        if due > now {
                            all_done = false;
                            earliest(Due::At(due));
                        }
                    }
                }
            }
        }
        match self.policy.levels.get(fired as usize) {
            Some(_) if fired > 0 && all_gave_up => earliest(Due::Now),
            Some(level) => {
                let start = self.snap.round_start(round).unwrap_or(now);
                earliest(Due::At(start + minutes(level.after_minutes)));
            }
            None if all_done => earliest(Due::Now),
            None => {}
        }
        next
    }

    /// The escalation's timer: an open one always has a next step, never later than
    /// the rules say it is due (a delivery that gave up makes it due at once: the
    /// record statement wakes it at the database's `now()`); after an engine run that
    /// stepped it, exactly when the next step is due; after any engine run, nothing is
    /// left overdue (the run did all that was due: nothing is stuck).
    fn check_timer(&self, effect: &Effect) -> Vec<String> {
        let esc = &self.snap.esc;
        let mut errors = Vec::new();
        let show = |due: Due| match due {
            Due::Now => "now".to_owned(),
            Due::At(t) => self.minute(t),
        };
        match (esc.next_escalation_at, self.next_due()) {
            (None, None) => {}
            (Some(at), None) => {
                errors.push(format!("exhausted, but a next step at {}", self.minute(at)))
            }
            (None, Some(due)) => {
                errors.push(format!("no next step, but one is due {}: stuck", show(due)))
            }
            (Some(at), Some(due)) => {
                let limit = match due {
                    // The wake-up is the database's `now()`, during this step.
                    Due::Now => self.clock.max(real_now()),
                    Due::At(t) => t,
                };
                if at > limit {
                    errors.push(format!(
                        "next step at {}, after the next due step ({})",
                        self.minute(at),
                        show(due)
                    ));
                }
                let overdue = match due {
                    Due::Now => true,
                    Due::At(t) => t <= self.clock,
                };
                if !effect.sweeps.is_empty() && overdue {
                    errors.push(format!(
                        "after the engine run at {}, a step due {} was left undone",
                        self.minute(self.clock),
                        show(due)
                    ));
                }
                let stepped = effect.sweeps.iter().any(|s| s.escalations > 0);
                if stepped && due != Due::At(at) {
                    errors.push(format!(
                        "an engine run set the next step at {}, the rules say {}",
                        self.minute(at),
                        show(due)
                    ));
                }
            }
        }
        if let Some(round_start) = self.snap.round_start(esc.current_round.max(0) as u32)
            && round_start != esc.round_started_at
        {
            errors.push(format!(
                "round_started_at {} but round {} started at {}",
                self.minute(esc.round_started_at),
                esc.current_round,
                self.minute(round_start)
            ));
        }
        let fired = self.snap.levels_fired(esc.current_round.max(0) as u32);
        if esc.current_level + 1 != fired as i32 {
            errors.push(format!(
                "current_level {} but {fired} level(s) of the round have rows",
                esc.current_level
            ));
        }
        errors
    }

    /// Nothing is sent after an answer committed. In the step that answers: no row is
    /// left pending (every row that was queued or waiting for a retry is `suppressed`
    /// with the answer as its reason, except a send that was in flight), and every row
    /// ever claimed was claimed before the answer. In every step after: no row is
    /// written or changes (the claim takes none, the engine writes none), no event.
    fn check_answer(&mut self, before: &Snapshot, effect: &Effect) -> Vec<String> {
        let mut errors = Vec::new();
        if let Some(answered) = &self.answered {
            if self.snap.rows != answered.rows || self.snap.events.len() != answered.events {
                errors.push(format!(
                    "rows or events changed after the answer at {}",
                    self.minute(answered.at)
                ));
            }
            if self.snap.esc.next_escalation_at.is_some() {
                errors.push("an answered escalation has a next step".into());
            }
            return errors;
        }
        if self.snap.esc.status == "triggered" {
            return errors;
        }
        let Some(at) = self.snap.esc.answered_at() else {
            return vec![format!("{} without a time", self.snap.esc.status)];
        };
        let why = if self.snap.esc.acknowledged_at == Some(at) {
            reason::ESCALATION_ACKNOWLEDGED
        } else {
            reason::ESCALATION_RESOLVED
        };
        for r in &self.snap.rows {
            if r.pending() {
                errors.push(format!(
                    "{} is still pending after the escalation was {}",
                    r.describe(),
                    self.snap.esc.status
                ));
            }
            let was_pending = before.rows.iter().any(|b| b.id == r.id && b.pending());
            if was_pending
                && Some(r.id) != effect.in_flight
                && (r.status.as_str(), r.reason.as_deref()) != ("suppressed", Some(why))
            {
                errors.push(format!(
                    "{} was pending when the escalation was {}, expected suppressed ({why})",
                    r.describe(),
                    self.snap.esc.status
                ));
            }
            if r.last_attempt_at.is_some_and(|t| t > at) {
                errors.push(format!("{} was claimed after the answer", r.describe()));
            }
        }
        if self.snap.esc.next_escalation_at.is_some() {
            errors.push("an answered escalation has a next step".into());
        }
        self.answered = Some(Answered {
            at,
            rows: self.snap.rows.clone(),
            events: self.snap.events.len(),
        });
        errors
    }
}

/// Resolves, through the API, every escalation that still has a step to come.
async fn close_open_escalations(app: &TestApp) {
    let client = app.pool.get().await.expect("a connection");
    let open: Vec<Uuid> = client
        .query(
            "SELECT id FROM escalations WHERE status = 'triggered' AND next_escalation_at IS NOT NULL",
            &[],
        )
        .await
        .expect("open escalations")
        .iter()
        .map(|r| r.get(0))
        .collect();
    for id in open {
        let got = app
            .api("POST", &format!("/v1/escalations/{id}/resolve"), None)
            .await;
        assert_eq!(got.status, 200, "{}", got.text);
    }
}

/// One case: post the policy, run the steps, run it out if nobody answered, finish.
async fn run_case(app: &TestApp, case: &Case) -> Result<Stats, String> {
    let mut run = Run::start(app, &case.policy).await?;
    let result = async {
        for op in &case.ops {
            run.apply(op).await?;
        }
        if run.answered.is_none() {
            run.drain(case.drain_fails_pending).await?;
        }
        run.finish().await
    }
    .await;
    match result {
        Ok(()) => {
            run.stats.cases = 1;
            Ok(run.stats)
        }
        Err(e) => Err(format!(
            "{e}\n\nsteps:\n{}\n\nstate:\n{}",
            run.trace.join("\n"),
            run.snap.describe()
        )),
    }
}

impl Stats {
    fn add(&mut self, other: Stats) {
        self.cases += other.cases;
        self.steps += other.steps;
        self.sweeps += other.sweeps;
        self.overlapping += other.overlapping;
        for (k, v) in other.deliveries {
            *self.deliveries.entry(k).or_default() += v;
        }
        for (k, v) in other.receipts {
            *self.receipts.entry(k).or_default() += v;
        }
        self.acknowledgements += other.acknowledgements;
        self.during_send += other.during_send;
        self.during_sweep += other.during_sweep;
        self.resolutions += other.resolutions;
        self.claims_refused_after_answer += other.claims_refused_after_answer;
        self.levels_fired += other.levels_fired;
        self.tiers_started += other.tiers_started;
        self.exhausted += other.exhausted;
        self.answered += other.answered;
        self.rounds_repeated += other.rounds_repeated;
        self.drain_sweeps += other.drain_sweeps;
        self.max_drain_sweeps = self.max_drain_sweeps.max(other.max_drain_sweeps);
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self;
        write!(
            f,
            "{} cases, {} steps, {} sweeps ",
            s.cases, s.steps, s.sweeps
        )?;
        write!(f, "({} overlapping pairs", s.overlapping)?;
        if s.during_sweep > 0 {
            write!(
                f,
                ", {} holding the escalation while an acknowledgement waited",
                s.during_sweep
            )?;
        }
        let kinds: Vec<String> = ["sent", "transient", "permanent", "rate-limited"]
            .iter()
            .map(|k| format!("{k} {}", s.deliveries.get(k).copied().unwrap_or(0)))
            .collect();
        write!(
            f,
            "), {} deliveries ({}), {} receipts ({}), {} acknowledgements ({} during a send), {} resolutions, \
             {} claims refused after an answer; {} levels fired, {} tiers started; \
             {} answered, {} exhausted ({} repeat rounds, {} sweeps to run them out, at most {} for one)",
            s.deliveries.values().sum::<u64>(),
            kinds.join(", "),
            s.receipts.values().sum::<u64>(),
            ["delivered", "bounced", "delayed", "changed nothing"]
                .iter()
                .map(|k| format!("{k} {}", s.receipts.get(k).copied().unwrap_or(0)))
                .collect::<Vec<_>>()
                .join(", "),
            s.acknowledgements,
            s.during_send,
            s.resolutions,
            s.claims_refused_after_answer,
            s.levels_fired,
            s.tiers_started,
            s.answered,
            s.exhausted,
            s.rounds_repeated,
            s.drain_sweeps,
            s.max_drain_sweeps
        )
    }
}

/// Runs the property over `kind`'s interleavings; prints the figures; panics with the
/// smallest failing case proptest could shrink to.
///
/// One stack (database, queues, fakes) serves every case of the run, each case with an
/// escalation of its own: a stack takes 1.5 to 4 s to set up on a loaded two-core
/// machine, a case's steps a few tenths of a second. The cases do not see each other:
/// every check reads one escalation, and the earlier ones are finished (answered or
/// exhausted, or resolved before the next case when one failed).
fn check_property(name: &str, kind: Interleavings, default_cases: u32) {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default_cases);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        // Each shrink runs a case again (a few tenths of a second): at most half a
        // minute of it.
        max_shrink_iters: 256,
        max_shrink_time: 30_000,
        ..Config::default()
    });
    let totals = RefCell::new(Stats::default());
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let app = runtime.block_on(TestApp::spawn());
    let result = runner.run(&case(kind), |case| {
        let outcome = runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(300), run_case(&app, &case))
                .await
                .unwrap_or_else(|_| Err("the case took over 5 minutes".into()))
        });
        match outcome {
            Ok(stats) => {
                totals.borrow_mut().add(stats);
                Ok(())
            }
            Err(e) => Err(TestCaseError::fail(e)),
        }
    });
    let totals = totals.into_inner();
    let passed = if result.is_ok() {
        ""
    } else {
        " (passing runs, shrinking included)"
    };
    println!(
        "{name}: {totals}{passed}; {:.1} s",
        started.elapsed().as_secs_f64()
    );
    match result {
        Ok(()) => {}
        Err(TestError::Fail(why, case)) => {
            panic!("{name} failed; smallest case found:\n{case:#?}\n\n{why}")
        }
        Err(e) => panic!("{name}: {e}"),
    }
}

/// The property over random policies and sequential interleavings: answers come
/// between steps or while a page is being sent.
#[test]
fn engine_props_random_interleavings_keep_the_engine_invariants() {
    check_property(
        "engine property test",
        Interleavings::Sequential,
        DEFAULT_CASES,
    );
}

/// The same property with, in every case, an acknowledgement that arrives while an
/// engine run holds the escalation (it waits for the lock; the run commits first). The
/// rows that run wrote were pending when the acknowledgement committed, so they must
/// be suppressed with it like every other pending row.
#[test]
fn engine_props_an_acknowledgement_racing_a_sweep_leaves_nothing_pending() {
    check_property(
        "engine property test, acknowledgement racing a sweep",
        Interleavings::AckRacingSweep,
        DEFAULT_CASES / 3,
    );
}
