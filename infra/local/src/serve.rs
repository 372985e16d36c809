//! `herald-local serve`: the HTTP API on 127.0.0.1 and a poller per channel queue, with
//! the same handlers and wiring as on Lambda.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use anyhow::Context as _;
use herald::dispatch::Dispatch;
use herald::domain::Channel;
use herald::warm::Warm;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use lambda_http::Body;
use tokio::net::TcpListener;

use crate::fakes::FakeProviders;
use crate::gateway::{self, Target};
use crate::poller::QueuePoller;
use crate::schedules::Schedules;
use crate::stack;

/// API Gateway's payload limit.
const MAX_BODY: usize = 10 * 1024 * 1024;

pub struct Functions {
    pub ingest: herald_ingest::Deps,
    pub recipients: herald_recipients::Deps,
    pub magic_link: herald_magic_link::Deps,
    /// Replies to SMS pages, polled from the inbound SMS queue.
    pub sms_reply: herald::sms_reply::SmsReplies,
    /// Delivery receipts, polled from the feedback queue.
    pub feedback: herald::feedback::Feedback,
    /// Every channel's dispatcher, polled from its own queue.
    pub dispatchers: BTreeMap<Channel, Arc<dyn Dispatch>>,
    /// The fake Teams and voice providers the dispatchers talk to.
    pub fakes: FakeProviders,
    pub schedules: Arc<Schedules>,
}

impl Functions {
    /// Every function, wired exactly as on Lambda (with a ready SDK configuration), and
    /// the fake providers for what the emulator lacks (Teams, End User Messaging voice).
    pub async fn new(
        config: &herald::Config,
        sdk: &herald::aws_config::SdkConfig,
        fakes: FakeProviders,
    ) -> anyhow::Result<Self> {
        // The emulator has no End User Messaging: that one client goes to the fake.
        let voice_sdk = herald::config::aws_sdk_config_at(&fakes.voice_endpoint()).await;
        let mut dispatchers = BTreeMap::new();
        for channel in stack::QUEUED_CHANNELS {
            let channel_sdk = if channel == Channel::Voice {
                &voice_sdk
            } else {
                sdk
            };
            if let Some(d) =
                herald::dispatch::for_channel(channel, config, Warm::ready(channel_sdk.clone()))
                    .await?
            {
                dispatchers.insert(channel, d);
            }
        }
        Ok(Self {
            ingest: herald_ingest::Deps::new(config, Warm::ready(sdk.clone())).await?,
            recipients: herald_recipients::Deps::new(config).await?,
            magic_link: herald_magic_link::Deps::new(config, Warm::ready(sdk.clone())).await?,
            sms_reply: herald::sms_reply::SmsReplies::new(config, Warm::ready(sdk.clone())).await?,
            feedback: herald::feedback::Feedback::new(config).await?,
            dispatchers,
            fakes,
            schedules: Arc::new(Schedules::new(config, sdk).await?),
        })
    }
}

/// How often the local schedules fire (EventBridge: every minute and every hour).
#[derive(Debug, Clone, Copy)]
pub struct Periods {
    pub retry: Duration,
    pub retention: Duration,
}

impl Default for Periods {
    fn default() -> Self {
        Self {
            retry: Duration::from_secs(60),
            retention: Duration::from_secs(3600),
        }
    }
}

