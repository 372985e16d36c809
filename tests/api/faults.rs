//! Fault injection through the real local stack, on every channel: a few hundred
//! escalations whose recipients are reached by email, SMS, push, Teams, voice, Slack and
//! the in-app inbox, while the SQS send after ingest fails, every channel's dispatcher
//! dies before and after sending, SES and SNS throttle and reject, the Teams and voice
//! fakes answer 429/503 and `ThrottlingException`, Slack answers 429 with `Retry-After`,
//! `ok: false` `ratelimited` / `service_unavailable` and, for good, `channel_not_found`,
//! and a dispatcher's database connection is killed mid-batch. Escalations are
//! acknowledged meanwhile (a magic link or a Slack button pressed twice at once, then
//! the API). Then `retry` runs until quiet, and on every channel nothing may be lost,
//! acknowledged twice, or sent after an acknowledgement; duplicates may only come from a
//! crash after a send. Slack's rewrites of answered messages (`chat.update`) are not
//! pages: only `chat.postMessage` counts, and every recorded Slack message of an
//! acknowledged escalation must have been rewritten.
//!
//! Faults are injected at the HTTP level by a small proxy that every provider call goes
//! through (the AWS SDK's for SQS, SES and SNS in front of the emulator; voice's in front
//! of its fake; the registered Teams webhooks point at it, in front of the Teams fake;
//! `HERALD_SLACK_API_BASE_URL` is the proxy's `/api`, in front of the Slack fake).
//! Every decision is a hash of (seed, what, n) where `what` is a stable name (escalation,
//! recipient, channel), never a random id, so a seed always injects the same faults:
//! `HERALD_FAULT_SEED=<n> cargo test -p herald-tests --test api faults -- --nocapture`.
//! (Timing still varies: which messages share a batch with a killed send, how SQS orders
//! redeliveries.)
//!
//! The escalation engine runs through all of it. A quarter of the escalations with two
//! recipients (49 of 182, seven with `repeat: 1`) carry a two-level policy: the first
//! person on one channel, then a second after 5 minutes and a third after 10, the second
//! person at minute 15 on the same channels rotated; the others page everyone at once on
//! their three channels. From the second loop round on, the engine's clock moves 5
//! minutes ahead of real time each round (+6, +11, +16, ...), while the dispatchers run,
//! each step two runs at once in small batches (they share the work by `SKIP LOCKED`),
//! one of them killed after its claim; the retry runs meanwhile step, on the real clock,
//! the escalations whose deliveries gave up (a tier that gave up moves on at once), and
//! the SQS send of such a row's first enqueue fails too. Escalations are acknowledged
//! before the engine's first step, after level 0's fallback started and after level 1's
//! secondary did; the clock moves on until no escalation has a step to come. Then every
//! row must be one its policy writes, each step recorded once, nothing queued, stepped or
//! sent after an acknowledgement, and every escalation nobody answered exhausted, once.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use herald::dispatch::Dispatch;
use herald::domain::slack::{ACKNOWLEDGE_ACTION_ID, button_click_body};
use herald::domain::{Channel, Tier};
use herald::scheduled::EngineSummary;
use herald::warm::Warm;
use herald_local::fakes::{Received, SEND_VOICE_MESSAGE};
use herald_local::stack::LOCAL_SLACK_SIGNING_SECRET;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use uuid::Uuid;
use wiremock::matchers::{body_partial_json, header, method, path_regex};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{
    Options, TestApp, TestResponse, connect, local_http, moto_url, sdk_config, sdk_config_for,
    unique_phone,
};

/// Probabilities per decision (per provider call; the SQS one per notification).
const P_SQS_SEND_FAILS: f64 = 0.15;
/// The first SQS send of a row the engine started on the real clock (a few per run).
const P_SQS_ENGINE_SEND_FAILS: f64 = 0.5;
const P_KILL_BEFORE_SEND: f64 = 0.02;
const P_KILL_AFTER_SEND: f64 = 0.02;
const P_KILL_DB_CONNECTION: f64 = 0.03;
const P_THROTTLE: f64 = 0.20;
/// Every 13th address of each channel is refused for good by its provider.
const REJECT_EVERY: usize = 13;
/// What the proxy's database-connection fault looks for: a dispatcher connection whose
/// (last) statement is the dispatch claim, `WITH locked AS (...), claimed AS (...)`.
const DISPATCH_CLAIM_MARKER: &str = "claimed AS (";

/// The two-level policy's timing (minutes): level 1 fires 15 minutes after its round
/// started; in each level the second tier comes 5 minutes after the level fired and the
/// third 10, or at once when every delivery of the tier before gave up.
const LEVEL_1_AFTER_MINUTES: u32 = 15;
const SECONDARY_AFTER_MINUTES: u32 = 5;
const FALLBACK_AFTER_MINUTES: u32 = 10;
/// The engine's clock: its first step 6 minutes after the last escalation came in (past
/// every first tier's 5 minutes), then 5 more each loop round.
const FIRST_STEP_MINUTES: i64 = 6;
const STEP_MINUTES: i64 = 5;
/// The step whose first run is killed after its claim (the one that fires level 1).
const KILLED_RUN_AT_MINUTES: i64 = 16;
/// The batch of this test's engine runs: small, so two runs at once share a step's work.
const ENGINE_BATCH: u32 = 8;
/// The loop rounds after which the acknowledgement rounds run: once the first wave was
/// sent (before any engine step), after the step at +11 minutes (level 0's fallback
/// started) and after the one at +21 (level 1's secondary started).
const ACK_AT_ROUNDS: [usize; 3] = [1, 3, 5];

/// The channels with a dispatcher under fault injection (in_app rows are written by
/// ingest).
const DISPATCHED: [Channel; 6] = [
    Channel::Email,
    Channel::Sms,
    Channel::Push,
    Channel::Teams,
    Channel::Voice,
    Channel::Slack,
];
/// The channels whose messages let their recipient acknowledge: a magic link in email,
/// SMS, push and Teams; Slack's Acknowledge button (the test stack is interactive: Slack
/// posts the click, signed, to `POST /slack/actions`). Voice reads a script.
const LINKED: [Channel; 5] = [
    Channel::Email,
    Channel::Sms,
    Channel::Push,
    Channel::Teams,
    Channel::Slack,
];
/// The primary channels of escalation `i` are `CHANNEL_SETS[i % 7]`, the lines of a
/// Fano plane over the seven channels (in_app included): every channel is in three of
/// the seven sets, every two channels share one, and each set gets one and two
/// recipients in turn, so every channel gets the same share of notifications (and every
/// set has a channel to acknowledge from).
const CHANNEL_SETS: [[Channel; 3]; 7] = [
    [Channel::Email, Channel::Sms, Channel::Teams],
    [Channel::Sms, Channel::Push, Channel::Voice],
    [Channel::Push, Channel::Teams, Channel::Slack],
    [Channel::Teams, Channel::Voice, Channel::InApp],
    [Channel::Voice, Channel::Slack, Channel::Email],
    [Channel::Slack, Channel::InApp, Channel::Sms],
    [Channel::InApp, Channel::Email, Channel::Push],
];
/// The header the proxy adds to a call the Teams or voice fake must answer with a fault.
const FAULT_HEADER: &str = "x-herald-fault";
/// Where the app under test finds Slack's Web API: the proxy's `/api` (the Slack fake
/// answers under the same path).
const SLACK_API_PATH: &str = "/api";
const SLACK_POST_MESSAGE: &str = "/api/chat.postMessage";
const SLACK_UPDATE: &str = "/api/chat.update";
/// The Slack workspace this test's tenant installed, and its bot token.
const SLACK_TEAM: &str = "T0FAULTS01";
const SLACK_TOKEN: &str = "xoxb-faults-test-token";
/// Slack's `Retry-After` on an injected HTTP 429, in seconds (small: the test stays fast).
const SLACK_RETRY_AFTER: &str = "1";

/// A uniform sample in [0, 1) from (seed, key, n).
fn roll(seed: u64, key: &str, n: u64) -> f64 {
    let digest = Sha256::new()
        .chain_update(seed.to_le_bytes())
        .chain_update(key.as_bytes())
        .chain_update(n.to_le_bytes())
        .finalize();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

/// What the proxy injected on one channel.
#[derive(Debug, Default, Clone)]
struct Injected {
    /// Notifications whose SQS send after the ingest commit was refused.
    sqs_ids_failed: HashSet<Uuid>,
    /// Rows the engine started on the real clock whose first SQS send was refused.
    sqs_ids_failed_engine: HashSet<Uuid>,
    throttled: u64,
    rejected: u64,
    killed_before_send: u64,
    killed_after_send: u64,
    db_connections_killed: u64,
    /// The throttles by kind, where a channel has several (Teams, Slack).
    throttle_kinds: BTreeMap<&'static str, u64>,
}

/// A fault forced on an address's first provider call, so every channel's dispatcher
/// is killed at least once either way whatever the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Forced {
    KillBeforeSend,
    KillAfterSend,
}

/// One address of this test, as the proxy knows it.
#[derive(Debug, Clone)]
struct Target {
    /// A stable name for the decisions: `e{escalation}r{recipient}`.
    label: String,
    external_id: String,
    /// The provider refuses this address for good.
    reject: bool,
    forced: Option<Forced>,
}

/// One send the proxy let through and its provider accepted.
#[derive(Debug, Clone)]
struct Forwarded {
    channel: Channel,
    to: String,
    at: DateTime<Utc>,
    epoch: u64,
    /// The message as sent (the request body; SNS's `Message` parameter).
    text: String,
}

enum Fault {
    Reject,
    KillBeforeSend,
    KillAfterSend,
    KillDbConnections,
    Throttle,
    None,
}

/// A channel's dispatcher as the proxy sees it: its current invocation, and where to
/// say that invocation was killed.
struct Lane {
    current: AtomicU64,
    kills: mpsc::UnboundedSender<u64>,
}

/// The proxy's shared state.
struct Faults {
    seed: u64,
    moto: String,
    http: reqwest::Client,
    /// Whether the SQS send after an ingest commit may fail (the ingest phase only).
    sqs_faults: AtomicBool,
    /// Whether the first SQS send of a row the engine started may fail (after ingest).
    sqs_engine_faults: AtomicBool,
    /// Every notification some SendMessageBatch carried: only a first send may fail.
    sqs_seen: Mutex<HashSet<Uuid>>,
    sqs_batches_failed: AtomicU64,
    /// Invocation numbers, unique over all channels; a killed one sends nothing more.
    next_epoch: AtomicU64,
    lanes: BTreeMap<Channel, Lane>,
    killed_epochs: Mutex<HashSet<u64>>,
    targets: Mutex<HashMap<(Channel, String), Target>>,
    calls: Mutex<HashMap<(Channel, String), u64>>,
    forwarded: Mutex<Vec<Forwarded>>,
    /// Rejections answered: (channel, address, epoch).
    rejections: Mutex<Vec<(Channel, String, u64)>>,
    /// Sends the proxy is still deciding on or forwarding (a dead dispatcher's may be).
    sends_in_flight: AtomicU64,
    /// Sends to addresses this test did not make (there must be none).
    unknown_sends: AtomicU64,
    /// Faults the Teams or voice fake was told to answer and did not (there must be none).
    unanswered_faults: AtomicU64,
    injected: Mutex<BTreeMap<Channel, Injected>>,
    /// The test database, to kill a dispatcher's connections and to name the
    /// notifications of an SQS batch (set once the app exists: the app's SDK needs the
    /// proxy's address first).
    admin: tokio::sync::OnceCell<tokio_postgres::Client>,
    /// The Teams, voice and Slack fakes (they start with the app).
    fakes: tokio::sync::OnceCell<Upstreams>,
}

/// Where the fakes behind the proxy listen.
#[derive(Debug, Clone, Default)]
struct Upstreams {
    teams: String,
    voice: String,
    /// The Slack fake's root (its Web API is under [`SLACK_API_PATH`] there too).
    slack: String,
}

/// Counts a send the proxy is handling, until dropped.
struct InFlight<'a>(&'a AtomicU64);

