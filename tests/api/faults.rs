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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use herald::dispatch::Dispatch;
use herald::domain::Channel;
use herald::domain::slack::{ACKNOWLEDGE_ACTION_ID, button_click_body};
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
const P_KILL_BEFORE_SEND: f64 = 0.02;
const P_KILL_AFTER_SEND: f64 = 0.02;
const P_KILL_DB_CONNECTION: f64 = 0.03;
const P_THROTTLE: f64 = 0.20;
/// Every 13th address of each channel is refused for good by its provider.
const REJECT_EVERY: usize = 13;

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
            && self.sqs_faults.load(Ordering::SeqCst)
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
    /// notification's stable name, read from the database: ingest has committed).
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
                "SELECT n.id, n.channel, e.dedup_key, r.external_id FROM notification_log n \
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
                let name = format!(
                    "sqs:{}:{}:{channel}",
                    r.get::<_, Option<String>>(2).unwrap_or_default(),
                    r.get::<_, String>(3)
                );
                Some((r.get(0), channel, name))
            })
            .collect();
        let doomed = named
            .iter()
            .any(|(_, _, name)| roll(self.seed, name, 0) < P_SQS_SEND_FAILS);
        if !doomed {
            return None;
        }
        self.sqs_batches_failed.fetch_add(1, Ordering::SeqCst);
        for (id, channel, _) in named {
            self.count(channel, |i| {
                i.sqs_ids_failed.insert(id);
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
                           AND query LIKE '%WITH claimed AS%'",
                        &[],
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
}

/// How a message that reached its recipient lets them acknowledge.
enum Answer {
    /// A magic link's token.
    Link(String),
    /// Slack's Acknowledge button, in the DM to this Slack user.
    Button(String),
}

/// Acknowledges every fifth escalation not yet acknowledged: twice at once through a
/// link (or Slack's button) in a message that reached one of its recipients, when one
/// did (the channel tried first rotates, so every channel's links get clicked), and once
/// through the API.
async fn acknowledge_round(
    app: &TestApp,
    escalations: &[Planned],
    round: usize,
    sent: &HashMap<(Channel, String), Vec<String>>,
    acked: &mut HashSet<String>,
    link_wins: &mut BTreeMap<Channel, u64>,
) {
    for (i, escalation) in escalations.iter().enumerate() {
        if i % 5 != round || acked.contains(&escalation.id) {
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
    // addresses of escalations never acknowledged get a forced kill on their first send.
    let mut ordinal: BTreeMap<Channel, usize> = BTreeMap::new();
    let mut forced_count: BTreeMap<Channel, usize> = BTreeMap::new();
    let mut flags: HashMap<(usize, Channel), (bool, Option<Forced>)> = HashMap::new();
    for (k, recipient) in recipients.iter().enumerate() {
        for channel in recipient.channels {
            let n = ordinal.entry(channel).or_default();
            *n += 1;
            let reject = channel != Channel::InApp && n.is_multiple_of(REJECT_EVERY);
            let forced = if reject || channel == Channel::InApp || recipient.escalation % 5 < 2 {
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
    let mut bodies: Vec<Value> = (0..escalation_count)
        .map(|i| {
            let channels = CHANNEL_SETS[i % CHANNEL_SETS.len()];
            json!({
                "dedup_key": format!("fault-{i}"),
                "title": format!("Fault {run_tag} #{i}"),
                "body": "Injected faults everywhere.",
                "priority": "high",
                "recipients": [],
                "channels": { "primary": channels.iter().map(|c| c.as_str()).collect::<Vec<_>>() },
            })
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
            escalations.push(Planned { id, sends });
        }
    }
    faults.sqs_faults.store(false, Ordering::SeqCst);
    let ingest_secs = started.elapsed().as_secs_f64() - setup_secs;

    // 3. Dispatch every channel at once, retry and acknowledge until nothing is left.
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
    let mut ack_rounds = 0;
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut rounds = 0;
    loop {
        rounds += 1;
        futures::future::join_all(lanes.iter_mut().map(|lane| drain(&app, &faults, lane))).await;
        if rounds == 1 || rounds == 4 {
            // At a quiet point (no dispatcher running, no send on its way), so "sent
            // after the acknowledgement" has no race to excuse: every row claimed before
            // the acknowledgement has been sent or its dispatcher is dead.
            while faults.sends_in_flight.load(Ordering::SeqCst) > 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let sent = forwarded_by_address(&faults.forwarded.lock().expect("lock"));
            acknowledge_round(
                &app,
                &escalations,
                ack_rounds,
                &sent,
                &mut acked,
                &mut link_wins,
            )
            .await;
            ack_rounds += 1;
        }
        retry(&app, &mut counters).await;
        if unfinished(&app).await == 0 && queue_depth(&app).await == 0 {
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

    // 4. The verdict, channel by channel.
    let client = app.pool.get().await.expect("conn");
    let rows = client
        .query(
            "SELECT n.channel, n.status, n.next_attempt_at IS NULL AS final, n.retryable, \
                    n.error LIKE 'lease expired:%' AS lease_expired, n.suppressed_reason, r.external_id, e.id::text AS escalation_id, \
                    (SELECT count(*) FROM notifications i WHERE i.notification_log_id = n.id) AS inbox \
             FROM notification_log n JOIN recipients r ON r.id = n.recipient_id \
             JOIN escalations e ON e.id = n.escalation_id",
            &[],
        )
        .await
        .expect("rows");
    let mut by_status: BTreeMap<Channel, BTreeMap<String, u64>> = BTreeMap::new();
    let mut seen: HashSet<(String, Channel)> = HashSet::new();
    let mut sent_rows: Vec<(Channel, String)> = Vec::new();
    for row in &rows {
        let channel: Channel = row.get::<_, String>("channel").parse().expect("channel");
        let who: String = row.get("external_id");
        let status: String = row.get("status");
        let what = format!("{channel} to {who}");
        let key = (who.clone(), channel);
        let address = address_of
            .get(&key)
            .unwrap_or_else(|| panic!("{what}: a row this test did not plan"))
            .clone();
        assert!(seen.insert(key), "{what}: two rows");
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
        match status.as_str() {
            "sent" => sent_rows.push((channel, address.clone())),
            "failed" => assert!(row.get::<_, bool>("final"), "{what}: failed but not final"),
            "suppressed" => assert!(
                acked.contains(&row.get::<_, String>("escalation_id")),
                "{what}: suppressed ({:?}) although its escalation was never acknowledged",
                row.get::<_, Option<String>>("suppressed_reason")
            ),
            other => panic!("{what}: lost in status {other}"),
        }
        let reject = faults.targets.lock().expect("lock")[&(channel, address)].reject;
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
    for (channel, planned) in &addresses {
        let rows = by_status
            .get(channel)
            .map_or(0, |s| s.values().sum::<u64>());
        assert_eq!(
            rows,
            planned.len() as u64,
            "{channel}: one row per recipient"
        );
    }

    // A recorded rejection is final: the provider saw each refused address once from a
    // dispatcher that lived (one that died before recording it may be retried).
    let killed_epochs = faults.killed_epochs.lock().expect("lock").clone();
    let mut live_rejections: HashMap<(Channel, String), u64> = HashMap::new();
    for (channel, to, epoch) in faults.rejections.lock().expect("lock").iter() {
        if !killed_epochs.contains(epoch) {
            *live_rejections.entry((*channel, to.clone())).or_default() += 1;
        }
    }
    for ((channel, to), n) in &live_rejections {
        assert_eq!(*n, 1, "{channel} to {to}: a recorded rejection was retried");
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
        if texts.len() < 2 {
            continue;
        }
        *duplicates.entry(*channel).or_default() += texts.len() - 1;
        let key = (*channel, to.clone());
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
            "{channel} to {to}: {} messages without a crash after a send",
            texts.len()
        );
    }
    for (channel, to) in &sent_rows {
        assert!(
            received.contains_key(&(*channel, to.clone())),
            "{channel} to {to}: recorded sent, never received"
        );
    }

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
    println!(
        "  injected: SQS send failed after ingest for {sqs_failed} notifications ({} SendMessageBatch calls refused)",
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

    assert_eq!(faults.unknown_sends.load(Ordering::SeqCst), 0);
    assert_eq!(faults.unanswered_faults.load(Ordering::SeqCst), 0);
    assert!(faults.sqs_batches_failed.load(Ordering::SeqCst) > 0 && sqs_failed > 0);
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
