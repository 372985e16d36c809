//! Fault injection through the real local stack: a few hundred escalations while the
//! SQS send after ingest fails, dispatchers die before and after sending, SES throttles
//! and rejects, and a dispatcher's database connection is killed mid-batch. Then `retry`
//! runs until quiet, and nothing may be lost, acknowledged twice, or sent after an
//! acknowledgement; duplicate emails may only come from a crash after a send.
//!
//! Faults are injected at the HTTP level by a small proxy between the AWS SDK and the
//! emulator; every decision is a hash of (seed, what, n), so a run is reproducible:
//! `HERALD_FAULT_SEED=<n> cargo test -p herald-tests --test api faults -- --nocapture`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::helpers::{Options, TestApp, connect, moto_url};

/// Probabilities per decision.
const P_SQS_SEND_FAILS: f64 = 0.15;
const P_KILL_BEFORE_SEND: f64 = 0.02;
const P_KILL_AFTER_SEND: f64 = 0.02;
const P_KILL_DB_CONNECTION: f64 = 0.03;
const P_THROTTLE: f64 = 0.20;
/// Recipients whose address SES rejects (permanent), by index.
const REJECT_EVERY: usize = 13;

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

#[derive(Debug, Default)]
struct Injected {
    sqs_batches_failed: u64,
    sqs_ids_failed: HashSet<Uuid>,
    throttled: u64,
    rejected: u64,
    killed_before_send: u64,
    killed_after_send: u64,
    db_connections_killed: u64,
}

/// One SES send the proxy let through to the emulator.
#[derive(Debug, Clone)]
struct Forwarded {
    to: String,
    at: DateTime<Utc>,
    epoch: u64,
}

/// The proxy's shared state.
struct Faults {
    seed: u64,
    upstream: String,
    http: reqwest::Client,
    /// Whether the SQS send after an ingest commit may fail (the ingest phase only).
    sqs_faults: AtomicBool,
    /// The current dispatcher invocation; a killed one sends nothing more.
    epoch: AtomicU64,
    killed_epochs: Mutex<HashSet<u64>>,
    kills: mpsc::UnboundedSender<u64>,
    ses_calls: Mutex<HashMap<String, u64>>,
    forwarded: Mutex<Vec<Forwarded>>,
    /// Rejections answered: (address, epoch).
    rejections: Mutex<Vec<(String, u64)>>,
    /// Sends on their way to the emulator (a dead dispatcher's may still be).
    sends_in_flight: AtomicU64,
    injected: Mutex<Injected>,
    /// The test database, to kill a dispatcher's connections (set once the app exists:
    /// the app's SDK needs the proxy's address first).
    admin: tokio::sync::OnceCell<tokio_postgres::Client>,
}

enum Verdict {
    Forward,
    Answer(u16, &'static str, String),
}

impl Faults {
    fn epoch_killed(&self, epoch: u64) -> bool {
        self.killed_epochs.lock().expect("lock").contains(&epoch)
    }

    fn kill(&self, epoch: u64) {
        self.killed_epochs.lock().expect("lock").insert(epoch);
        let _ = self.kills.send(epoch);
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
            && let Some(resp) = self.sqs_fault(&body)
        {
            return resp;
        }
        if parts.method == hyper::Method::POST && path == "/v2/email/outbound-emails" {
            return self.ses_send(parts, body).await;
        }
        self.forward(parts, body).await
    }

    /// Fails the whole batch when one of its notifications is doomed (by seed).
    fn sqs_fault(&self, body: &[u8]) -> Option<hyper::Response<Full<Bytes>>> {
        let request: Value = serde_json::from_slice(body).ok()?;
        let ids: Vec<Uuid> = request["Entries"]
            .as_array()?
            .iter()
            .filter_map(|e| e["MessageBody"].as_str())
            .filter_map(|b| serde_json::from_str::<Value>(b).ok())
            .filter_map(|b| b["notification_id"].as_str().and_then(|s| s.parse().ok()))
            .collect();
        let doomed = ids
            .iter()
            .any(|id| roll(self.seed, &format!("sqs:{id}"), 0) < P_SQS_SEND_FAILS);
        if !doomed {
            return None;
        }
        let mut injected = self.injected.lock().expect("lock");
        injected.sqs_batches_failed += 1;
        injected.sqs_ids_failed.extend(ids);
        Some(answer(
            500,
            "application/x-amz-json-1.0",
            json!({"__type": "com.amazonaws.sqs#InternalError", "message": "injected fault"})
                .to_string(),
        ))
    }