impl<'a> InFlight<'a> {
    fn new(counter: &'a AtomicU64) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Self(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The provider send a request is, if it is one: its channel and address.
fn send_of(
    method: &hyper::Method,
    path: &str,
    target: &str,
    body: &[u8],
) -> Option<(Channel, String)> {
    if method != hyper::Method::POST {
        return None;
    }
    if path == "/v2/email/outbound-emails" {
        let request: Value = serde_json::from_slice(body).ok()?;
        let to = request["Destination"]["ToAddresses"][0].as_str()?;
        return Some((Channel::Email, to.to_owned()));
    }
    if let Some(hook) = path.strip_prefix("/teams/") {
        return Some((Channel::Teams, hook.to_owned()));
    }
    // A page to a Slack user; `chat.update` (an answered message rewritten) is not one.
    if path == SLACK_POST_MESSAGE {
        let request: Value = serde_json::from_slice(body).ok()?;
        let to = request["channel"].as_str()?;
        return Some((Channel::Slack, to.to_owned()));
    }
    if target == SEND_VOICE_MESSAGE {
        let request: Value = serde_json::from_slice(body).ok()?;
        let to = request["DestinationPhoneNumber"].as_str()?;
        return Some((Channel::Voice, to.to_owned()));
    }
    let params = sns_params(body)?;
    if params.get("Action").map(String::as_str) != Some("Publish") {
        return None;
    }
    if let Some(phone) = params.get("PhoneNumber") {
        return Some((Channel::Sms, phone.clone()));
    }
    params
        .get("TargetArn")
        .map(|arn| (Channel::Push, arn.clone()))
}

/// The parameters of an awsQuery (SNS) request body.
fn sns_params(body: &[u8]) -> Option<HashMap<String, String>> {
    let body = std::str::from_utf8(body).ok()?;
    if !body.contains("Action=") {
        return None;
    }
    let url = reqwest::Url::parse(&format!("http://form.invalid/?{body}")).ok()?;
    Some(url.query_pairs().into_owned().collect())
}

/// What the channel's message says, from the request that sends it.
fn message_text(channel: Channel, body: &[u8]) -> String {
    match channel {
        Channel::Sms | Channel::Push => sns_params(body)
            .and_then(|mut p| p.remove("Message"))
            .unwrap_or_default(),
        _ => String::from_utf8_lossy(body).into_owned(),
    }
}

impl Faults {
    fn epoch_killed(&self, epoch: u64) -> bool {
        self.killed_epochs.lock().expect("lock").contains(&epoch)
    }

    fn kill(&self, channel: Channel, epoch: u64) {
        self.killed_epochs.lock().expect("lock").insert(epoch);
        let _ = self.lanes[&channel].kills.send(epoch);
    }

    fn count(&self, channel: Channel, f: impl FnOnce(&mut Injected)) {
        f(self
            .injected
            .lock()
            .expect("lock")
            .entry(channel)
            .or_default());
    }

    /// Where a request goes on from the proxy.
    fn upstream(&self, path: &str, target: &str) -> String {
        let fakes = self.fakes.get().cloned().unwrap_or_default();
        if path.starts_with("/teams/") {
            fakes.teams
        } else if path.starts_with(&format!("{SLACK_API_PATH}/")) {
            fakes.slack
        } else if target.starts_with("PinpointSMSVoiceV2.") {
            fakes.voice
        } else {
            self.moto.clone()
        }
    }

    fn upstream_of(&self, parts: &http::request::Parts) -> String {
        let target = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        self.upstream(parts.uri.path(), target)
    }

    async fn handle(
        self: Arc<Self>,
        req: hyper::Request<Incoming>,
    ) -> hyper::Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let target = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let path = parts.uri.path().to_owned();

        if target == "AmazonSQS.SendMessageBatch"
            && (self.sqs_faults.load(Ordering::SeqCst)
                || self.sqs_engine_faults.load(Ordering::SeqCst))
            && let Some(resp) = self.sqs_fault(&body).await
        {
            return resp;
        }
        if let Some((channel, to)) = send_of(&parts.method, &path, &target, &body) {
            return self.send(channel, to, parts, body).await;
        }
        let upstream = self.upstream(&path, &target);
        self.forward(&upstream, parts, body, None).await
    }

    /// Fails the whole batch when one of its notifications is doomed (by seed, by the
    /// notification's stable name, read from the database: ingest has committed). After
    /// ingest only a row's first send may fail, and never in a batch holding a row the
    /// engine queued on its driven clock: that row's outbox clock is the engine's, minutes
    /// ahead of real time, so the outbox sweep would only find it minutes later (in
    /// production the two clocks agree). That leaves the rows the engine starts on the
    /// real clock, in the retry runs: tiers that start at once because the tier before
    /// gave up.
    async fn sqs_fault(&self, body: &[u8]) -> Option<hyper::Response<Full<Bytes>>> {
        let request: Value = serde_json::from_slice(body).ok()?;
        let ids: Vec<Uuid> = request["Entries"]
            .as_array()?
            .iter()
            .filter_map(|e| e["MessageBody"].as_str())
            .filter_map(|b| serde_json::from_str::<Value>(b).ok())
            .filter_map(|b| b["notification_id"].as_str().and_then(|s| s.parse().ok()))
            .collect();
        let rows = self
            .admin
            .get()?
            .query(
                "SELECT n.id, n.channel, e.dedup_key, r.external_id, n.level, n.round, \
                        n.queued_at > now() + interval '5 seconds' AS ahead \
                 FROM notification_log n \
                 JOIN escalations e ON e.id = n.escalation_id \
                 JOIN recipients r ON r.id = n.recipient_id WHERE n.id = ANY($1)",
                &[&ids],
            )
            .await
            .ok()?;
        let named: Vec<(Uuid, Channel, String)> = rows
            .iter()
            .filter_map(|r| {
                let channel: Channel = r.get::<_, String>(1).parse().ok()?;
                let mut name = format!(
                    "sqs:{}:{}:{channel}",
                    r.get::<_, Option<String>>(2).unwrap_or_default(),
                    r.get::<_, String>(3)
                );
                // A later level or round of the same person and channel is another row.
                let (level, round) = (r.get::<_, i32>(4), r.get::<_, i32>(5));
                if (level, round) != (0, 0) {
                    name.push_str(&format!(":l{level}:r{round}"));
                }
                Some((r.get(0), channel, name))
            })
            .collect();
        let ahead = rows.iter().any(|r| r.get::<_, bool>(6));
        let first: Vec<bool> = {
            let mut seen = self.sqs_seen.lock().expect("lock");
            named.iter().map(|(id, ..)| seen.insert(*id)).collect()
        };
        let ingest = self.sqs_faults.load(Ordering::SeqCst);
        let doomed = named.iter().zip(&first).any(|((_, _, name), first)| {
            if ingest {
                roll(self.seed, name, 0) < P_SQS_SEND_FAILS
            } else {
                *first && !ahead && roll(self.seed, name, 0) < P_SQS_ENGINE_SEND_FAILS
            }
        });
        if !doomed {
            return None;
        }
        self.sqs_batches_failed.fetch_add(1, Ordering::SeqCst);
        for (id, channel, _) in named {
            self.count(channel, |i| {
                if ingest {
                    i.sqs_ids_failed.insert(id);
                } else {
                    i.sqs_ids_failed_engine.insert(id);
                }
            });
        }
        Some(answer(
            500,
            "application/x-amz-json-1.0",
            json!({"__type": "com.amazonaws.sqs#InternalError", "message": "injected fault"})
                .to_string(),
        ))
    }

    /// One provider send: decides its fault from the address's stable name and how many
    /// calls it had, then answers (the proxy itself for SES and SNS, which the emulator
    /// cannot make fail, and for Slack, so the Slack fake holds only the messages it
    /// accepted; the Teams and voice fakes, told by a header) or forwards.
    async fn send(
        self: &Arc<Self>,
        channel: Channel,
        to: String,
        parts: http::request::Parts,
        body: Bytes,
    ) -> hyper::Response<Full<Bytes>> {
        let epoch = self.lanes[&channel].current.load(Ordering::SeqCst);
        if self.epoch_killed(epoch) {
            // This dispatcher is dead: nothing it still had in flight goes out.
            return answer(503, "text/plain", "dead".into());
        }
        let key = (channel, to.clone());
        let Some(target) = self.targets.lock().expect("lock").get(&key).cloned() else {
            self.unknown_sends.fetch_add(1, Ordering::SeqCst);
            let upstream = self.upstream_of(&parts);
            return self.forward(&upstream, parts, body, None).await;
        };
        let in_flight = InFlight::new(&self.sends_in_flight);
        let n = {
            let mut calls = self.calls.lock().expect("lock");
            let n = calls.entry(key).or_insert(0);
            *n += 1;
            *n
        };
        let name = format!("{channel}:{}", target.label);
        let r = roll(self.seed, &name, n);
        let forced = if n == 1 { target.forced } else { None };
        let fault = if target.reject {
            Fault::Reject
        } else if forced == Some(Forced::KillBeforeSend)
            || (forced.is_none() && r < P_KILL_BEFORE_SEND)
        {
            Fault::KillBeforeSend
        } else if forced == Some(Forced::KillAfterSend)
            || r < P_KILL_BEFORE_SEND + P_KILL_AFTER_SEND
        {
            Fault::KillAfterSend
        } else if r < P_KILL_BEFORE_SEND + P_KILL_AFTER_SEND + P_KILL_DB_CONNECTION {
            Fault::KillDbConnections
        } else if r < P_KILL_BEFORE_SEND + P_KILL_AFTER_SEND + P_KILL_DB_CONNECTION + P_THROTTLE {
            Fault::Throttle
        } else {
            Fault::None
        };
        match fault {
            Fault::Reject => {
                self.count(channel, |i| i.rejected += 1);
                self.rejections
                    .lock()
                    .expect("lock")
                    .push((channel, to.clone(), epoch));
                match channel {
                    Channel::Email => aws_json_error(
                        400,
                        "MessageRejected",
                        "Email address is on the suppression list",
                    ),
                    Channel::Sms => sns_error(
                        400,
                        "InvalidParameter",
                        &format!(
                            "Invalid parameter: PhoneNumber Reason: {to} is not valid to publish to"
                        ),
                    ),
                    // The member left the workspace (HTTP 200, as Slack refuses).
                    Channel::Slack => slack_error("channel_not_found"),
                    // The emulator (a disabled endpoint) and the fakes refuse these.
                    _ => {
                        self.forward_send(channel, &to, epoch, parts, body, None)
                            .await
                    }
                }
            }
            Fault::KillBeforeSend => {
                self.count(channel, |i| i.killed_before_send += 1);
                self.kill(channel, epoch);
                drop(in_flight);
                // Never answered: the process is gone.
                tokio::time::sleep(Duration::from_secs(10)).await;
                answer(503, "text/plain", "dead".into())
            }
            Fault::KillAfterSend => {
                self.count(channel, |i| i.killed_after_send += 1);
                let sent = self
                    .forward_send(channel, &to, epoch, parts, body, None)
                    .await;
                self.kill(channel, epoch);
                drop(in_flight);
                tokio::time::sleep(Duration::from_secs(10)).await;
                sent
            }
            Fault::KillDbConnections => {
                // Mid-batch: after the claim, before the record.
                let Some(admin) = self.admin.get() else {
                    return answer(500, "text/plain", "proxy not ready".into());
                };
                let killed = admin
                    .query_one(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                         WHERE datname = current_database() AND pid <> pg_backend_pid() \
                           AND query LIKE '%' || $1 || '%'",
                        &[&DISPATCH_CLAIM_MARKER],
                    )
                    .await
                    .map(|row| row.get::<_, i64>(0))
                    .unwrap_or(0);
                self.count(channel, |i| {
                    i.db_connections_killed += u64::try_from(killed).unwrap_or(0);
                });
                self.forward_send(channel, &to, epoch, parts, body, None)
                    .await
            }
            Fault::Throttle => {
                self.count(channel, |i| i.throttled += 1);
                match channel {
                    Channel::Email => aws_json_error(
                        429,
                        "TooManyRequestsException",
                        "Maximum sending rate exceeded.",
                    ),
                    Channel::Sms | Channel::Push => sns_error(429, "Throttled", "Rate exceeded"),
                    Channel::Teams => {
                        let status = if roll(self.seed, &format!("teams-status:{name}"), n) < 0.5 {
                            "429"
                        } else {
                            "503"
                        };
                        self.count(channel, |i| {
                            *i.throttle_kinds.entry(status).or_default() += 1;
                        });
                        self.forward_send(channel, &to, epoch, parts, body, Some(status))
                            .await
                    }
                    Channel::Slack => {
                        let kind = roll(self.seed, &format!("slack-status:{name}"), n);
                        let (kind, resp) = if kind < 1.0 / 3.0 {
                            let mut resp = answer(429, "text/plain", "ratelimited".into());
                            resp.headers_mut().insert(
                                http::header::RETRY_AFTER,
                                http::HeaderValue::from_static(SLACK_RETRY_AFTER),
                            );
                            ("429", resp)
                        } else if kind < 2.0 / 3.0 {
                            ("ratelimited", slack_error("ratelimited"))
                        } else {
                            ("service_unavailable", slack_error("service_unavailable"))
                        };
                        self.count(channel, |i| {
                            *i.throttle_kinds.entry(kind).or_default() += 1;
                        });
                        resp
                    }
                    _ => {
                        self.forward_send(channel, &to, epoch, parts, body, Some("throttle"))
                            .await
                    }
                }
            }
            Fault::None => {
                self.forward_send(channel, &to, epoch, parts, body, None)
                    .await
            }
        }
    }

    /// Forwards a send on its own task, so a dispatcher that dies while the request is
    /// on its way cannot hide a send the provider did receive.
    async fn forward_send(
        self: &Arc<Self>,
        channel: Channel,
        to: &str,
        epoch: u64,
        parts: http::request::Parts,
        body: Bytes,
        fault: Option<&'static str>,
    ) -> hyper::Response<Full<Bytes>> {
        if self.epoch_killed(epoch) {
            // Killed while this send was being decided on.
            return answer(503, "text/plain", "dead".into());
        }
        let this = self.clone();
        let to = to.to_owned();
        let upstream = self.upstream_of(&parts);
        this.sends_in_flight.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            let text = message_text(channel, &body);
            let resp = this.forward(&upstream, parts, body, fault).await;
            if fault.is_some() && resp.status().is_success() {
                // The fake did not answer the fault it was told to.
                this.unanswered_faults.fetch_add(1, Ordering::SeqCst);
            }
            if resp.status().is_success() {
                this.forwarded.lock().expect("lock").push(Forwarded {
                    channel,
                    to,
                    at: Utc::now(),
                    epoch,
                    text,
                });
            }
            this.sends_in_flight.fetch_sub(1, Ordering::SeqCst);
            resp
        })
        .await
        .unwrap_or_else(|e| answer(502, "text/plain", format!("proxy task: {e}")))
    }

    async fn forward(
        &self,
        upstream: &str,
        parts: http::request::Parts,
        body: Bytes,
        fault: Option<&'static str>,
    ) -> hyper::Response<Full<Bytes>> {
        let url = format!(
            "{upstream}{}",
            parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/")
        );
        let mut req = self.http.request(parts.method.clone(), url).body(body);
        for (name, value) in &parts.headers {
            if name != http::header::HOST && name != http::header::CONTENT_LENGTH {
                req = req.header(name, value);
            }
        }
        if let Some(fault) = fault {
            req = req.header(FAULT_HEADER, fault);
        }
        match req.send().await {
            Ok(resp) => {
                let status = resp.status();
                let headers = resp.headers().clone();
                let bytes = resp.bytes().await.unwrap_or_default();
                let mut out = hyper::Response::new(Full::new(bytes));
                *out.status_mut() = status;
                for (name, value) in &headers {
                    if name != http::header::CONTENT_LENGTH
                        && name != http::header::TRANSFER_ENCODING
                    {
                        out.headers_mut().insert(name, value.clone());
                    }
                }
                out
            }
            Err(e) => answer(502, "text/plain", format!("upstream: {e}")),
        }
    }
}