/// Creates the queues and sender identity, then serves HTTP, polls every channel's
/// queue and fires the schedules until stopped.
pub async fn run(
    mut config: herald::Config,
    addr: SocketAddr,
    periods: Periods,
) -> anyhow::Result<()> {
    let sdk = herald::config::aws_sdk_config().await;
    let sqs = herald::aws_sdk_sqs::Client::new(&sdk);
    let ses = herald::aws_sdk_sesv2::Client::new(&sdk);
    let from = config
        .channel(Channel::Email)
        .require("SES_FROM")?
        .to_owned();
    stack::ensure_sender_identity(&ses, &from).await?;
    let table = config
        .rate_limits
        .table
        .get_or_insert_with(|| stack::LOCAL_RATE_LIMIT_TABLE.to_owned())
        .clone();
    herald::rate_limit::ensure_table(&sdk, &table).await?;
    println!("limits    rate-limit counters in DynamoDB table {table}");
    let queues = stack::ensure_channel_queues(&sqs, "herald", 30, 5).await?;
    stack::use_queues(&mut config, &queues);
    for (channel, queue) in &queues {
        println!(
            "queue     {channel:<6} {} (DLQ {}, maxReceiveCount 5, visibility 30 s)",
            queue.url, queue.dlq_url
        );
    }
    let sns = herald::aws_sdk_sns::Client::new(&sdk);
    let inbound = stack::ensure_sms_inbound(&sqs, &sns, "herald", 30, 5).await?;
    println!(
        "inbound   SMS replies: topic {} -> queue {} (raw delivery; DLQ {})",
        inbound.topic_arn, inbound.queue.url, inbound.queue.dlq_url
    );
    let feedback = stack::ensure_feedback(&sqs, &sns, "herald", 30, 5).await?;
    println!(
        "receipts  topic {} -> queue {} (raw delivery; DLQ {})",
        feedback.topic_arn, feedback.queue.url, feedback.queue.dlq_url
    );
    println!("sender    {from} (verified in the emulator's SES)");

    let fakes = FakeProviders::on(
        Some(addr.port() + 1),
        Some(addr.port() + 2),
        Some(addr.port() + 3),
    )
    .await;
    stack::use_slack_api(&mut config, &fakes.slack_api_base());
    stack::use_teams_authority(&mut config, &fakes.teams_authority());
    println!(
        "fakes     Teams webhooks {}/teams/{{name}}, End User Messaging voice {}, Slack Web API {} (GET /_local/fakes/teams | /voice | /slack)",
        fakes.teams.uri(),
        fakes.voice_endpoint(),
        fakes.slack_api_base()
    );
    let functions = Arc::new(Functions::new(&config, &sdk, fakes).await?);
    for (channel, queue) in queues {
        let poller = QueuePoller {
            sqs: sqs.clone(),
            queue_url: queue.url.clone(),
            queue_arn: queue.arn,
            wait_seconds: 1,
        };
        tokio::spawn(poll_forever(channel, poller, functions.clone()));
    }
    tokio::spawn(poll_replies_forever(
        QueuePoller {
            sqs: sqs.clone(),
            queue_url: inbound.queue.url.clone(),
            queue_arn: inbound.queue.arn.clone(),
            wait_seconds: 1,
        },
        functions.clone(),
    ));
    tokio::spawn(poll_feedback_forever(
        QueuePoller {
            sqs: sqs.clone(),
            queue_url: feedback.queue.url.clone(),
            queue_arn: feedback.queue.arn.clone(),
            wait_seconds: 1,
        },
        functions.clone(),
    ));
    tokio::spawn(
        functions
            .schedules
            .clone()
            .run_forever(periods.retry, periods.retention),
    );
    println!(
        "schedule  retry every {} s, retention every {} s (on demand: POST /_local/schedules/retry | /_local/schedules/retention)",
        periods.retry.as_secs(),
        periods.retention.as_secs()
    );

    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    println!(
        "http      http://{addr}  (POST /v1/escalations, GET /v1/escalations/{{id}}, GET|POST /l/{{token}})"
    );
    loop {
        let (stream, peer) = listener.accept().await?;
        let functions = functions.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let functions = functions.clone();
                async move { Ok::<_, Infallible>(serve_one(&functions, peer, req).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error.message = %e, "connection closed");
            }
        });
    }
}

async fn poll_forever(channel: Channel, poller: QueuePoller, functions: Arc<Functions>) {
    let Some(dispatcher) = functions.dispatchers.get(&channel).cloned() else {
        return;
    };
    let route = format!("herald-{channel} -> dispatch-{channel}");
    loop {
        let started = Instant::now();
        let polled = poller
            .poll_once(|event| herald_dispatch::function_handler(dispatcher.as_ref(), event))
            .await;
        report(&route, started, polled).await;
    }
}