    async fn ses_send(
        self: &Arc<Self>,
        parts: http::request::Parts,
        body: Bytes,
    ) -> hyper::Response<Full<Bytes>> {
        let epoch = self.epoch.load(Ordering::SeqCst);
        if self.epoch_killed(epoch) {
            // This dispatcher is dead: nothing it still had in flight goes out.
            return answer(503, "text/plain", "dead".into());
        }
        let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let to = request["Destination"]["ToAddresses"][0]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let n = {
            let mut calls = self.ses_calls.lock().expect("lock");
            let n = calls.entry(to.clone()).or_insert(0);
            *n += 1;
            *n
        };
        let r = roll(self.seed, &to, n);
        let verdict = if to.starts_with("reject-") {
            self.injected.lock().expect("lock").rejected += 1;
            self.rejections
                .lock()
                .expect("lock")
                .push((to.clone(), epoch));
            Verdict::Answer(
                400,
                "MessageRejected",
                "Email address is on the suppression list".into(),
            )
        } else if r < P_KILL_BEFORE_SEND {
            self.injected.lock().expect("lock").killed_before_send += 1;
            self.kill(epoch);
            // Never answered: the process is gone.
            tokio::time::sleep(Duration::from_secs(10)).await;
            return answer(503, "text/plain", "dead".into());
        } else if r < P_KILL_BEFORE_SEND + P_KILL_AFTER_SEND {
            self.injected.lock().expect("lock").killed_after_send += 1;
            let sent = self.forward_ses(parts, body, &to, epoch).await;
            self.kill(epoch);
            tokio::time::sleep(Duration::from_secs(10)).await;
            return sent;
        } else if r < P_KILL_BEFORE_SEND + P_KILL_AFTER_SEND + P_KILL_DB_CONNECTION {
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
            self.injected.lock().expect("lock").db_connections_killed +=
                u64::try_from(killed).unwrap_or(0);
            Verdict::Forward
        } else if r < P_KILL_BEFORE_SEND + P_KILL_AFTER_SEND + P_KILL_DB_CONNECTION + P_THROTTLE {
            self.injected.lock().expect("lock").throttled += 1;
            Verdict::Answer(
                429,
                "TooManyRequestsException",
                "Maximum sending rate exceeded.".into(),
            )
        } else {
            Verdict::Forward
        };
        match verdict {
            Verdict::Forward => self.forward_ses(parts, body, &to, epoch).await,
            Verdict::Answer(status, error_type, message) => {
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
        }
    }

    /// Forwards a send on its own task, so a dispatcher that dies while the request is
    /// on its way cannot hide a send the emulator did receive.
    async fn forward_ses(
        self: &Arc<Self>,
        parts: http::request::Parts,
        body: Bytes,
        to: &str,
        epoch: u64,
    ) -> hyper::Response<Full<Bytes>> {
        let this = self.clone();
        let to = to.to_owned();
        this.sends_in_flight.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            let resp = this.forward(parts, body).await;
            if resp.status().is_success() {
                this.forwarded.lock().expect("lock").push(Forwarded {
                    to,
                    at: Utc::now(),
                    epoch,
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
        parts: http::request::Parts,
        body: Bytes,
    ) -> hyper::Response<Full<Bytes>> {
        let url = format!(
            "{}{}",
            self.upstream,
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

struct Counters {
    polls: u64,
    dispatchers_killed: u64,
    retry_runs: u64,
    retry_run_errors: u64,
    requeued: u64,
    reclaimed: u64,
    exhausted: u64,
    suppressed: u64,
}

/// Polls the queue until it is empty, one dispatcher invocation at a time; an
/// invocation the proxy kills is aborted like a Lambda that died (its messages are not
/// deleted and come back after the visibility timeout).
async fn drain(
    app: &Arc<TestApp>,
    faults: &Faults,
    kills: &mut mpsc::UnboundedReceiver<u64>,
    counters: &mut Counters,
) {
    loop {
        let epoch = faults.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        let task = {
            let app = app.clone();
            tokio::spawn(async move { app.poll_once().await })
        };
        tokio::pin!(task);
        counters.polls += 1;
        let received = loop {
            tokio::select! {
                done = &mut task => break done.expect("dispatcher task").received,
                Some(killed) = kills.recv() => {
                    if killed == epoch {
                        task.abort();
                        let _ = (&mut task).await;
                        counters.dispatchers_killed += 1;
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

/// Notifications neither sent, final failed nor suppressed.
async fn unfinished(app: &TestApp) -> i64 {
    app.scalar_i64(
        "SELECT count(*) FROM notification_log WHERE channel = 'email' \
         AND (status IN ('queued', 'sending') OR (status = 'failed' AND next_attempt_at IS NOT NULL))",
    )
    .await
}

/// Acknowledges every fifth escalation not yet acknowledged: twice at once through the
/// recipient's magic link when an email with links went out, and once through the API.
async fn acknowledge_round(
    app: &TestApp,
    escalations: &[(String, Vec<String>)],
    round: usize,
    sent: &HashMap<String, Vec<String>>,
    acked: &mut HashSet<String>,
) -> (usize, usize) {
    let mut link_wins = 0;
    let mut link_attempts = 0;
    for (i, (id, addresses)) in escalations.iter().enumerate() {
        if i % 5 != round || acked.contains(id) {
            continue;
        }
        let token = addresses
            .iter()
            .filter_map(|a| sent.get(a))
            .flat_map(|bodies| bodies.iter())
            .find_map(|body| first_link(body));
        if let Some(token) = token {
            let (a, b) = tokio::join!(app.magic("POST", &token), app.magic("POST", &token));
            link_attempts += 1;
            let oks = [a.status, b.status].iter().filter(|s| **s == 200).count();
            assert_eq!(
                oks, 1,
                "one of two concurrent clicks wins: {} {}",
                a.status, b.status
            );
            link_wins += 1;
        }
        let api = app
            .api("POST", &format!("/v1/escalations/{id}/acknowledge"), None)
            .await;
        assert_eq!(api.status, 200, "{}", api.text);
        acked.insert(id.clone());
    }
    (link_wins, link_attempts)
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

/// Every email the emulator accepted for these addresses: address -> bodies.
async fn emulator_emails(addresses: &HashSet<String>) -> HashMap<String, Vec<String>> {
    let data: Value = herald::channels::https_client()
        .expect("an HTTP client")
        .get(format!("{}/moto-api/data.json", moto_url()))
        .send()
        .await
        .expect("moto data")
        .json()
        .await
        .expect("moto json");
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for m in data["ses"]["Message"].as_array().into_iter().flatten() {
        let to = m["destinations"]["ToAddresses"][0]
            .as_str()
            .or_else(|| m["destinations"][0].as_str())
            .map(str::to_owned)
            .or_else(|| {
                let text = m.to_string();
                addresses
                    .iter()
                    .find(|a| text.contains(a.as_str()))
                    .cloned()
            });
        if let Some(to) = to.filter(|t| addresses.contains(t)) {
            out.entry(to)
                .or_default()
                .push(m["body"].as_str().unwrap_or_default().to_owned());
        }
    }
    out
}

#[tokio::test]
async fn nothing_is_lost_or_double_acted_under_injected_faults() {
    let seed: u64 = std::env::var("HERALD_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261122);
    let escalation_count: usize = std::env::var("HERALD_FAULT_ESCALATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(240);
    let started = Instant::now();

    let (kill_tx, mut kill_rx) = mpsc::unbounded_channel();
    let faults = Arc::new(Faults {
        seed,
        upstream: moto_url(),
        http: herald::channels::https_client().expect("an HTTP client"),
        sqs_faults: AtomicBool::new(true),
        epoch: AtomicU64::new(0),
        killed_epochs: Mutex::default(),
        kills: kill_tx,
        ses_calls: Mutex::default(),
        forwarded: Mutex::default(),
        rejections: Mutex::default(),
        sends_in_flight: AtomicU64::new(0),
        injected: Mutex::default(),
        admin: tokio::sync::OnceCell::new(),
    });
    let proxy = start_proxy(faults.clone()).await;
    let app = Arc::new(
        TestApp::spawn_with(Options {
            aws_endpoint: format!("http://{proxy}"),
            tune: Box::new(|config| {
                config.sending_lease = Duration::from_secs(2);
                config.outbox_grace = Duration::from_secs(1);
                config.retry.default.base = Duration::from_millis(200);
                config.retry.default.cap = Duration::from_secs(1);
            }),
        })
        .await,
    );
    faults
        .admin
        .set(connect(&app.db_url).await)
        .map_err(|_| "set once")
        .expect("admin connection");

    // 1. Ingest, while the SQS send after the commit fails for some notifications.
    let mut escalations: Vec<(String, Vec<String>)> = Vec::new();
    let mut address_of_escalation: HashMap<String, String> = HashMap::new();
    let mut recipient_index = 0usize;
    let bodies: Vec<(Value, Vec<String>)> = (0..escalation_count)
        .map(|i| {
            let recipients = 1 + i % 2;
            let addresses: Vec<String> = (0..recipients)
                .map(|_| {
                    recipient_index += 1;
                    let kind = if recipient_index.is_multiple_of(REJECT_EVERY) {
                        "reject"
                    } else {
                        "fi"
                    };
                    format!(
                        "{kind}-{recipient_index}-{}@example.com",
                        Uuid::new_v4().simple()
                    )
                })
                .collect();
            let body = json!({
                "dedup_key": format!("fault-{i}"),
                "title": format!("Fault injection #{i}"),
                "body": "Injected faults everywhere.",
                "priority": "high",
                "recipients": addresses.iter().enumerate().map(|(r, a)| json!({
                    "id": format!("u-{i}-{r}"), "name": format!("Person {i}.{r}"), "email": a
                })).collect::<Vec<_>>(),
            });
            (body, addresses)
        })
        .collect();
    for chunk in bodies.chunks(8) {
        let results =
            futures::future::join_all(chunk.iter().map(|(body, _)| app.post_escalation(body)))
                .await;
        for (resp, (_, addresses)) in results.iter().zip(chunk) {
            assert_eq!(resp.status, 202, "{}", resp.text);
            let id = resp.json()["id"].as_str().expect("id").to_owned();
            for a in addresses {
                address_of_escalation.insert(a.clone(), id.clone());
            }
            escalations.push((id, addresses.clone()));
        }
    }
    faults.sqs_faults.store(false, Ordering::SeqCst);
    let ingest_secs = started.elapsed().as_secs_f64();
    let all_addresses: HashSet<String> = address_of_escalation.keys().cloned().collect();

    // 2. Dispatch, retry and acknowledge until nothing is left to do.
    let mut counters = Counters {
        polls: 0,
        dispatchers_killed: 0,
        retry_runs: 0,
        retry_run_errors: 0,
        requeued: 0,
        reclaimed: 0,
        exhausted: 0,
        suppressed: 0,
    };
    let mut acked: HashSet<String> = HashSet::new();
    let mut ack_rounds = 0;
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut rounds = 0;
    loop {
        rounds += 1;
        drain(&app, &faults, &mut kill_rx, &mut counters).await;
        if rounds == 1 || rounds == 4 {
            // At a quiet point (no dispatcher running, no send on its way), so "sent
            // after the acknowledgement" has no race to excuse.
            while faults.sends_in_flight.load(Ordering::SeqCst) > 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let sent = emulator_emails(&all_addresses).await;
            acknowledge_round(&app, &escalations, ack_rounds, &sent, &mut acked).await;
            ack_rounds += 1;
        }
        retry(&app, &mut counters).await;
        if unfinished(&app).await == 0 && app.queue_depth().await == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not quiet after {rounds} rounds: {} unfinished",
            unfinished(&app).await
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // 3. The verdict.
    let client = app.pool.get().await.expect("conn");
    let rows = client
        .query(
            "SELECT r.email, n.status, n.next_attempt_at IS NULL AS final, n.retryable,                     n.attempt_count, e.id::text AS escalation_id              FROM notification_log n JOIN recipients r ON r.id = n.recipient_id              JOIN escalations e ON e.id = n.escalation_id WHERE n.channel = 'email'",
            &[],
        )
        .await
        .expect("rows");
    let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
    for row in &rows {
        let email: String = row.get("email");
        let status: String = row.get("status");
        *by_status.entry(status.clone()).or_default() += 1;
        match status.as_str() {
            "sent" => {}
            "failed" => assert!(row.get::<_, bool>("final"), "{email}: failed but not final"),
            "suppressed" => assert!(
                acked.contains(&row.get::<_, String>("escalation_id")),
                "{email}: suppressed although its escalation was never acknowledged"
            ),
            other => panic!("{email}: lost in status {other}"),
        }
        if email.starts_with("reject-") && status != "suppressed" {
            assert_eq!(status, "failed", "{email}");
            assert_eq!(
                row.get::<_, Option<bool>>("retryable"),
                Some(false),
                "{email}"
            );
        }
    }
    // A recorded rejection is final: SES saw each rejected address once from a
    // dispatcher that lived (a dispatcher that died before recording one may be retried).
    let killed = faults.killed_epochs.lock().expect("lock").clone();
    let mut live_rejections: HashMap<String, u64> = HashMap::new();
    for (to, epoch) in faults.rejections.lock().expect("lock").iter() {
        if !killed.contains(epoch) {
            *live_rejections.entry(to.clone()).or_default() += 1;
        }
    }
    for (to, n) in &live_rejections {
        assert_eq!(*n, 1, "{to}: a recorded rejection was retried");
    }
    assert_eq!(
        rows.len(),
        all_addresses.len(),
        "one email row per recipient"
    );

    let double_acks = app
        .scalar_i64(
            "SELECT count(*) FROM (SELECT escalation_id FROM event_log              WHERE event_type = 'escalation.acknowledged' GROUP BY escalation_id HAVING count(*) > 1) d",
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
            address_of_escalation
                .get(&f.to)
                .and_then(|e| acked_at.get(e))
                .is_some_and(|at| f.at > *at)
        })
        .collect();
    assert!(
        late.is_empty(),
        "emails sent after their escalation was acknowledged: {late:?}"
    );

    let killed_epochs = faults.killed_epochs.lock().expect("lock").clone();
    let sent_then_crashed: HashSet<&str> = forwarded
        .iter()
        .filter(|f| killed_epochs.contains(&f.epoch))
        .map(|f| f.to.as_str())
        .collect();
    let emails = emulator_emails(&all_addresses).await;
    let mut duplicates = 0;
    for (to, bodies) in &emails {
        assert!(
            !to.starts_with("reject-"),
            "{to}: a rejected address got mail"
        );
        if bodies.len() > 1 {
            duplicates += bodies.len() - 1;
            if !sent_then_crashed.contains(to.as_str()) {
                let history = client
                    .query(
                        "SELECT l.event_type, l.detail::text, l.occurred_at::text FROM event_log l \
                         JOIN notification_log n ON n.id = l.notification_id \
                         JOIN recipients r ON r.id = n.recipient_id WHERE r.email = $1 ORDER BY l.id",
                        &[to],
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
                let fwd: Vec<_> = forwarded.iter().filter(|f| &f.to == to).collect();
                eprintln!("  forwarded: {fwd:?}");
            }
            assert!(
                sent_then_crashed.contains(to.as_str()),
                "{to} got {} emails without a crash after a send",
                bodies.len()
            );
        }
    }
    let sent_rows = by_status.get("sent").copied().unwrap_or(0);
    for row in rows
        .iter()
        .filter(|r| r.get::<_, String>("status") == "sent")
    {
        let email: String = row.get("email");
        assert!(
            emails.contains_key(&email),
            "{email}: recorded sent, never received"
        );
    }

    let injected = faults.injected.lock().expect("lock");
    println!(
        "fault injection (seed {seed}): {} escalations, {} email notifications; ingest {ingest_secs:.1} s, total {:.1} s",
        escalations.len(),
        rows.len(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "  injected: SQS send failed after ingest for {} notifications ({} SendMessageBatch calls refused); SES throttled {}, rejected {}; \
         dispatcher killed before send {}, after send {}; dispatcher DB connections killed {}",
        injected.sqs_ids_failed.len(),
        injected.sqs_batches_failed,
        injected.throttled,
        injected.rejected,
        injected.killed_before_send,
        injected.killed_after_send,
        injected.db_connections_killed
    );
    println!(
        "  ran: {} dispatcher invocations ({} killed), {} retry runs ({} failed), requeued {}, leases reclaimed {}, exhausted {}, suppressed {}",
        counters.polls,
        counters.dispatchers_killed,
        counters.retry_runs,
        counters.retry_run_errors,
        counters.requeued,
        counters.reclaimed,
        counters.exhausted,
        counters.suppressed
    );
    println!(
        "  outcome: {by_status:?}; lost 0; acknowledged {} escalations (0 twice, 0 emails after an acknowledgement); \
         duplicate emails {duplicates}, every one to an address a dispatcher had sent to before it died ({} such addresses)",
        acked.len(),
        sent_then_crashed.len()
    );
    assert!(sent_rows > 0);
    assert!(injected.sqs_batches_failed > 0 && injected.throttled > 0 && injected.rejected > 0);
    assert!(injected.killed_before_send + injected.killed_after_send > 0);
}