fn answer(status: u16, content_type: &str, body: String) -> hyper::Response<Full<Bytes>> {
    hyper::Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .expect("response")
}

/// An error as SES v2 (restJson1) answers it.
fn aws_json_error(
    status: u16,
    error_type: &'static str,
    message: &str,
) -> hyper::Response<Full<Bytes>> {
    let mut resp = answer(
        status,
        "application/json",
        json!({ "message": message }).to_string(),
    );
    resp.headers_mut().insert(
        "x-amzn-errortype",
        http::HeaderValue::from_static(error_type),
    );
    resp
}

/// A refusal as Slack's Web API answers most of them: HTTP 200, `ok: false`.
fn slack_error(code: &str) -> hyper::Response<Full<Bytes>> {
    answer(
        200,
        "application/json; charset=utf-8",
        json!({ "ok": false, "error": code }).to_string(),
    )
}

/// An error as SNS (awsQuery) answers it.
fn sns_error(status: u16, code: &str, message: &str) -> hyper::Response<Full<Bytes>> {
    answer(
        status,
        "text/xml",
        format!(
            "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error>\
             <Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>\
             <RequestId>{}</RequestId></ErrorResponse>",
            Uuid::new_v4()
        ),
    )
}

async fn start_proxy(faults: Arc<Faults>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let faults = faults.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let faults = faults.clone();
                    async move { Ok::<_, Infallible>(faults.handle(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// The Teams and voice fakes answer the faults the proxy marks, and refuse the
/// addresses this test has them refuse, as the real providers would.
async fn mount_fake_faults(app: &TestApp, rejected_voice_phones: &[String]) {
    Mock::given(method("POST"))
        .and(header(FAULT_HEADER, "429"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .mount(&app.fakes.teams)
        .await;
    Mock::given(method("POST"))
        .and(header(FAULT_HEADER, "503"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&app.fakes.teams)
        .await;
    // A webhook the owner deleted.
    Mock::given(method("POST"))
        .and(path_regex("^/teams/reject-"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&app.fakes.teams)
        .await;
    let voice_error = |code: &str, message: &str| {
        ResponseTemplate::new(400)
            .insert_header("content-type", "application/x-amz-json-1.0")
            .insert_header("x-amzn-errortype", code)
            .set_body_json(json!({ "__type": code, "message": message }))
    };
    Mock::given(header("x-amz-target", SEND_VOICE_MESSAGE))
        .and(header(FAULT_HEADER, "throttle"))
        .respond_with(voice_error("ThrottlingException", "Rate exceeded"))
        .mount(&app.fakes.voice)
        .await;
    for phone in rejected_voice_phones {
        Mock::given(header("x-amz-target", SEND_VOICE_MESSAGE))
            .and(body_partial_json(
                json!({ "DestinationPhoneNumber": phone }),
            ))
            .respond_with(voice_error(
                "ValidationException",
                "Invalid destination phone number",
            ))
            .mount(&app.fakes.voice)
            .await;
    }
}

#[derive(Default)]
struct Counters {
    retry_runs: u64,
    retry_run_errors: u64,
    requeued: u64,
    reclaimed: u64,
    exhausted: u64,
    suppressed: u64,
    /// The engine's part of the retry runs (on the real clock).
    engine: EngineSummary,
}

/// One channel's dispatcher, as the test runs it.
struct LaneRun {
    channel: Channel,
    dispatcher: Arc<dyn Dispatch>,
    kills: mpsc::UnboundedReceiver<u64>,
    polls: u64,
    killed: u64,
}

/// Polls the channel's queue until it is empty, one dispatcher invocation at a time;
/// an invocation the proxy kills is aborted like a Lambda that died (its messages are
/// not deleted and come back after the visibility timeout).
async fn drain(app: &Arc<TestApp>, faults: &Faults, lane: &mut LaneRun) {
    loop {
        let epoch = faults.next_epoch.fetch_add(1, Ordering::SeqCst) + 1;
        faults.lanes[&lane.channel]
            .current
            .store(epoch, Ordering::SeqCst);
        let task = {
            let app = app.clone();
            let dispatcher = lane.dispatcher.clone();
            let channel = lane.channel;
            tokio::spawn(async move {
                app.pollers[&channel]
                    .poll_once(|event| {
                        herald_dispatch::function_handler(dispatcher.as_ref(), event)
                    })
                    .await
                    .expect("poll")
            })
        };
        tokio::pin!(task);
        lane.polls += 1;
        let received = loop {
            tokio::select! {
                done = &mut task => break done.expect("dispatcher task").received,
                Some(killed) = lane.kills.recv() => {
                    if killed == epoch {
                        task.abort();
                        let _ = (&mut task).await;
                        lane.killed += 1;
                        break 1;
                    }
                }
            }
        };
        if received == 0 {
            return;
        }
    }
}

async fn retry(app: &TestApp, counters: &mut Counters) {
    counters.retry_runs += 1;
    match app
        .retry
        .run(herald::domain::Budget::for_duration(
            Instant::now(),
            Duration::from_secs(30),
        ))
        .await
    {
        Ok(s) => {
            counters.requeued += s.requeued_failed + s.requeued_outbox;
            counters.reclaimed += s.reclaimed_leases;
            counters.exhausted += s.exhausted;
            counters.suppressed += s.suppressed;
            counters.engine += &s.engine;
        }
        // A run that met a killed connection fails like a Lambda would; the next continues.
        Err(_) => counters.retry_run_errors += 1,
    }
}

/// Notifications, on any channel, neither sent, delivered, final failed nor suppressed.
async fn unfinished(app: &TestApp) -> i64 {
    app.scalar_i64(
        "SELECT count(*) FROM notification_log \
         WHERE status IN ('queued', 'sending') OR (status = 'failed' AND next_attempt_at IS NOT NULL)",
    )
    .await
}

/// Messages in every channel's queue (visible or in flight).
async fn queue_depth(app: &TestApp) -> i64 {
    use herald::aws_sdk_sqs::types::QueueAttributeName;
    let mut depth = 0;
    for queue in app.queues.values() {
        let attrs = app
            .sqs
            .get_queue_attributes()
            .queue_url(&queue.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("attributes")
            .attributes
            .unwrap_or_default();
        depth += attrs
            .values()
            .filter_map(|v| v.parse::<i64>().ok())
            .sum::<i64>();
    }
    depth
}

/// One escalation of the test and where its notifications go.
struct Planned {
    id: String,
    /// (channel, address) of every dispatched notification.
    sends: Vec<(Channel, String)>,
    /// What its policy writes, run to its end.
    policy: PolicyPlan,
}

/// How a message that reached its recipient lets them acknowledge.
enum Answer {
    /// A magic link's token.
    Link(String),
    /// Slack's Acknowledge button, in the DM to this Slack user.
    Button(String),
}

/// Acknowledges the escalations of acknowledgement round `round` ([`ack_round_of`]) not
/// yet acknowledged: twice at once through a link (or Slack's button) in a message that
/// reached one of its recipients, when one did (the channel tried first rotates, so every
/// channel's links get clicked), and once through the API.
async fn acknowledge_round(
    app: &TestApp,
    escalations: &[Planned],
    round: usize,
    sent: &HashMap<(Channel, String), Vec<String>>,
    acked: &mut HashSet<String>,
    link_wins: &mut BTreeMap<Channel, u64>,
) {
    for (i, escalation) in escalations.iter().enumerate() {
        if ack_round_of(i) != Some(round) || acked.contains(&escalation.id) {
            continue;
        }
        // Rotated by `i / 5`, not `i`: a round takes the `i` with one `i % 5`.
        let link = (0..LINKED.len())
            .map(|k| LINKED[(i / 5 + k) % LINKED.len()])
            .find_map(|channel| {
                escalation
                    .sends
                    .iter()
                    .filter(|(c, _)| *c == channel)
                    .find_map(|key| {
                        let texts = sent.get(key)?;
                        if channel == Channel::Slack {
                            texts
                                .iter()
                                .any(|text| text.contains(ACKNOWLEDGE_ACTION_ID))
                                .then(|| Answer::Button(key.1.clone()))
                        } else {
                            texts
                                .iter()
                                .find_map(|text| first_link(text))
                                .map(Answer::Link)
                        }
                    })
                    .map(|answer| (channel, answer))
            });
        let id = &escalation.id;
        match link {
            Some((channel, Answer::Link(token))) => {
                let (a, b) = tokio::join!(app.magic("POST", &token), app.magic("POST", &token));
                let oks = [a.status, b.status].iter().filter(|s| **s == 200).count();
                assert_eq!(
                    oks, 1,
                    "one of two concurrent clicks on a {channel} link wins: {} {}",
                    a.status, b.status
                );
                *link_wins.entry(channel).or_default() += 1;
            }
            Some((channel, Answer::Button(user))) => {
                let body = button_click_body(
                    SLACK_TEAM,
                    &user,
                    ACKNOWLEDGE_ACTION_ID,
                    id.parse().expect("escalation id"),
                    ("D0HERALD01", "1790000000.000001"),
                );
                // Two requests (Slack signs each delivery with its own timestamp).
                let now = Utc::now().timestamp();
                let (a, b) = tokio::join!(
                    press_slack_button(app, &body, now),
                    press_slack_button(app, &body, now - 1)
                );
                let outcomes: Vec<String> = [&a, &b]
                    .iter()
                    .map(|r| {
                        assert_eq!(r.status, 200, "a Slack button press: {}", r.text);
                        r.json()["outcome"].as_str().unwrap_or_default().to_owned()
                    })
                    .collect();
                let applied = outcomes.iter().filter(|o| *o == "applied").count();
                assert_eq!(
                    applied, 1,
                    "one of two concurrent presses of a Slack button wins: {outcomes:?}"
                );
                assert!(outcomes.iter().any(|o| o == "already_done"), "{outcomes:?}");
                *link_wins.entry(channel).or_default() += 1;
            }
            None => {}
        }
        let api = app
            .api("POST", &format!("/v1/escalations/{id}/acknowledge"), None)
            .await;
        assert_eq!(api.status, 200, "{}", api.text);
        acked.insert(id.clone());
    }
}

/// A button press `POST /slack/actions` receives, signed as Slack signs it at `timestamp`.
async fn press_slack_button(app: &TestApp, body: &[u8], timestamp: i64) -> TestResponse {
    crate::slack_actions::post(app, body, timestamp, LOCAL_SLACK_SIGNING_SECRET).await
}

fn first_link(body: &str) -> Option<String> {
    let prefix = format!("{}/l/", crate::helpers::PUBLIC_BASE_URL);
    let i = body.find(&prefix)?;
    let token: String = body[i + prefix.len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (!token.is_empty()).then_some(token)
}

/// What the proxy let through and the provider accepted: (channel, address) -> texts.
fn forwarded_by_address(forwarded: &[Forwarded]) -> HashMap<(Channel, String), Vec<String>> {
    let mut out: HashMap<(Channel, String), Vec<String>> = HashMap::new();
    for f in forwarded {
        out.entry((f.channel, f.to.clone()))
            .or_default()
            .push(f.text.clone());
    }
    out
}

/// Every message the providers hold for this test's addresses: email, SMS and push as
/// the emulator stored them (SMS only with this run's tag: phone numbers may repeat
/// across runs), Teams and voice as their fakes accepted them through the proxy, Slack
/// as its fake holds the `chat.postMessage` calls (a `chat.update` is not a page).
async fn provider_messages(
    addresses: &BTreeMap<Channel, HashSet<String>>,
    run_tag: &str,
    forwarded: &[Forwarded],
    slack_posts: &[Received],
) -> HashMap<(Channel, String), Vec<String>> {
    let data: Value = crate::helpers::moto_state(&local_http()).await;
    let mut out: HashMap<(Channel, String), Vec<String>> = HashMap::new();
    let none = HashSet::new();
    let of = |channel: Channel| addresses.get(&channel).unwrap_or(&none);
    let emails = of(Channel::Email);
    for m in data["ses"]["Message"].as_array().into_iter().flatten() {
        let to = m["destinations"]["ToAddresses"][0]
            .as_str()
            .or_else(|| m["destinations"][0].as_str())
            .map(str::to_owned)
            .or_else(|| {
                let text = m.to_string();
                emails.iter().find(|a| text.contains(a.as_str())).cloned()
            });
        if let Some(to) = to.filter(|t| emails.contains(t)) {
            out.entry((Channel::Email, to))
                .or_default()
                .push(m["body"].as_str().unwrap_or_default().to_owned());
        }
    }
    let phones = of(Channel::Sms);
    for m in data["sns"]["SMS"].as_array().into_iter().flatten() {
        let (Some(phone), Some(text)) = (m["phone_number"].as_str(), m["message"].as_str()) else {
            continue;
        };
        if phones.contains(phone) && text.contains(run_tag) {
            out.entry((Channel::Sms, phone.to_owned()))
                .or_default()
                .push(text.to_owned());
        }
    }
    let endpoints = of(Channel::Push);
    for e in data["sns"]["PlatformEndpoint"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let Some(arn) = e["arn"].as_str().filter(|a| endpoints.contains(*a)) else {
            continue;
        };
        for (_, m) in e["messages"].as_object().into_iter().flatten() {
            out.entry((Channel::Push, arn.to_owned()))
                .or_default()
                .push(m.as_str().unwrap_or_default().to_owned());
        }
    }
    for f in forwarded
        .iter()
        .filter(|f| matches!(f.channel, Channel::Teams | Channel::Voice))
    {
        out.entry((f.channel, f.to.clone()))
            .or_default()
            .push(f.text.clone());
    }
    let members = of(Channel::Slack);
    for post in slack_posts {
        assert_eq!(post.path, SLACK_POST_MESSAGE, "only posts are pages");
        if let Some(to) = post.body["channel"]
            .as_str()
            .filter(|c| members.contains(*c))
        {
            out.entry((Channel::Slack, to.to_owned()))
                .or_default()
                .push(post.body.to_string());
        }
    }
    out
}

/// A platform endpoint per push recipient, in one platform application of this test;
/// the rejected ones disabled (SNS answers `EndpointDisabled`).
async fn push_endpoints(count: usize, disabled: &HashSet<usize>) -> Vec<String> {
    let sns = herald::aws_sdk_sns::Client::new(&sdk_config().await);
    let application = crate::helpers::push_application(&sns, "herald-faults").await;
    let mut arns = Vec::with_capacity(count);
    let indexes: Vec<usize> = (0..count).collect();
    for chunk in indexes.chunks(16) {
        let created = futures::future::join_all(chunk.iter().map(|i| {
            let sns = sns.clone();
            let application = application.clone();
            async move {
                let arn = sns
                    .create_platform_endpoint()
                    .platform_application_arn(application)
                    .token(format!("device-{}", Uuid::new_v4().simple()))
                    .send()
                    .await
                    .expect("platform endpoint")
                    .endpoint_arn
                    .expect("endpoint arn");
                if disabled.contains(i) {
                    sns.set_endpoint_attributes()
                        .endpoint_arn(&arn)
                        .attributes("Enabled", "false")
                        .send()
                        .await
                        .expect("disable");
                }
                arn
            }
        }))
        .await;
        arns.extend(created);
    }
    arns
}

/// Whether escalation `i` runs under a two-level policy: a quarter of those with two
/// recipients (49 of 182, every channel set and acknowledgement round among them). The
/// others page everyone at once on their three channels.
fn under_policy(i: usize) -> bool {
    (i / CHANNEL_SETS.len()) % 4 == 1
}

/// Whether escalation `i`'s policy has `repeat: 1`: one cycle of the channel sets.
fn repeats(i: usize) -> bool {
    i / CHANNEL_SETS.len() == 5
}

/// The acknowledgement round in which escalation `i` is acknowledged, if ever: every
/// fifth escalation in each of the first two, and the policy escalations of a third
/// fifth in the third (see [`ACK_AT_ROUNDS`]).
fn ack_round_of(i: usize) -> Option<usize> {
    match i % 5 {
        round @ (0 | 1) => Some(round),
        2 if under_policy(i) => Some(2),
        _ => None,
    }
}

/// One row a policy writes: (round, level, recipient, tier, channel); the database's
/// step key, with the tier.
type PolicyRow = (u32, u32, String, Tier, Channel);

/// One level of a policy as this test writes it.
#[derive(Debug, Clone)]
struct PlannedLevel {
    after_minutes: u32,
    people: Vec<String>,
    /// Its non-empty tiers, in order.
    tiers: Vec<(Tier, Vec<Channel>)>,
}

/// An escalation's policy as this test wrote it, to hold the engine's rows against.
#[derive(Debug, Clone)]
struct PolicyPlan {
    levels: Vec<PlannedLevel>,
    repeat: u32,
}

impl PolicyPlan {
    /// What an escalation without a policy gets: everyone at once on `channels`, once.
    fn everyone(people: Vec<String>, channels: [Channel; 3]) -> Self {
        Self {
            levels: vec![PlannedLevel {
                after_minutes: 0,
                people,
                tiers: vec![(Tier::Primary, channels.to_vec())],
            }],
            repeat: 0,
        }
    }

    /// `first` on `channels[0]`, then `[1]`, then `[2]`; `second` at minute 15 on the same
    /// channels rotated by one (each level its own channels).
    fn two_levels(first: &str, second: &str, channels: [Channel; 3], repeat: u32) -> Self {
        let tiers = |c: [Channel; 3]| {
            vec![
                (Tier::Primary, vec![c[0]]),
                (Tier::Secondary, vec![c[1]]),
                (Tier::Fallback, vec![c[2]]),
            ]
        };
        let [a, b, c] = channels;
        Self {
            levels: vec![
                PlannedLevel {
                    after_minutes: 0,
                    people: vec![first.to_owned()],
                    tiers: tiers([a, b, c]),
                },
                PlannedLevel {
                    after_minutes: LEVEL_1_AFTER_MINUTES,
                    people: vec![second.to_owned()],
                    tiers: tiers([b, c, a]),
                },
            ],
            repeat,
        }
    }

    /// The `policy` of `POST /v1/escalations`.
    fn to_json(&self) -> Value {
        let levels: Vec<Value> = self
            .levels
            .iter()
            .map(|level| {
                let mut channels = json!({});
                for (tier, list) in &level.tiers {
                    let names: Vec<&str> = list.iter().map(|c| c.as_str()).collect();
                    channels[tier.as_str()] = json!(names);
                }
                json!({
                    "after_minutes": level.after_minutes,
                    "recipients": level.people,
                    "channels": channels,
                    "secondary_after_minutes": SECONDARY_AFTER_MINUTES,
                    "fallback_after_minutes": FALLBACK_AFTER_MINUTES,
                })
            })
            .collect();
        json!({ "levels": levels, "repeat": self.repeat })
    }

    /// Every row the policy writes when nobody answers it: every channel of every tier
    /// of every person of every level, in every round.
    fn rows(&self) -> BTreeSet<PolicyRow> {
        let mut rows = BTreeSet::new();
        for round in 0..=self.repeat {
            for (level, l) in (0u32..).zip(&self.levels) {
                for who in &l.people {
                    for (tier, channels) in &l.tiers {
                        for channel in channels {
                            rows.insert((round, level, who.clone(), *tier, *channel));
                        }
                    }
                }
            }
        }
        rows
    }

    fn people(&self, level: u32) -> &[String] {
        self.levels
            .get(level as usize)
            .map_or(&[], |l| l.people.as_slice())
    }
}

/// The engine's clock in this test, ahead of real time: whole seconds (as stored), so a
/// row's `queued_at` says which driven step wrote it.
struct EngineClock {
    t0: DateTime<Utc>,
    minutes: Option<i64>,
    used: BTreeSet<DateTime<Utc>>,
}

impl EngineClock {
    /// Starts at the next whole second: after every escalation came in.
    fn new() -> Self {
        let now = Utc::now().timestamp() + 1;
        Self {
            t0: DateTime::from_timestamp(now, 0).expect("a time"),
            minutes: None,
            used: BTreeSet::new(),
        }
    }

    /// The clock one step on: +6 minutes, then 5 more each time.
    fn advance(&mut self) -> DateTime<Utc> {
        let minutes = self
            .minutes
            .map_or(FIRST_STEP_MINUTES, |m| m + STEP_MINUTES);
        self.minutes = Some(minutes);
        let at = self.t0 + TimeDelta::minutes(minutes);
        self.used.insert(at);
        at
    }

    fn now(&self) -> Option<DateTime<Utc>> {
        self.minutes.map(|m| self.t0 + TimeDelta::minutes(m))
    }
}

/// What the engine did in this test.
#[derive(Default)]
struct EngineFigures {
    /// Driven steps (each two runs at once at the same clock).
    steps: u64,
    /// Steps in which both overlapping runs stepped some escalation.
    both_stepped: u64,
    /// Runs killed after their claim (their apply statement's connection terminated).
    killed: u64,
    /// Runs that failed otherwise (a connection the dispatch fault had killed).
    failed: u64,
    /// Summed over the driven runs.
    driven: EngineSummary,
}

/// One engine run as if the clock read `at`: [`TestApp::escalate_at`] with this test's
/// small batch, and the error returned (a run may meet a killed connection).
async fn engine_at(app: &TestApp, at: DateTime<Utc>) -> anyhow::Result<EngineSummary> {
    let queues = app.retry.queues.get().await?;
    herald::scheduled::escalate(
        &app.pool,
        &queues,
        &app.retry.settings.channels,
        ENGINE_BATCH,
        herald::domain::Budget::for_duration(Instant::now(), Duration::from_secs(30)),
        || at,
    )
    .await
}

/// The engine's step at `at`: two runs at once, as two scheduled invocations that
/// overlap; each takes batches the other holds no lock on. When a run failed (its pooled
/// connection killed by the dispatch fault), the step is run again, as the next
/// invocation would. (An escalation both skipped, locked by a dispatcher's wake-up at
/// that moment, waits for the next step.)
async fn engine_step(app: &TestApp, at: DateTime<Utc>, figures: &mut EngineFigures) {
    figures.steps += 1;
    let (a, b) = tokio::join!(engine_at(app, at), engine_at(app, at));
    let mut stepped = Vec::new();
    let mut failed = false;
    for run in [a, b] {
        match run {
            Ok(run) => {
                stepped.push(run.escalations);
                figures.driven += &run;
            }
            Err(_) => {
                figures.failed += 1;
                failed = true;
            }
        }
    }
    if stepped.iter().filter(|n| **n > 0).count() == 2 {
        figures.both_stepped += 1;
    }
    let mut attempts = 0;
    while failed {
        attempts += 1;
        match engine_at(app, at).await {
            Ok(run) => {
                figures.driven += &run;
                failed = false;
            }
            Err(e) => {
                figures.failed += 1;
                assert!(
                    attempts < 3,
                    "the engine's step at {at} keeps failing: {e:#}"
                );
            }
        }
    }
}

/// One engine run at `at` that dies after its claim: its apply statement waits on a lock
/// this test holds on `notifications` (the in-app inbox, which only the apply statement
/// of the engine's writes touches: the run's earlier steps, such as putting back timed-out
/// acknowledgements, write `event_log` too), and its connection is terminated there (a Lambda
/// timing out, a database failover). What it claimed must come back whole: the next
/// run at the same clock writes those steps, once (checked with all the others).
async fn engine_run_killed_after_claim(app: &Arc<TestApp>, at: DateTime<Utc>) {
    let locker = connect(&app.db_url).await;
    // Another connection watches: inside the locker's transaction, pg_stat_activity
    // would show the snapshot of its first read over and over.
    let watcher = connect(&app.db_url).await;
    locker
        .batch_execute("BEGIN; LOCK TABLE notifications IN SHARE MODE")
        .await
        .expect("lock notifications");
    let run = {
        let app = app.clone();
        tokio::spawn(async move { engine_at(&app, at).await })
    };
    let give_up = Instant::now() + Duration::from_secs(10);
    let killed = loop {
        let killed: i64 = watcher
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid() \
                   AND wait_event_type = 'Lock' AND query LIKE '%next_escalation_at = u.next_at%'",
                &[],
            )
            .await
            .expect("terminate the engine's connection")
            .get(0);
        if killed > 0 || run.is_finished() || Instant::now() > give_up {
            break killed;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    locker.batch_execute("ROLLBACK").await.expect("unlock");
    let result = run.await.expect("engine task");
    assert!(
        killed == 1 && result.is_err(),
        "the engine run at {at} was to die after its claim: {killed} killed, {result:?}"
    );
}

/// Escalations with a step still to come (triggered, neither answered nor exhausted).
async fn engine_pending(app: &TestApp) -> i64 {
    app.scalar_i64(
        "SELECT count(*) FROM escalations \
         WHERE status = 'triggered' AND next_escalation_at IS NOT NULL",
    )
    .await
}

/// A notification row as the engine's checks read it.
#[derive(Debug, Clone)]
struct StepRowState {
    key: PolicyRow,
    status: String,
    queued_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
    last_attempt_at: Option<DateTime<Utc>>,
}

/// An escalation's state at the end, and its audit trail.
#[derive(Debug, Default)]
struct Trail {
    acknowledged_at: Option<DateTime<Utc>>,
    exhausted_at: Option<DateTime<Utc>>,
    next_escalation_at: Option<DateTime<Utc>>,
    /// The step each `escalation.level_fired` and `escalation.tier_started` stands for,
    /// one per person and tier: (event id, (round, level, person, tier)).
    steps: Vec<(i64, (u32, u32, String, Tier))>,
    exhausted: Vec<i64>,
    acknowledged: Vec<i64>,
}

/// Every escalation's state and engine events, by escalation id.
async fn trails(
    client: &tokio_postgres::Client,
    escalations: &[Planned],
) -> HashMap<String, Trail> {
    let policy_of: HashMap<&str, &PolicyPlan> = escalations
        .iter()
        .map(|e| (e.id.as_str(), &e.policy))
        .collect();
    let mut out: HashMap<String, Trail> = HashMap::new();
    for row in client
        .query(
            "SELECT id::text, acknowledged_at, exhausted_at, next_escalation_at FROM escalations",
            &[],
        )
        .await
        .expect("escalations")
    {
        let trail = out.entry(row.get(0)).or_default();
        trail.acknowledged_at = row.get(1);
        trail.exhausted_at = row.get(2);
        trail.next_escalation_at = row.get(3);
    }
    for row in client
        .query(
            "SELECT id, escalation_id::text, event_type, detail FROM event_log \
             WHERE event_type IN ('escalation.level_fired', 'escalation.tier_started', \
                                  'escalation.exhausted', 'escalation.acknowledged') ORDER BY id",
            &[],
        )
        .await
        .expect("engine events")
    {
        let (id, escalation, kind, detail): (i64, String, String, Value) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        let number = |field: &str| {
            detail[field]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or_else(|| panic!("{kind} of {escalation}: no {field} in {detail}"))
        };
        let policy = policy_of
            .get(escalation.as_str())
            .unwrap_or_else(|| panic!("{kind} of an escalation this test did not make"));
        let trail = out.entry(escalation.clone()).or_default();
        match kind.as_str() {
            "escalation.level_fired" => {
                let (round, level) = (number("round"), number("level"));
                for who in policy.people(level) {
                    trail
                        .steps
                        .push((id, (round, level, who.clone(), Tier::Primary)));
                }
            }
            "escalation.tier_started" => {
                let who = detail["recipient"].as_str().expect("recipient").to_owned();
                let tier: Tier = detail["tier"]
                    .as_str()
                    .and_then(|t| t.parse().ok())
                    .expect("tier");
                trail
                    .steps
                    .push((id, (number("round"), number("level"), who, tier)));
            }
            "escalation.exhausted" => trail.exhausted.push(id),
            _ => trail.acknowledged.push(id),
        }
    }
    out
}

/// Every row is one its escalation's policy writes, and comes after the steps before it
/// (a later tier after the earlier ones of the same person, a level after the level
/// before, a round after the whole round before); an escalation nobody answered ran its
/// policy to the end, so has every one of them. (Each at most once: the step key is
/// unique, and the verdict above reads one row per key.) Returns the rows checked.
fn check_rows_follow_the_policy(
    escalations: &[Planned],
    rows: &HashMap<String, Vec<StepRowState>>,
    acked: &HashSet<String>,
) -> usize {
    let none = Vec::new();
    let mut checked = 0;
    for escalation in escalations {
        let id = &escalation.id;
        let planned = escalation.policy.rows();
        let written: BTreeSet<PolicyRow> = rows
            .get(id)
            .unwrap_or(&none)
            .iter()
            .map(|r| r.key.clone())
            .collect();
        checked += written.len();
        let unplanned: Vec<_> = written.difference(&planned).collect();
        assert!(
            unplanned.is_empty(),
            "{id}: rows its policy does not write: {unplanned:?}"
        );
        let started: BTreeSet<(u32, u32, String, Tier)> = written
            .iter()
            .map(|(round, level, who, tier, _)| (*round, *level, who.clone(), *tier))
            .collect();
        for (round, level, who, tier) in &started {
            let before = match tier {
                Tier::Primary => None,
                Tier::Secondary => Some(Tier::Primary),
                Tier::Fallback => Some(Tier::Secondary),
            };
            if let Some(before) = before {
                assert!(
                    started.contains(&(*round, *level, who.clone(), before)),
                    "{id}: round {round} level {level}: {who}'s {tier} without their {before}"
                );
            }
            if *level > 0 {
                assert!(
                    started.iter().any(|s| (s.0, s.1) == (*round, level - 1)),
                    "{id}: round {round}: level {level} without level {}",
                    level - 1
                );
            }
            if *round > 0 {
                let previous: BTreeSet<_> = planned
                    .iter()
                    .filter(|r| r.0 == round - 1)
                    .cloned()
                    .collect();
                assert!(
                    previous.is_subset(&written),
                    "{id}: round {round} before round {} was over",
                    round - 1
                );
            }
        }
        if !acked.contains(id) {
            let missing: Vec<_> = planned.difference(&written).collect();
            assert!(
                missing.is_empty(),
                "{id}: never acknowledged, yet its policy did not run to its end: missing {missing:?}"
            );
        }
    }
    checked
}

/// Every engine step is in `event_log` once per (escalation, round, level, recipient,
/// tier), and the steps are exactly those the rows show: a level fired for each level
/// with rows (standing for its people's first tier), a tier started for each later tier
/// with rows. Returns the steps checked.
fn check_steps_recorded_once(
    rows: &HashMap<String, Vec<StepRowState>>,
    trails: &HashMap<String, Trail>,
) -> usize {
    let none = Vec::new();
    let mut checked = 0;
    for (id, trail) in trails {
        let mut recorded = BTreeSet::new();
        for (_, step) in &trail.steps {
            assert!(
                recorded.insert(step.clone()),
                "{id}: step {step:?} recorded twice"
            );
        }
        let written: BTreeSet<(u32, u32, String, Tier)> = rows
            .get(id)
            .unwrap_or(&none)
            .iter()
            .map(|r| (r.key.0, r.key.1, r.key.2.clone(), r.key.3))
            .collect();
        assert_eq!(
            recorded, written,
            "{id}: the steps recorded (left) are not the steps whose rows exist (right)"
        );
        checked += recorded.len();
    }
    checked
}

/// What [`check_nothing_after_acknowledgement`] counted.
#[derive(Debug, Default)]
struct AfterAck {
    /// Rows of acknowledged escalations checked.
    rows: usize,
    /// Rows recorded sent after the acknowledgement, claimed (and sent) before it.
    recorded_after: usize,
}

/// Nothing after an acknowledgement:
/// - no engine step recorded after it: by event id, which follows commit order here (the
///   engine's claim and the acknowledgement both lock the escalation's row, and each
///   writes its events while holding it), whatever the clocks say;
/// - no row queued after it, on the clock that wrote the row: a driven run's `queued_at`
///   (and an in-app row's `sent_at`) is its clock, held against the engine's clock when
///   the test acknowledged; any other time against `acknowledged_at`;
/// - no row sent after it, unless claimed before it: the acknowledgement rounds run at a
///   quiet point, so a row claimed before one has been sent or its dispatcher is dead,
///   and the proxy saw no send after it (checked above); a claim after it is a failure.
fn check_nothing_after_acknowledgement(
    rows: &HashMap<String, Vec<StepRowState>>,
    trails: &HashMap<String, Trail>,
    clock_at_ack: &HashMap<String, Option<DateTime<Utc>>>,
    driven: &BTreeSet<DateTime<Utc>>,
) -> AfterAck {
    let mut out = AfterAck::default();
    let none = Vec::new();
    for (id, clock) in clock_at_ack {
        let trail = &trails[id];
        let acknowledged_at = trail.acknowledged_at.expect("acknowledged_at");
        let [ack] = trail.acknowledged[..] else {
            panic!("{id}: acknowledged {} times", trail.acknowledged.len())
        };
        let late: Vec<_> = trail.steps.iter().filter(|(at, _)| *at > ack).collect();
        assert!(
            late.is_empty(),
            "{id}: engine steps after its acknowledgement: {late:?}"
        );
        assert!(
            trail.exhausted.iter().all(|at| *at < ack),
            "{id}: exhausted after its acknowledgement"
        );
        // A time on the driven clock against the engine's clock when the test
        // acknowledged; any other against `acknowledged_at`.
        let after_ack = |at: DateTime<Utc>| {
            if driven.contains(&at) {
                clock.is_none_or(|c| at > c)
            } else {
                at > acknowledged_at
            }
        };
        for row in rows.get(id).unwrap_or(&none) {
            out.rows += 1;
            assert!(
                !after_ack(row.queued_at),
                "{id}: {:?} queued at {} after the acknowledgement at {acknowledged_at} (engine clock then: {clock:?})",
                row.key,
                row.queued_at
            );
            // An in-app row is delivered as it is written: its `sent_at` is its `queued_at`.
            if let Some(sent_at) = row.sent_at.filter(|s| after_ack(*s)) {
                assert!(
                    row.status == "sent"
                        && row.last_attempt_at.is_some_and(|c| c <= acknowledged_at),
                    "{id}: {:?} sent at {sent_at}, after the acknowledgement at {acknowledged_at}, \
                     claimed at {:?}",
                    row.key,
                    row.last_attempt_at
                );
                out.recorded_after += 1;
            }
        }
    }
    out
}

/// Every escalation nobody answered ended exhausted: `exhausted_at` set, no step to
/// come, `escalation.exhausted` once. An acknowledged one has no step to come and was
/// exhausted at most once (before its acknowledgement: see above). Returns how many
/// ended exhausted.
fn check_exhaustion(trails: &HashMap<String, Trail>, acked: &HashSet<String>) -> usize {
    let mut exhausted = 0;
    for (id, trail) in trails {
        assert!(
            trail.next_escalation_at.is_none(),
            "{id}: a step still to come at {:?}",
            trail.next_escalation_at
        );
        assert!(trail.exhausted.len() <= 1, "{id}: exhausted twice");
        if acked.contains(id) {
            continue;
        }
        assert!(
            trail.exhausted_at.is_some() && trail.exhausted.len() == 1,
            "{id}: never acknowledged, yet not exhausted: {trail:?}"
        );
        exhausted += 1;
    }
    exhausted
}

/// What the engine's checks found.
struct EngineOutcome {
    /// Rows held against their policy.
    policy_rows: usize,
    /// Steps held against the rows.
    steps: usize,
    after_ack: AfterAck,
    /// Escalations nobody answered, each exhausted once.
    exhausted: usize,
}

/// Prints the engine's figures with the others', and asserts that the test exercised
/// what it says: a killed run, overlapping runs that both worked, later tiers, levels
/// and rounds under faults, and acknowledgements at each point of the escalation.
fn report_engine(
    figures: &EngineFigures,
    retry_runs: &EngineSummary,
    clock: &EngineClock,
    escalations: &[Planned],
    rows: &HashMap<String, Vec<StepRowState>>,
    outcome: &EngineOutcome,
    sqs_failed_engine: usize,
) {
    let policy: Vec<(usize, &Planned)> = escalations
        .iter()
        .enumerate()
        .filter(|(_, e)| e.policy.levels.len() > 1)
        .collect();
    let repeating = policy.iter().filter(|(_, e)| e.policy.repeat > 0).count();
    let mut by_tier: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut level_1, mut round_1) = (0, 0);
    for (_, e) in &policy {
        for row in rows.get(&e.id).into_iter().flatten() {
            *by_tier.entry(row.key.3.as_str()).or_default() += 1;
            level_1 += usize::from(row.key.1 == 1);
            round_1 += usize::from(row.key.0 == 1);
        }
    }
    let acked_in = |round: usize| {
        policy
            .iter()
            .filter(|(i, _)| ack_round_of(*i) == Some(round))
            .count()
    };
    let d = &figures.driven;
    let r = retry_runs;
    println!(
        "  engine: {} escalations under a two-level policy ({repeating} with repeat: 1); its clock driven to +{} min \
         in {} steps of two overlapping runs (batches of {ENGINE_BATCH}; both runs stepped escalations in {} steps), \
         {} run killed after its claim, {} runs failed on a killed connection and ran again",
        policy.len(),
        clock.minutes.unwrap_or(0),
        figures.steps,
        figures.both_stepped,
        figures.killed,
        figures.failed,
    );
    println!(
        "    driven runs: {} escalation steps, levels fired {}, tiers started {}, exhausted {}, rows {} ({} enqueued)",
        d.escalations, d.levels_fired, d.tiers_started, d.exhausted, d.rows, d.enqueued
    );
    println!(
        "    retry runs (real clock; a tier whose every delivery gave up moves on at once): {} escalation steps, \
         levels fired {}, tiers started {}, exhausted {}, rows {} (their first SQS send failed for {sqs_failed_engine})",
        r.escalations, r.levels_fired, r.tiers_started, r.exhausted, r.rows
    );
    println!(
        "    policy rows by tier {by_tier:?}, of level 1 {level_1}, of round 1 {round_1}; acknowledged mid-escalation: \
         {} before the first step, {} after level 0's fallback started, {} after level 1's secondary did",
        acked_in(0),
        acked_in(1),
        acked_in(2),
    );
    println!(
        "  engine outcome: every row one its policy writes ({} rows), every step recorded once ({} steps); \
         {} escalations nobody answered exhausted, once each; nothing stepped, queued or sent after an \
         acknowledgement ({} rows of acknowledged escalations; {} recorded sent after one, claimed and sent before it)",
        outcome.policy_rows,
        outcome.steps,
        outcome.exhausted,
        outcome.after_ack.rows,
        outcome.after_ack.recorded_after,
    );

    assert_eq!(figures.killed, 1, "the engine run to kill");
    assert!(
        figures.both_stepped > 0,
        "two runs at once never both stepped an escalation"
    );
    assert!(
        d.levels_fired > 0 && d.tiers_started > 0 && d.exhausted > 0,
        "the driven clock fired no level, started no tier or exhausted nothing: {d:?}"
    );
    assert!(
        by_tier.get("fallback").copied().unwrap_or(0) > 0 && level_1 > 0 && round_1 > 0,
        "no fallback tier, level 1 or second round: {by_tier:?} {level_1} {round_1}"
    );
    for round in 0..ACK_AT_ROUNDS.len() {
        assert!(
            acked_in(round) > 0,
            "no policy escalation acknowledged in round {round}"
        );
    }
}

#[tokio::test]
async fn nothing_is_lost_or_double_acted_under_injected_faults() {
    let seed: u64 = std::env::var("HERALD_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261122);
    // 182 = 13 rounds of the seven sets with one, then two, recipients: equal shares.
    let escalation_count: usize = std::env::var("HERALD_FAULT_ESCALATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(182);
    let started = Instant::now();
    // In every title, to tell this run's SMS from earlier runs' to the same number.
    let run_tag = format!("run{}", &Uuid::new_v4().simple().to_string()[..8]);

    let mut kill_receivers = BTreeMap::new();
    let lanes = DISPATCHED
        .into_iter()
        .map(|channel| {
            let (tx, rx) = mpsc::unbounded_channel();
            kill_receivers.insert(channel, rx);
            let lane = Lane {
                current: AtomicU64::new(0),
                kills: tx,
            };
            (channel, lane)
        })
        .collect();
    let faults = Arc::new(Faults {
        seed,
        moto: moto_url(),
        http: local_http(),
        sqs_faults: AtomicBool::new(true),
        sqs_engine_faults: AtomicBool::new(false),
        sqs_seen: Mutex::default(),
        sqs_batches_failed: AtomicU64::new(0),
        next_epoch: AtomicU64::new(0),
        lanes,
        killed_epochs: Mutex::default(),
        targets: Mutex::default(),
        calls: Mutex::default(),
        forwarded: Mutex::default(),
        rejections: Mutex::default(),
        sends_in_flight: AtomicU64::new(0),
        unknown_sends: AtomicU64::new(0),
        unanswered_faults: AtomicU64::new(0),
        injected: Mutex::default(),
        admin: tokio::sync::OnceCell::new(),
        fakes: tokio::sync::OnceCell::new(),
    });
    let proxy = start_proxy(faults.clone()).await;
    let proxy_url = format!("http://{proxy}");
    let slack_api = format!("{proxy_url}{SLACK_API_PATH}");
    let app = Arc::new(
        TestApp::spawn_with(Options {
            aws_endpoint: proxy_url.clone(),
            tune: Box::new(move |config| {
                config.sending_lease = Duration::from_secs(2);
                config.outbox_grace = Duration::from_secs(1);
                config.retry.default.base = Duration::from_millis(200);
                config.retry.default.cap = Duration::from_secs(1);
                // The same people are paged a few hundred times here: the per-person
                // limits would suppress most of it (tests/api/rate_limits.rs covers them).
                config.rate_limits.limits = herald::domain::rate_limit::RateLimits::off();
                // Slack's Web API through the proxy (the Slack fake behind it).
                herald_local::stack::use_slack_api(config, &slack_api);
            }),
        })
        .await,
    );
    faults
        .admin
        .set(connect(&app.db_url).await)
        .map_err(|_| "set once")
        .expect("admin connection");
    faults
        .fakes
        .set(Upstreams {
            teams: app.fakes.teams.uri(),
            voice: app.fakes.voice_endpoint(),
            slack: app.fakes.slack.uri(),
        })
        .map_err(|_| "set once")
        .expect("fakes");
    // The tenant's Slack installation: its bot token sealed, as "Add to Slack" stores it.
    herald_local::stack::install_slack(
        &app.pool.get().await.expect("conn"),
        &app.config,
        app.tenant_id,
        SLACK_TEAM,
        SLACK_TOKEN,
    )
    .await
    .expect("Slack installed");
    // Email, SMS and push go through the proxy with the app's own dispatchers (its SDK
    // configuration points at the proxy), Slack too (its API base is the proxy's), Teams
    // through the webhooks registered below; voice needs a dispatcher of its own, its SDK
    // pointed at the proxy too.
    let mut dispatchers = app.dispatchers.clone();
    let voice = herald::dispatch::for_channel(
        Channel::Voice,
        &app.config,
        Warm::ready(sdk_config_for(&proxy_url).await),
    )
    .await
    .expect("voice dispatcher")
    .expect("voice has a dispatcher");
    dispatchers.insert(Channel::Voice, voice);

    // 1. Recipients: every one reachable on its escalation's three channels.
    struct Recipient {
        escalation: usize,
        external_id: String,
        label: String,
        channels: [Channel; 3],
    }
    let mut recipients = Vec::new();
    for i in 0..escalation_count {
        let channels = CHANNEL_SETS[i % CHANNEL_SETS.len()];
        for r in 0..1 + (i / CHANNEL_SETS.len()) % 2 {
            recipients.push(Recipient {
                escalation: i,
                external_id: format!("u-{i}-{r}"),
                label: format!("e{i}r{r}"),
                channels,
            });
        }
    }
    // Per channel: every REJECT_EVERY-th address refused for good; the first two
    // addresses of escalations never acknowledged get a forced kill on their first send
    // (never acknowledged, so it comes: their policy runs to its end).
    let mut ordinal: BTreeMap<Channel, usize> = BTreeMap::new();
    let mut forced_count: BTreeMap<Channel, usize> = BTreeMap::new();
    let mut flags: HashMap<(usize, Channel), (bool, Option<Forced>)> = HashMap::new();
    for (k, recipient) in recipients.iter().enumerate() {
        for channel in recipient.channels {
            let n = ordinal.entry(channel).or_default();
            *n += 1;
            let reject = channel != Channel::InApp && n.is_multiple_of(REJECT_EVERY);
            let forced = if reject
                || channel == Channel::InApp
                || ack_round_of(recipient.escalation).is_some()
            {
                None
            } else {
                let count = forced_count.entry(channel).or_default();
                *count += 1;
                match *count {
                    1 => Some(Forced::KillBeforeSend),
                    2 => Some(Forced::KillAfterSend),
                    _ => None,
                }
            };
            flags.insert((k, channel), (reject, forced));
        }
    }
    let push_recipients: Vec<usize> = (0..recipients.len())
        .filter(|k| recipients[*k].channels.contains(&Channel::Push))
        .collect();
    let disabled: HashSet<usize> = push_recipients
        .iter()
        .enumerate()
        .filter(|(_, k)| flags[&(**k, Channel::Push)].0)
        .map(|(j, _)| j)
        .collect();
    let arns = push_endpoints(push_recipients.len(), &disabled).await;
    let arn_of: HashMap<usize, String> = push_recipients.into_iter().zip(arns).collect();

    let mut phones_used = HashSet::new();
    // (external id, channel) -> address (the external id itself for in_app).
    let mut address_of: HashMap<(String, Channel), String> = HashMap::new();
    let mut escalation_of: HashMap<(Channel, String), usize> = HashMap::new();
    let mut rejected_voice_phones = Vec::new();
    let mut registrations = Vec::new();
    // Everyone at once on the set's three channels, or the two-level policy over them.
    let policies: Vec<PolicyPlan> = (0..escalation_count)
        .map(|i| {
            let channels = CHANNEL_SETS[i % CHANNEL_SETS.len()];
            let people: Vec<String> = recipients
                .iter()
                .filter(|r| r.escalation == i)
                .map(|r| r.external_id.clone())
                .collect();
            match &people[..] {
                [first, second] if under_policy(i) => {
                    PolicyPlan::two_levels(first, second, channels, u32::from(repeats(i)))
                }
                _ => PolicyPlan::everyone(people, channels),
            }
        })
        .collect();
    let mut bodies: Vec<Value> = (0..escalation_count)
        .map(|i| {
            let channels = CHANNEL_SETS[i % CHANNEL_SETS.len()];
            let mut body = json!({
                "dedup_key": format!("fault-{i}"),
                "title": format!("Fault {run_tag} #{i}"),
                "body": "Injected faults everywhere.",
                "priority": "high",
                "recipients": [],
                "channels": { "primary": channels.iter().map(|c| c.as_str()).collect::<Vec<_>>() },
            });
            if under_policy(i) {
                body["policy"] = policies[i].to_json();
            }
            body
        })
        .collect();
    {
        let mut targets = faults.targets.lock().expect("lock");
        for (k, recipient) in recipients.iter().enumerate() {
            let mut person = json!({
                "id": recipient.external_id,
                "name": format!("Person {}", recipient.label),
            });
            let phone = loop {
                let phone = unique_phone();
                if phones_used.insert(phone.clone()) {
                    break phone;
                }
            };
            for channel in recipient.channels {
                let (reject, forced) = flags[&(k, channel)];
                let kind = if reject { "reject" } else { "fi" };
                let address = match channel {
                    Channel::Email => {
                        let a = format!(
                            "{kind}-{}-{}@example.com",
                            recipient.label,
                            Uuid::new_v4().simple()
                        );
                        person["email"] = json!(a);
                        a
                    }
                    Channel::Sms | Channel::Voice => {
                        person["phone"] = json!(phone);
                        if reject && channel == Channel::Voice {
                            rejected_voice_phones.push(phone.clone());
                        }
                        phone.clone()
                    }
                    Channel::Push => {
                        let arn = arn_of[&k].clone();
                        person["push_endpoint_arn"] = json!(arn);
                        arn
                    }
                    Channel::Teams => {
                        let hook =
                            format!("{kind}-{}-{}", recipient.label, Uuid::new_v4().simple());
                        registrations.push((
                            recipient.external_id.clone(),
                            format!("{proxy_url}/teams/{hook}"),
                        ));
                        hook
                    }
                    Channel::Slack => {
                        // A member id (`U` and upper-case letters and digits).
                        let kind = if reject { "REJ" } else { "FI" };
                        let member = format!(
                            "U{kind}{}X{}",
                            recipient.label.to_uppercase(),
                            &Uuid::new_v4().simple().to_string()[..8].to_uppercase()
                        );
                        person["slack_user_id"] = json!(member);
                        member
                    }
                    _ => recipient.external_id.clone(),
                };
                address_of.insert((recipient.external_id.clone(), channel), address.clone());
                if channel != Channel::InApp {
                    escalation_of.insert((channel, address.clone()), recipient.escalation);
                    let target = Target {
                        label: recipient.label.clone(),
                        external_id: recipient.external_id.clone(),
                        reject,
                        forced,
                    };
                    targets.insert((channel, address), target);
                }
            }
            bodies[recipient.escalation]["recipients"]
                .as_array_mut()
                .expect("recipients")
                .push(person);
        }
    }
    mount_fake_faults(&app, &rejected_voice_phones).await;
    for chunk in registrations.chunks(16) {
        let app = &app;
        let answers = futures::future::join_all(chunk.iter().map(|(who, url)| async move {
            let path = format!("/v1/recipients/{who}/teams-webhook");
            app.api("PUT", &path, Some(&json!({ "url": url }))).await
        }))
        .await;
        for a in answers {
            assert_eq!(a.status, 200, "{}", a.text);
        }
    }
    let mut addresses: BTreeMap<Channel, HashSet<String>> = BTreeMap::new();
    for ((_, channel), address) in &address_of {
        addresses
            .entry(*channel)
            .or_default()
            .insert(address.clone());
    }
    let setup_secs = started.elapsed().as_secs_f64();

    // 2. Ingest, while the SQS send after the commit fails for some notifications.
    let mut escalations: Vec<Planned> = Vec::new();
    for (c, chunk) in bodies.chunks(8).enumerate() {
        let results =
            futures::future::join_all(chunk.iter().map(|body| app.post_escalation(body))).await;
        for (j, resp) in results.iter().enumerate() {
            assert_eq!(resp.status, 202, "{}", resp.text);
            let i = c * 8 + j;
            let id = resp.json()["id"].as_str().expect("id").to_owned();
            let sends = recipients
                .iter()
                .filter(|r| r.escalation == i)
                .flat_map(|r| {
                    r.channels
                        .iter()
                        .filter(|c| **c != Channel::InApp)
                        .map(|c| (*c, address_of[&(r.external_id.clone(), *c)].clone()))
                })
                .collect();
            escalations.push(Planned {
                id,
                sends,
                policy: policies[i].clone(),
            });
        }
    }
    faults.sqs_faults.store(false, Ordering::SeqCst);
    faults.sqs_engine_faults.store(true, Ordering::SeqCst);
    let ingest_secs = started.elapsed().as_secs_f64() - setup_secs;
    assert_eq!(
        escalations
            .iter()
            .filter(|e| e.policy.levels.len() == 2)
            .count(),
        (0..escalation_count).filter(|i| under_policy(*i)).count(),
        "every policy escalation has its two people"
    );

    // 3. Dispatch every channel at once while the engine's clock moves ahead, retry and
    // acknowledge until nothing is left and no escalation has a step to come.
    let mut lanes: Vec<LaneRun> = DISPATCHED
        .into_iter()
        .map(|channel| LaneRun {
            channel,
            dispatcher: dispatchers[&channel].clone(),
            kills: kill_receivers.remove(&channel).expect("receiver"),
            polls: 0,
            killed: 0,
        })
        .collect();
    let mut counters = Counters::default();
    let mut acked: HashSet<String> = HashSet::new();
    let mut link_wins: BTreeMap<Channel, u64> = BTreeMap::new();
    let mut clock = EngineClock::new();
    let mut engine = EngineFigures::default();
    // The engine's clock when each escalation was acknowledged (None: before its first step).
    let mut clock_at_ack: HashMap<String, Option<DateTime<Utc>>> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut rounds = 0;
    loop {
        rounds += 1;
        // From the second round on, 5 minutes more each round while any escalation has a
        // step to come (the first step is the one that starts level 0's second tiers).
        let step = (rounds >= 2 && engine_pending(&app).await > 0).then(|| clock.advance());
        if let Some(at) = step.filter(|_| clock.minutes == Some(KILLED_RUN_AT_MINUTES)) {
            engine_run_killed_after_claim(&app, at).await;
            engine.killed += 1;
        }
        let dispatch =
            futures::future::join_all(lanes.iter_mut().map(|lane| drain(&app, &faults, lane)));
        let stepping = async {
            if let Some(at) = step {
                engine_step(&app, at, &mut engine).await;
            }
        };
        tokio::join!(dispatch, stepping);
        if let Some(round) = ACK_AT_ROUNDS.iter().position(|r| *r == rounds) {
            // At a quiet point (no dispatcher or engine running, no send on its way), so
            // "sent after the acknowledgement" has no race to excuse: every row claimed
            // before the acknowledgement has been sent or its dispatcher is dead.
            while faults.sends_in_flight.load(Ordering::SeqCst) > 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let sent = forwarded_by_address(&faults.forwarded.lock().expect("lock"));
            acknowledge_round(&app, &escalations, round, &sent, &mut acked, &mut link_wins).await;
            for id in &acked {
                clock_at_ack.entry(id.clone()).or_insert(clock.now());
            }
        }
        retry(&app, &mut counters).await;
        if unfinished(&app).await == 0
            && queue_depth(&app).await == 0
            && engine_pending(&app).await == 0
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not quiet after {rounds} rounds: {} unfinished",
            unfinished(&app).await
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    while faults.sends_in_flight.load(Ordering::SeqCst) > 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Quiet means quiet: one more invocation of each channel finds nothing to do.
    assert_eq!(app.poll_once().await.received, 0, "email queue not empty");
    for channel in [
        Channel::Sms,
        Channel::Push,
        Channel::Teams,
        Channel::Voice,
        Channel::Slack,
    ] {
        let stats = app.poll_channel(channel).await;
        assert_eq!(stats.received, 0, "{channel} queue not empty");
    }
    // And the engine has nothing left, however late its clock reads.
    let day_later = engine_at(&app, clock.t0 + TimeDelta::days(1))
        .await
        .expect("engine run a day later");
    assert_eq!(
        day_later.escalations, 0,
        "an escalation still had a step a day later: {day_later:?}"
    );

    // 4. The verdict, channel by channel.
    let client = app.pool.get().await.expect("conn");
    let rows = client
        .query(
            "SELECT n.channel, n.status, n.next_attempt_at IS NULL AS final, n.retryable, \
                    n.error LIKE 'lease expired:%' AS lease_expired, n.suppressed_reason, r.external_id, e.id::text AS escalation_id, \
                    (SELECT count(*) FROM notifications i WHERE i.notification_log_id = n.id) AS inbox, \
                    n.level, n.round, n.tier, n.queued_at, n.sent_at, n.last_attempt_at \
             FROM notification_log n JOIN recipients r ON r.id = n.recipient_id \
             JOIN escalations e ON e.id = n.escalation_id",
            &[],
        )
        .await
        .expect("rows");
    let mut by_status: BTreeMap<Channel, BTreeMap<String, u64>> = BTreeMap::new();
    let mut seen: HashSet<(String, Channel, i32, i32)> = HashSet::new();
    // Rows per address (a repeat pages the same address again), and those sent.
    let mut rows_at: HashMap<(Channel, String), usize> = HashMap::new();
    let mut sent_rows: HashMap<(Channel, String), usize> = HashMap::new();
    let mut step_rows: HashMap<String, Vec<StepRowState>> = HashMap::new();
    for row in &rows {
        let channel: Channel = row.get::<_, String>("channel").parse().expect("channel");
        let who: String = row.get("external_id");
        let status: String = row.get("status");
        let (level, round): (i32, i32) = (row.get("level"), row.get("round"));
        let what = format!("{channel} to {who} (level {level}, round {round})");
        let address = address_of
            .get(&(who.clone(), channel))
            .unwrap_or_else(|| panic!("{what}: a row this test did not plan"))
            .clone();
        assert!(
            seen.insert((who.clone(), channel, level, round)),
            "{what}: two rows"
        );
        step_rows
            .entry(row.get("escalation_id"))
            .or_default()
            .push(StepRowState {
                key: (
                    u32::try_from(round).expect("round"),
                    u32::try_from(level).expect("level"),
                    who.clone(),
                    row.get::<_, String>("tier").parse().expect("tier"),
                    channel,
                ),
                status: status.clone(),
                queued_at: row.get("queued_at"),
                sent_at: row.get("sent_at"),
                last_attempt_at: row.get("last_attempt_at"),
            });
        *rows_at.entry((channel, address.clone())).or_default() += 1;
        *by_status
            .entry(channel)
            .or_default()
            .entry(status.clone())
            .or_default() += 1;
        if channel == Channel::InApp {
            assert_eq!(status, "delivered", "{what}");
            assert_eq!(row.get::<_, i64>("inbox"), 1, "{what}: one inbox entry");
            continue;
        }
        let reject = faults.targets.lock().expect("lock")[&(channel, address.clone())].reject;
        match status.as_str() {
            "sent" => *sent_rows.entry((channel, address.clone())).or_default() += 1,
            "failed" => assert!(row.get::<_, bool>("final"), "{what}: failed but not final"),
            // The legitimate reasons here (rate limits are off, everyone has every
            // address, every channel is enabled): its escalation was acknowledged; or a
            // Teams webhook its owner deleted, refused (404) for an earlier row, is not
            // used again (a repeat's second round).
            "suppressed" => {
                let reason = row.get::<_, Option<String>>("suppressed_reason");
                let acknowledged = acked.contains(&row.get::<_, String>("escalation_id"))
                    && reason.as_deref() == Some("escalation_acknowledged");
                let revoked = reject
                    && channel == Channel::Teams
                    && reason.as_deref() == Some("credential_revoked");
                assert!(
                    acknowledged || revoked,
                    "{what}: suppressed ({reason:?}) although its escalation was never acknowledged"
                );
            }
            other => panic!("{what}: lost in status {other}"),
        }
        // Refused for good, unless its last attempt's result was never recorded (a
        // dispatcher slower than the 2 s lease on a loaded machine): then the retry sweep
        // ended it, out of attempts, as "lease expired" (retryable: whether it went out
        // is unknown).
        if reject && status != "suppressed" {
            assert_eq!(status, "failed", "{what}: refused for good");
            if !row.get::<_, Option<bool>>("lease_expired").unwrap_or(false) {
                assert_eq!(
                    row.get::<_, Option<bool>>("retryable"),
                    Some(false),
                    "{what}"
                );
            }
        }
    }
    // Which rows exist is the engine's doing: each one its policy writes, and all of them
    // where nobody answered.
    let policy_rows_checked = check_rows_follow_the_policy(&escalations, &step_rows, &acked);
    assert_eq!(
        policy_rows_checked,
        rows.len(),
        "every row is some escalation's"
    );

    // A recorded rejection is final: the provider saw each refused address once per row
    // from a dispatcher that lived (one that died before recording it may be retried).
    let killed_epochs = faults.killed_epochs.lock().expect("lock").clone();
    let mut live_rejections: HashMap<(Channel, String), u64> = HashMap::new();
    for (channel, to, epoch) in faults.rejections.lock().expect("lock").iter() {
        if !killed_epochs.contains(epoch) {
            *live_rejections.entry((*channel, to.clone())).or_default() += 1;
        }
    }
    for ((channel, to), n) in &live_rejections {
        let rows = rows_at.get(&(*channel, to.clone())).copied().unwrap_or(0);
        assert!(
            *n <= rows as u64,
            "{channel} to {to}: a recorded rejection was retried ({n} for {rows} rows)"
        );
    }

    let double_acks = app
        .scalar_i64(
            "SELECT count(*) FROM (SELECT escalation_id FROM event_log \
             WHERE event_type = 'escalation.acknowledged' GROUP BY escalation_id HAVING count(*) > 1) d",
        )
        .await;
    assert_eq!(double_acks, 0, "an escalation was acknowledged twice");
    let acks = app
        .scalar_i64("SELECT count(*) FROM event_log WHERE event_type = 'escalation.acknowledged'")
        .await;
    assert_eq!(acks, i64::try_from(acked.len()).expect("n"));

    let acked_at: HashMap<String, DateTime<Utc>> = client
        .query(
            "SELECT id::text, acknowledged_at FROM escalations WHERE acknowledged_at IS NOT NULL",
            &[],
        )
        .await
        .expect("acks")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let forwarded = faults.forwarded.lock().expect("lock").clone();
    let late: Vec<&Forwarded> = forwarded
        .iter()
        .filter(|f| {
            escalation_of
                .get(&(f.channel, f.to.clone()))
                .and_then(|i| acked_at.get(&escalations[*i].id))
                .is_some_and(|at| f.at > *at)
        })
        .collect();
    let mut late_by_channel: BTreeMap<Channel, usize> = BTreeMap::new();
    for f in &late {
        *late_by_channel.entry(f.channel).or_default() += 1;
    }
    assert!(
        late.is_empty(),
        "sent after their escalation was acknowledged ({late_by_channel:?}): {late:?}"
    );

    let sent_then_crashed: HashSet<(Channel, String)> = forwarded
        .iter()
        .filter(|f| killed_epochs.contains(&f.epoch))
        .map(|f| (f.channel, f.to.clone()))
        .collect();
    let slack_posts = app.fakes.slack_posts().await;
    let received = provider_messages(&addresses, &run_tag, &forwarded, &slack_posts).await;
    let mut duplicates: BTreeMap<Channel, usize> = BTreeMap::new();
    for ((channel, to), texts) in &received {
        let target = faults.targets.lock().expect("lock")[&(*channel, to.clone())].clone();
        assert!(
            !target.reject,
            "{channel} to {to}: a refused address got a message"
        );
        // One message per row recorded sent there (a repeat's second round pages the
        // same address again), or the one a row whose result was lost may have sent.
        let key = (*channel, to.clone());
        let allowed = sent_rows.get(&key).copied().unwrap_or(0).max(1);
        if texts.len() <= allowed {
            continue;
        }
        *duplicates.entry(*channel).or_default() += texts.len() - allowed;
        if !sent_then_crashed.contains(&key) {
            let history = client
                .query(
                    "SELECT l.event_type, l.detail::text, l.occurred_at::text FROM event_log l \
                     JOIN notification_log n ON n.id = l.notification_id \
                     JOIN recipients r ON r.id = n.recipient_id \
                     WHERE r.external_id = $1 AND n.channel = $2 ORDER BY l.id",
                    &[&target.external_id, &channel.as_str()],
                )
                .await
                .expect("history");
            for h in history {
                eprintln!(
                    "  {} {} {}",
                    h.get::<_, String>(2),
                    h.get::<_, String>(0),
                    h.get::<_, String>(1)
                );
            }
            let fwd: Vec<_> = forwarded
                .iter()
                .filter(|f| f.channel == *channel && &f.to == to)
                .map(|f| (f.at, f.epoch))
                .collect();
            eprintln!("  forwarded: {fwd:?}");
        }
        assert!(
            sent_then_crashed.contains(&key),
            "{channel} to {to}: {} messages for {allowed} rows sent, without a crash after a send",
            texts.len()
        );
    }
    for ((channel, to), n) in &sent_rows {
        let got = received.get(&(*channel, to.clone())).map_or(0, Vec::len);
        assert!(
            got >= *n,
            "{channel} to {to}: {n} rows recorded sent, {got} messages received"
        );
    }

    // The engine's verdict: each step once, nothing after an acknowledgement, and every
    // escalation nobody answered exhausted.
    let trails = trails(&client, &escalations).await;
    let steps_checked = check_steps_recorded_once(&step_rows, &trails);
    let after_ack =
        check_nothing_after_acknowledgement(&step_rows, &trails, &clock_at_ack, &clock.used);
    let exhausted = check_exhaustion(&trails, &acked);

    // Once answered, every Slack message Herald recorded for the escalation is rewritten
    // to say who answered (`chat.update` by its `ts`: not a page, not counted above).
    let slack_updates = app.fakes.slack_updates().await;
    let mut rewrites: HashMap<String, Vec<String>> = HashMap::new();
    for u in &slack_updates {
        assert_eq!(u.path, SLACK_UPDATE);
        if let Some(ts) = u.body["ts"].as_str() {
            rewrites
                .entry(ts.to_owned())
                .or_default()
                .push(u.body["text"].as_str().unwrap_or_default().to_owned());
        }
    }
    let recorded = client
        .query(
            "SELECT n.provider_message_id, r.external_id FROM notification_log n \
             JOIN escalations e ON e.id = n.escalation_id JOIN recipients r ON r.id = n.recipient_id \
             WHERE n.channel = 'slack' AND n.provider_message_id LIKE '%/%' \
               AND e.acknowledged_at IS NOT NULL",
            &[],
        )
        .await
        .expect("Slack messages");
    let mut rewritten = 0;
    for row in &recorded {
        let message: String = row.get(0);
        let who: String = row.get(1);
        let ts = message.split_once('/').map_or("", |(_, ts)| ts);
        let texts = rewrites.get(ts).unwrap_or_else(|| {
            panic!(
                "slack to {who}: message {message} of an acknowledged escalation never rewritten"
            )
        });
        assert!(
            texts.iter().all(|t| t.contains("Acknowledged by")),
            "slack to {who}: {message} rewritten as {texts:?}"
        );
        rewritten += 1;
    }
    assert!(
        rewritten > 0,
        "no Slack message of an acknowledged escalation to rewrite"
    );

    // 5. What happened, per channel.
    let injected = faults.injected.lock().expect("lock").clone();
    let total_rows: u64 = by_status.values().flat_map(|s| s.values()).sum();
    let per_channel_rows: Vec<String> = by_status
        .iter()
        .map(|(c, s)| format!("{c} {}", s.values().sum::<u64>()))
        .collect();
    let sqs_failed: usize = injected.values().map(|i| i.sqs_ids_failed.len()).sum();
    println!(
        "fault injection (seed {seed}): {} escalations, {total_rows} notifications ({}); \
         set-up {setup_secs:.1} s, ingest {ingest_secs:.1} s, total {:.1} s",
        escalations.len(),
        per_channel_rows.join(", "),
        started.elapsed().as_secs_f64()
    );
    let sqs_failed_engine: usize = injected
        .values()
        .map(|i| i.sqs_ids_failed_engine.len())
        .sum();
    println!(
        "  injected: SQS send failed after ingest for {sqs_failed} notifications, and for {sqs_failed_engine} rows \
         the engine started on the real clock ({} SendMessageBatch calls refused)",
        faults.sqs_batches_failed.load(Ordering::SeqCst)
    );
    for lane in &lanes {
        let c = lane.channel;
        let i = injected.get(&c).cloned().unwrap_or_default();
        let throttle = match c {
            Channel::Email => "SES throttled".to_owned(),
            Channel::Sms | Channel::Push => "SNS throttled".to_owned(),
            Channel::Teams => format!("webhook {:?}", i.throttle_kinds),
            Channel::Slack => format!("Slack {:?}", i.throttle_kinds),
            _ => "ThrottlingException".to_owned(),
        };
        let name = c.as_str();
        println!(
            "    {name:<6} SQS send failed {:>3}; {throttle} {}, rejected {}; dispatcher killed before send {}, \
             after send {}; DB connections killed {}; {} invocations ({} killed)",
            i.sqs_ids_failed.len(),
            i.throttled,
            i.rejected,
            i.killed_before_send,
            i.killed_after_send,
            i.db_connections_killed,
            lane.polls,
            lane.killed
        );
    }
    println!(
        "  ran: {} retry runs ({} failed), requeued {}, leases reclaimed {}, exhausted {}, suppressed {}",
        counters.retry_runs,
        counters.retry_run_errors,
        counters.requeued,
        counters.reclaimed,
        counters.exhausted,
        counters.suppressed
    );
    let crashed_by_channel =
        |c: Channel| sent_then_crashed.iter().filter(|(ch, _)| *ch == c).count();
    println!("  outcome: lost 0 on every channel; 0 sent after an acknowledgement on any channel");
    for (c, statuses) in &by_status {
        let name = c.as_str();
        let links = if LINKED.contains(c) {
            let n = link_wins.get(c).copied().unwrap_or(0);
            let what = if *c == Channel::Slack {
                "Acknowledge buttons"
            } else {
                "links"
            };
            format!("{n} escalations acknowledged through its {what}")
        } else {
            "no links (a call reads a script)".to_owned()
        };
        if *c == Channel::InApp {
            println!("    {name:<6} {statuses:?}, each with its inbox entry");
            continue;
        }
        println!(
            "    {name:<6} {statuses:?}; duplicates {}, every one to an address a dispatcher had sent to before it died ({} such); \
             {links}",
            duplicates.get(c).copied().unwrap_or(0),
            crashed_by_channel(*c),
        );
    }
    println!(
        "  acknowledged {} escalations (0 twice), {} of them through a link or Slack button pressed twice at once",
        acked.len(),
        link_wins.values().sum::<u64>()
    );
    println!(
        "  Slack: {} chat.postMessage (the pages), {} chat.update rewriting the {rewritten} recorded \
         messages of acknowledged escalations (not pages)",
        slack_posts.len(),
        slack_updates.len(),
    );
    report_engine(
        &engine,
        &counters.engine,
        &clock,
        &escalations,
        &step_rows,
        &EngineOutcome {
            policy_rows: policy_rows_checked,
            steps: steps_checked,
            after_ack,
            exhausted,
        },
        sqs_failed_engine,
    );

    assert_eq!(faults.unknown_sends.load(Ordering::SeqCst), 0);
    assert_eq!(faults.unanswered_faults.load(Ordering::SeqCst), 0);
    assert!(faults.sqs_batches_failed.load(Ordering::SeqCst) > 0 && sqs_failed > 0);
    assert!(
        injected
            .values()
            .map(|i| i.db_connections_killed)
            .sum::<u64>()
            > 0,
        "the database-connection fault killed nothing (does the dispatch claim still say `{DISPATCH_CLAIM_MARKER}`?)"
    );
    for c in DISPATCHED {
        let i = injected.get(&c).cloned().unwrap_or_default();
        let statuses = by_status.get(&c).cloned().unwrap_or_default();
        assert!(
            statuses.get("sent").copied().unwrap_or(0) > 0,
            "{c}: nothing sent"
        );
        assert!(i.throttled > 0 && i.rejected > 0, "{c}: {i:?}");
        if c == Channel::Slack {
            for kind in ["429", "ratelimited", "service_unavailable"] {
                assert!(
                    i.throttle_kinds.contains_key(kind),
                    "Slack never {kind}: {i:?}"
                );
            }
        }
        assert!(
            i.killed_before_send > 0 && i.killed_after_send > 0,
            "{c}: its dispatcher was not killed both ways: {i:?}"
        );
    }
    for c in LINKED {
        assert!(
            link_wins.get(&c).copied().unwrap_or(0) > 0,
            "no escalation acknowledged through {c}: {link_wins:?}"
        );
    }
    assert!(
        by_status
            .get(&Channel::InApp)
            .is_some_and(|s| s.get("delivered").copied().unwrap_or(0) > 0)
    );
}