/// Prints what one poll did, as the local runner's log shows each batch.
async fn report(route: &str, started: Instant, polled: anyhow::Result<crate::poller::PollStats>) {
    match polled {
        Ok(stats) if stats.received > 0 => println!(
            "sqs       {route}: batch of {} -> {} deleted, {} returned to the queue ({} ms)",
            stats.received,
            stats.deleted,
            stats.returned,
            started.elapsed().as_millis()
        ),
        Ok(_) => {}
        Err(e) => {
            eprintln!("sqs       poll failed: {e:#}");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

async fn poll_replies_forever(poller: QueuePoller, functions: Arc<Functions>) {
    loop {
        let started = Instant::now();
        let polled = poller
            .poll_once(|event| herald_sms_reply::function_handler(&functions.sms_reply, event))
            .await;
        report("herald-sms-inbound -> sms-reply", started, polled).await;
    }
}

async fn poll_feedback_forever(poller: QueuePoller, functions: Arc<Functions>) {
    loop {
        let started = Instant::now();
        let polled = poller
            .poll_once(|event| herald_feedback::function_handler(&functions.feedback, event))
            .await;
        report("herald-feedback -> feedback", started, polled).await;
    }
}

async fn serve_one(
    functions: &Functions,
    peer: SocketAddr,
    req: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    // Magic-link paths carry secrets: never print them.
    let shown_path = if path.starts_with("/l/") {
        "/l/<token>".to_owned()
    } else {
        path.clone()
    };
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .filter_map(|(k, v)| {
            v.to_str()
                .ok()
                .map(|v| (k.as_str().to_owned(), v.to_owned()))
        })
        .collect();
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return plain(413, "payload too large"),
    };
    if method == "GET" && path.starts_with("/_local/fakes") {
        return fake_records(&functions.fakes, &path).await;
    }
    if method == "POST" {
        match path.as_str() {
            "/_local/schedules/retry" => return fired(functions.schedules.fire_retry().await),
            "/_local/schedules/retention" => {
                return fired(functions.schedules.fire_retention().await);
            }
            "/_local/schedules/escalate" => {
                let minutes = query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("minutes="))
                    .and_then(|m| m.parse::<i64>().ok())
                    .filter(|m| (0..=7 * 24 * 60).contains(m))
                    .unwrap_or(0);
                return fired(functions.schedules.fire_engine_ahead(minutes).await);
            }
            _ => {}
        }
    }
    let Some(route) = gateway::match_route(&method, &path) else {
        println!("http      {method} {shown_path} -> no route -> 404");
        return convert(gateway::not_found());
    };
    let request = match gateway::to_lambda_request(
        &route,
        &method,
        &path,
        &query,
        &headers,
        &body,
        peer.ip(),
    ) {
        Ok(r) => r,
        Err(e) => return plain(400, &format!("bad request: {e}")),
    };
    let (function, result) = match route.target {
        Target::Ingest => (
            "ingest",
            herald_ingest::function_handler(&functions.ingest, request).await,
        ),
        Target::Recipients => (
            "recipients",
            herald_recipients::function_handler(&functions.recipients, request).await,
        ),
        Target::MagicLink => (
            "magic-link",
            herald_magic_link::function_handler(&functions.magic_link, request).await,
        ),
    };
    let response = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("http      {function} failed: {e}");
            return plain(502, "Internal Server Error");
        }
    };
    println!(
        "http      {method} {shown_path} -> {function} -> {} ({} ms)",
        response.status().as_u16(),
        started.elapsed().as_millis()
    );
    convert(response)
}

/// What the fake providers received, for the demo: `/_local/fakes` (their addresses),
/// `/_local/fakes/teams`, `/_local/fakes/voice`, `/_local/fakes/slack`.
async fn fake_records(fakes: &FakeProviders, path: &str) -> hyper::Response<Full<Bytes>> {
    let records = |received: Vec<crate::fakes::Received>| {
        serde_json::Value::Array(
            received
                .into_iter()
                .map(|r| serde_json::json!({ "path": r.path, "body": r.body }))
                .collect(),
        )
    };
    let body = match path.trim_end_matches('/') {
        "/_local/fakes" => serde_json::json!({
            "teams": format!("{}/teams/", fakes.teams.uri()),
            "voice": fakes.voice_endpoint(),
            "slack": fakes.slack_api_base(),
        }),
        "/_local/fakes/slack" => records(fakes.slack_calls().await),
        "/_local/fakes/teams" => {
            let all = fakes.teams.received_requests().await.unwrap_or_default();
            let names: std::collections::BTreeSet<String> =
                all.iter().map(|r| r.url.path().to_owned()).collect();
            let mut received = Vec::new();
            for name in names {
                if let Some(name) = name.strip_prefix("/teams/") {
                    received.extend(fakes.teams_posts(name).await);
                }
            }
            records(received)
        }
        "/_local/fakes/voice" => records(fakes.voice_calls().await),
        _ => return plain(404, "no such fake"),
    };
    hyper::Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("static response")
}

/// The answer to an on-demand schedule: the function's summary as JSON.
fn fired<T: serde::Serialize>(result: anyhow::Result<T>) -> hyper::Response<Full<Bytes>> {
    match result.and_then(|s| Ok(serde_json::to_string(&s)?)) {
        Ok(json) => {
            println!("schedule  on demand: {json}");
            hyper::Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(json)))
                .expect("static response")
        }
        Err(e) => {
            eprintln!("schedule  on demand failed: {e:#}");
            plain(502, "the scheduled function failed")
        }
    }
}

fn convert(response: lambda_http::Response<Body>) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = response.into_parts();
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(t) => Bytes::from(t),
        Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    hyper::Response::from_parts(parts, Full::new(bytes))
}

fn plain(status: u16, text: &str) -> hyper::Response<Full<Bytes>> {
    hyper::Response::builder()
        .status(status)
        .body(Full::new(Bytes::from(text.to_owned())))
        .expect("static response")
}
