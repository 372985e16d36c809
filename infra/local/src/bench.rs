//! `herald-local bench`: the figures the README promises, measured on the local stack.
//!
//! 1. ingest throughput (escalations/s, notification rows/s) at concurrency 1 and 8,
//!    beside a raw tokio-postgres loop inserting the same rows into the same tables;
//! 2. SQL statements per dispatch batch, counted on the wire by a proxy in front of
//!    PostgreSQL (Execute and simple-Query messages);
//! 3. process start -> first Runtime API poll for each function binary and for a
//!    hello-world `lambda_runtime` binary;
//! 4. release binary sizes;
//! 5. the scheduled functions on a large table (sections 5 to 7, see
//!    [`crate::bench_scheduled`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use herald::db::{Actor, ActorKind};
use herald::domain::{Channel, IngestRequest, NewEscalation};
use herald::warm::Warm;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use uuid::Uuid;

use crate::stack;

/// Every function binary, as `infra/template.yaml` deploys them.
pub const FUNCTIONS: [&str; 13] = [
    "ingest",
    "recipients",
    "dispatch-email",
    "dispatch-sms",
    "dispatch-push",
    "dispatch-slack",
    "dispatch-teams",
    "dispatch-voice",
    "magic-link",
    "sms-reply",
    "feedback",
    "retry",
    "retention",
];

pub struct BenchArgs {
    /// `postgres://…/postgres?sslmode=disable`: the bench creates its own database.
    pub admin_url: String,
    pub seconds: u64,
    pub release_dir: PathBuf,
    pub lambda_dir: PathBuf,
    /// Only one part of the figures.
    pub only: Option<Only>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Only {
    /// Section 1: ingest against its own statement (for profiling it).
    Ingest,
    /// Sections 5 to 7: the scheduled functions.
    Scheduled,
    /// Section 2: every channel's dispatch batches.
    Dispatch,
    /// Section 6b: the escalation engine.
    Engine,
    /// Section 9: delivery receipts and the delivery figures.
    Receipts,
    /// Section 8: end to end on the local stack.
    EndToEnd,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let db_url = fresh_database(&args.admin_url, "herald_bench").await?;
    let mut client = connect(&db_url).await?;
    herald::db::migrate(&mut client, &herald::db::migrations_dir()).await?;
    let sdk = herald::config::aws_sdk_config().await;
    let sqs = herald::aws_sdk_sqs::Client::new(&sdk);
    let ses = herald::aws_sdk_sesv2::Client::new(&sdk);
    stack::ensure_sender_identity(&ses, "bench@alerts.example.com").await?;
    // A fresh rate-limit table per run: the emulator's TransactWriteItems copies the whole
    // table once per item it writes, so a table filled by earlier runs would time the
    // emulator, not Herald (the sections against the instant endpoint never reach it).
    let rate_limit_table = format!("herald-bench-rate-limits-{}", Uuid::new_v4().simple());
    herald::rate_limit::ensure_table(&sdk, &rate_limit_table).await?;
    let queue = stack::ensure_queue(
        &sqs,
        &format!("herald-bench-{}", Uuid::new_v4().simple()),
        30,
        5,
    )
    .await?;
    // One queue URL for every channel: the bench's SQS is the instant endpoint (or the
    // emulator, where a row says so), which never needs a real queue per channel.
    let queues: BTreeMap<Channel, stack::QueuePair> = stack::QUEUED_CHANNELS
        .into_iter()
        .map(|c| (c, queue.clone()))
        .collect();
    let config = |url: &str, pool_size: usize| {
        stack::local_config(
            url,
            &queues,
            &[
                ("HERALD_DB_POOL_SIZE", &pool_size.to_string()),
                ("HERALD_SES_FROM", "bench@alerts.example.com"),
                ("HERALD_PUBLIC_BASE_URL", "https://herald.bench"),
                ("HERALD_RATE_LIMIT_TABLE", &rate_limit_table),
            ],
        )
        .expect("the bench's configuration is valid")
    };

    // The same handlers with every provider (SQS included) answered by an instant local
    // endpoint: the SDK's own work (serialising, signing, HTTP) stays in, the
    // providers' latency goes out.
    let (instant, arrivals) = crate::bench_channels::start_instant_provider().await?;
    if args.only == Some(Only::Receipts) {
        return crate::bench_receipts::run(&args.admin_url, config, args.seconds).await;
    }
    if matches!(args.only, Some(Only::Scheduled | Only::Engine)) {
        return crate::bench_scheduled::run(
            &args.admin_url,
            config,
            instant,
            args.seconds,
            args.only == Some(Only::Engine),
        )
        .await;
    }
    let fast_sdk = crate::bench_channels::instant_sdk(instant).await;
    let ingest_fast = Arc::new(
        herald_ingest::Deps::new(&config(&db_url, 8), Warm::ready(fast_sdk.clone())).await?,
    );
    let pool = ingest_fast.pool.clone();
    let (tenant, key) = stack::create_tenant(&pool.get().await?, "Bench").await?;
    let key = Arc::new(key);
    if args.only == Some(Only::EndToEnd) {
        println!(
            "== 8. end to end on the local stack: POST -> the provider's request (release build; email and SMS: Teams needs section 2's webhooks)"
        );
        let moto =
            std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:5055".into());
        return crate::bench_channels::end_to_end(
            &[Channel::Email, Channel::Sms],
            &config(&db_url, 8),
            &key,
            &moto,
            instant,
            arrivals,
            100,
        )
        .await;
    }

    if args.only != Some(Only::Dispatch) {
        println!(
            "== 1. ingest vs its own statement executed raw ({} s per run; 1 recipient, 3 notification rows per escalation)",
            args.seconds
        );
        let duration = Duration::from_secs(args.seconds);
        let moto_batch = sqs_latency(&sqs, &queue.url).await?;
        println!(
            "(the emulator answers one SendMessageBatch in {:.1} ms, one request at a time)",
            ms(moto_batch)
        );
        println!("{:<58} {:>14} {:>16}", "", "escalations/s", "notif. rows/s");
        for concurrency in [1, 8] {
            // Three rounds, each running the three loops in turn; medians: the shared
            // machine drifts between runs, and alternating keeps the ratio fair. Ingest and
            // its statement both run as `concurrency` Lambda-like instances (see
            // `instances_rate`).
            let (mut statements, mut fasts, mut raws) = (Vec::new(), Vec::new(), Vec::new());
            let instance_config = config(&db_url, 1);
            for _ in 0..3 {
                statements.push(
                    statement_rate(&instance_config, &fast_sdk, tenant, concurrency, duration)
                        .await?,
                );
                fasts.push(
                    ingest_rate(&instance_config, &fast_sdk, &key, concurrency, duration).await?,
                );
                raws.push(raw_rate(&db_url, concurrency, duration).await?);
            }
            let (statement, fast, raw) = (median(statements), median(fasts), median(raws));
            let emulated = ingest_rate(&instance_config, &sdk, &key, concurrency, duration).await?;
            let row = |label: String, rate: f64| {
                println!("{label:<58} {rate:>14.0} {:>16.0}", rate * 3.0)
            };
            row(
                format!("ingest's statement alone, raw (fair baseline), concurrency {concurrency}"),
                statement,
            );
            row(
                format!("ingest handler, instant SQS endpoint, concurrency {concurrency}"),
                fast,
            );
            row(
                format!("ingest handler, SQS emulator, concurrency {concurrency}"),
                emulated,
            );
            row(
                format!("(old baseline: 8 round trips, BEGIN/6 INSERTs/COMMIT), c {concurrency}"),
                raw,
            );
            println!(
                "{:<58} {:>13.0}%   (target >= 60%)",
                "ingest (instant SQS) / its own statement raw",
                fast / statement * 100.0
            );
        }
        println!(
            "\nwhere an ingest request's time goes (one at a time, medians of 2000, microseconds):"
        );
        for (part, t) in ingest_parts(&ingest_fast, &key, tenant).await? {
            println!("  {part:<56} {:>8.1} us", t.as_secs_f64() * 1e6);
        }
    }
    if args.only == Some(Only::Ingest) {
        return Ok(());
    }

    println!("\n== 2. every channel: batches of 10 through its dispatcher to an instant provider");
    let counter = Arc::new(WireCounter::default());
    let proxy = start_counting_proxy(&db_url, counter.clone()).await?;
    let proxied_url = db_url.replacen(&host_port(&db_url)?, &proxy.to_string(), 1);
    crate::bench_channels::dispatch_per_channel(
        &config(&db_url, 2),
        &config(&proxied_url, 2),
        &ingest_fast,
        &key,
        instant,
        &counter,
        args.seconds.min(5),
    )
    .await?;
    // The rest of section 2: Slack's buttons and rewrites, SMS replies.
    crate::bench_channels::slack_actions(&config(&db_url, 4), &ingest_fast, &key, instant, 300)
        .await?;
    crate::bench_channels::sms_replies(&config(&db_url, 4), &ingest_fast, &key, instant, 300)
        .await?;
    if args.only == Some(Only::Dispatch) {
        return Ok(());
    }

    println!("\n== 3. cold start: process start -> first Runtime API poll (median of 15)");
    let mut env = vec![
        ("HERALD_DATABASE_URL".to_owned(), db_url.clone()),
        (
            "HERALD_PUBLIC_BASE_URL".to_owned(),
            "https://herald.bench".to_owned(),
        ),
        (
            "HERALD_SES_FROM".to_owned(),
            "bench@alerts.example.com".to_owned(),
        ),
        (
            "HERALD_SECRET_KEYS".to_owned(),
            stack::LOCAL_SECRET_KEYS.to_owned(),
        ),
        (
            "HERALD_VOICE_ORIGINATION_IDENTITY".to_owned(),
            stack::LOCAL_VOICE_NUMBER.to_owned(),
        ),
        ("AWS_ENDPOINT_URL".to_owned(), format!("http://{instant}")),
    ];
    for channel in stack::QUEUED_CHANNELS {
        env.push((
            format!("HERALD_QUEUE_URL_{}", channel.env_name()),
            format!("http://{instant}/000000000000/herald-{channel}"),
        ));
    }
    let hello = cold_start(&args.release_dir.join("hello-lambda"), &env).await?;
    println!(
        "{:<16} {:>8.2} ms   (lambda_runtime on tokio's current-thread runtime, as every function)",
        "hello-lambda",
        ms(hello)
    );
    for bin in FUNCTIONS {
        let t = cold_start(&args.release_dir.join(bin), &env).await?;
        println!(
            "{:<16} {:>8.2} ms   {:.2}x hello-lambda (target <= 2x)",
            bin,
            ms(t),
            ms(t) / ms(hello)
        );
    }
    println!(
        "\ninit + first invoke under a fake Runtime API (median of 9): the first event pays the lazy set-up"
    );
    let ingest_event = {
        let key = key.clone();
        move || ingest_event(&key)
    };
    let (init, first, answer) = crate::bench_channels::init_and_first_invoke(
        &args.release_dir.join("ingest"),
        &env,
        ingest_event,
        9,
    )
    .await?;
    if !answer.contains("\"statusCode\":202") {
        bail!("ingest's first invoke answered {answer}");
    }
    println!(
        "{:<16} init {:>6.2} ms, first invoke (POST /v1/escalations, 202) {:>6.2} ms",
        "ingest",
        ms(init),
        ms(first)
    );
    let mut sms_ids = Vec::new();
    for n in 0..9 {
        let body = crate::bench_channels::escalation_on(
            Channel::Sms,
            1,
            &format!("cold {n} {}", Uuid::new_v4()),
        );
        sms_ids.push(post_ids(&ingest_fast, &key, &body).await?);
    }
    let sms_ids = std::sync::Mutex::new(sms_ids);
    let (init, first, answer) = crate::bench_channels::init_and_first_invoke(
        &args.release_dir.join("dispatch-sms"),
        &env,
        || {
            let ids = sms_ids
                .lock()
                .ok()
                .and_then(|mut v| v.pop())
                .context("out of rows")?;
            Ok(sqs_event(&ids))
        },
        9,
    )
    .await?;
    if !answer.contains("\"batchItemFailures\":[]") {
        bail!("dispatch-sms's first invoke answered {answer}");
    }
    println!(
        "{:<16} init {:>6.2} ms, first invoke (one queued SMS: claim, opt-out check, publish, record) {:>6.2} ms",
        "dispatch-sms",
        ms(init),
        ms(first)
    );
    println!("what that first invoke pays for (each timed alone in this process, median of 9):");
    for (part, t) in crate::bench_channels::first_invoke_parts(&db_url, instant).await? {
        println!("  {part:<48} {:>7.2} ms", ms(t));
    }

    println!("\n== 4. release binary sizes (target <= 8 MB, decimal: 1 MB = 10^6 bytes)");
    for bin in FUNCTIONS {
        let arm = args.lambda_dir.join(bin).join("bootstrap");
        let host = args.release_dir.join(bin);
        println!(
            "{:<16} arm64 (cargo lambda build --release --arm64): {:>22}   host release: {:>22}",
            bin,
            size(&arm),
            size(&host)
        );
    }

    crate::bench_scheduled::run(&args.admin_url, config, instant, args.seconds, false).await?;

    println!(
        "\n== 8. end to end on the local stack: POST -> the provider's request (release build)"
    );
    let moto = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:5055".into());
    crate::bench_channels::end_to_end(
        &[Channel::Teams, Channel::Email, Channel::Sms],
        &config(&db_url, 8),
        &key,
        &moto,
        instant,
        arrivals,
        100,
    )
    .await?;
    println!();
    crate::bench_receipts::run(&args.admin_url, config, args.seconds).await?;
    Ok(())
}

/// An SQS event naming these notifications, as Lambda delivers it.
fn sqs_event(ids: &[Uuid]) -> serde_json::Value {
    json!({ "Records": ids.iter().map(|id| json!({
        "messageId": Uuid::new_v4().to_string(),
        "receiptHandle": "bench",
        "body": json!({ "notification_id": id }).to_string(),
        "attributes": { "ApproximateReceiveCount": "1" },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:herald-sms",
        "awsRegion": "us-east-1"
    })).collect::<Vec<_>>() })
}

/// The API Gateway v2 event of `POST /v1/escalations` with a fresh escalation.
fn ingest_event(key: &SecretString) -> anyhow::Result<serde_json::Value> {
    Ok(serde_json::from_str(&api_event(
        key,
        &escalation(rand_u64()),
    ))?)
}

fn rand_u64() -> u64 {
    u64::from_le_bytes(
        Uuid::new_v4().as_bytes()[..8]
            .try_into()
            .unwrap_or_default(),
    )
}

/// Median SendMessageBatch (10 entries) round trip against the emulator.
async fn sqs_latency(
    sqs: &herald::aws_sdk_sqs::Client,
    queue_url: &str,
) -> anyhow::Result<Duration> {
    let queue = herald::queue::Enqueuer::new(sqs.clone(), queue_url);
    let envelopes: Vec<_> = (0..10)
        .map(|_| herald::queue::Envelope {
            notification_id: Uuid::new_v4(),
            trace_id: None,
        })
        .collect();
    let mut samples = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        queue.enqueue(&envelopes).await;
        samples.push(started.elapsed());
    }
    sqs.purge_queue().queue_url(queue_url).send().await.ok();
    samples.sort();
    Ok(samples[samples.len() / 2])
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Decimal megabytes first (the target's unit), then mebibytes.
fn size(path: &Path) -> String {
    std::fs::metadata(path).map_or_else(
        |_| "not built".to_owned(),
        |m| {
            format!(
                "{:.2} MB ({:.2} MiB)",
                m.len() as f64 / 1e6,
                m.len() as f64 / 1_048_576.0
            )
        },
    )
}

/// The `p` quantile (0..=1) of some durations.
pub(crate) fn percentile(samples: &[Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted = samples.to_vec();
    sorted.sort();
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub(crate) async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    Ok(client)
}

pub(crate) async fn fresh_database(admin_url: &str, name: &str) -> anyhow::Result<String> {
    let admin = connect(admin_url).await.context("connecting as admin")?;
    admin
        .batch_execute(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
        .await?;
    admin
        .batch_execute(&format!(r#"CREATE DATABASE "{name}""#))
        .await?;
    let (base, rest) = admin_url
        .rsplit_once('/')
        .context("admin url has no database")?;
    let query = rest
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or("sslmode=disable");
    Ok(format!("{base}/{name}?{query}"))
}

fn host_port(url: &str) -> anyhow::Result<String> {
    let after_at = url.split_once('@').map_or(url, |(_, r)| r);
    let host_port = after_at.split('/').next().context("no host")?;
    Ok(host_port.to_owned())
}

pub(crate) fn escalation(n: u64) -> serde_json::Value {
    json!({
        "dedup_key": format!("bench-{}", Uuid::new_v4()),
        "title": "Primary database CPU above 95%",
        "body": "p99 latency 2.3 s; connections saturating.",
        "priority": "critical", "service": "orders-db", "team": "platform", "alert_count": 3,
        "dashboard_url": "https://grafana.example.com/d/orders-db",
        "recipients": [{ "id": format!("u-{n}"), "name": "Alice Martin", "email": format!("u{n}@example.com") }]
    })
}

/// The API Gateway v2 event of `POST /v1/escalations` with `body`, as Lambda delivers it.
fn api_event(key: &SecretString, body: &serde_json::Value) -> String {
    format!(
        r#"{{"version":"2.0","routeKey":"POST /v1/escalations","rawPath":"/v1/escalations","rawQueryString":"",
"headers":{{"authorization":"Bearer {key}","content-type":"application/json"}},
"requestContext":{{"accountId":"000000000000","apiId":"bench","domainName":"127.0.0.1","domainPrefix":"bench",
"http":{{"method":"POST","path":"/v1/escalations","protocol":"HTTP/1.1","sourceIp":"127.0.0.1","userAgent":"bench"}},
"requestId":"{id}","routeKey":"POST /v1/escalations","stage":"$default","time":"22/Nov/2026:03:12:05 +0000","timeEpoch":0}},
"body":{body},"isBase64Encoded":false}}"#,
        key = key.expose_secret(),
        id = Uuid::new_v4(),
        body = serde_json::to_string(&body.to_string()).unwrap_or_default(),
    )
}

pub(crate) async fn post(
    ingest: &herald_ingest::Deps,
    key: &SecretString,
    body: &serde_json::Value,
) -> anyhow::Result<u16> {
    Ok(post_response(ingest, key, body).await?.0)
}

/// Posts through the handler, parsed the way the runtime parses what API Gateway sends.
async fn post_response(
    ingest: &herald_ingest::Deps,
    key: &SecretString,
    body: &serde_json::Value,
) -> anyhow::Result<(u16, String)> {
    let req = lambda_http::request::from_str(&api_event(key, body))?;
    let res = herald_ingest::function_handler(ingest, req)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let status = res.status().as_u16();
    let text = match res.into_body() {
        lambda_http::Body::Text(t) => t,
        lambda_http::Body::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
        _ => String::new(),
    };
    Ok((status, text))
}

/// Posts `body` and returns the ids of its queued notification rows.
pub(crate) async fn post_ids(
    ingest: &herald_ingest::Deps,
    key: &SecretString,
    body: &serde_json::Value,
) -> anyhow::Result<Vec<Uuid>> {
    let (status, text) = post_response(ingest, key, body).await?;
    if status != 202 {
        bail!("ingest answered {status}: {text}");
    }
    let created: serde_json::Value = serde_json::from_str(&text)?;
    Ok(created["notifications"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["status"] == "queued")
        .filter_map(|n| n["id"].as_str().and_then(|id| id.parse().ok()))
        .collect())
}

/// `instances` Lambda-like instances of a function, each its own OS thread running
/// tokio's current-thread runtime (as every function binary does) with its own
/// `herald_ingest::Deps` built by the one constructor (a pool of one connection, its own
/// SQS client): one request at a time per instance, as Lambda runs them. Each instance
/// is set up and warmed by one call before the clock starts; then every instance calls
/// `work(deps, n)` (n unique across instances) until `duration` is over. Returns calls
/// per second, all instances together.
async fn instances_rate<W>(
    instances: usize,
    config: &herald::Config,
    sdk: &herald::aws_config::SdkConfig,
    duration: Duration,
    work: W,
) -> anyhow::Result<f64>
where
    W: AsyncFn(&herald_ingest::Deps, u64) -> anyhow::Result<()> + Clone + Send + 'static,
{
    let counter = Arc::new(AtomicU64::new(0));
    let barrier = Arc::new(std::sync::Barrier::new(instances + 1));
    let threads: Vec<_> = (0..instances)
        .map(|i| {
            let (config, sdk, work) = (config.clone(), sdk.clone(), work.clone());
            let (counter, barrier) = (counter.clone(), barrier.clone());
            std::thread::spawn(move || -> anyhow::Result<u64> {
                // Whatever happens in the set-up, the barrier is reached (or every other
                // instance would wait for this one forever); the error comes after.
                let ready = (|| {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    let deps = runtime.block_on(async {
                        let deps = herald_ingest::Deps::new(&config, Warm::ready(sdk)).await?;
                        work(&deps, u64::MAX - i as u64).await?;
                        anyhow::Ok(deps)
                    })?;
                    anyhow::Ok((runtime, deps))
                })();
                barrier.wait();
                let (runtime, deps) = ready?;
                runtime.block_on(async {
                    let started = Instant::now();
                    let mut done = 0;
                    while started.elapsed() < duration {
                        work(&deps, counter.fetch_add(1, Ordering::Relaxed)).await?;
                        done += 1;
                    }
                    Ok(done)
                })
            })
        })
        .collect();
    let wait = tokio::task::spawn_blocking(move || {
        barrier.wait();
        let started = Instant::now();
        let mut total = 0;
        for t in threads {
            total += t
                .join()
                .map_err(|_| anyhow::anyhow!("an instance panicked"))??;
        }
        anyhow::Ok(total as f64 / started.elapsed().as_secs_f64())
    });
    wait.await?
}

async fn ingest_rate(
    config: &herald::Config,
    sdk: &herald::aws_config::SdkConfig,
    key: &Arc<SecretString>,
    instances: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    let key = key.clone();
    instances_rate(
        instances,
        config,
        sdk,
        duration,
        async move |deps: &herald_ingest::Deps, n: u64| {
            let status = post(deps, &key, &escalation(n)).await?;
            if status != 202 {
                bail!("ingest answered {status}");
            }
            Ok(())
        },
    )
    .await
}

/// The fair baseline: ingest's own statement (`db::escalations::create`, one round trip)
/// with already parsed input, in the same instances as ingest (same runtime, same pool of
/// one connection, same `Deps`), at the same concurrency. What is left
/// between this and the handler is Herald's own work: the event, JSON, validation,
/// authentication and the SQS request.
async fn statement_rate(
    config: &herald::Config,
    sdk: &herald::aws_config::SdkConfig,
    tenant: Uuid,
    instances: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    let request = IngestRequest::from_json(escalation(0).to_string().as_bytes())
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let template = NewEscalation::try_from(request)
        .map_err(|e| anyhow::anyhow!("{:?}", e.first().map(|f| &f.message)))?;
    let channels = config.engine_channels();
    let planned = first_wave(&template, &channels);
    let actor = bench_actor();
    instances_rate(
        instances,
        config,
        sdk,
        duration,
        async move |deps: &herald_ingest::Deps, n: u64| {
            let (mut e, planned) = renamed(&template, &planned, format!("u-{n}"));
            e.dedup_key = Some(format!("bench-{}", Uuid::new_v4()));
            let resolved = resolved(&e)?;
            let client = deps.pool.get().await?;
            herald::db::escalations::create(&client, tenant, &e, &resolved, &planned, &actor)
                .await?;
            Ok(())
        },
    )
    .await
}

/// The policy of an escalation that names only its own people (no lookup).
fn resolved(e: &NewEscalation) -> anyhow::Result<herald::domain::escalation::Resolved> {
    herald::domain::escalation::resolve(e, None, &Default::default())
        .map_err(|f| anyhow::anyhow!("{}", f.message))
}

/// The first wave ingest plans for `e`.
fn first_wave(
    e: &NewEscalation,
    channels: &herald::domain::engine::Channels,
) -> herald::domain::engine::Plan {
    let resolved = resolved(e).expect("an escalation naming its own people");
    herald::domain::engine::first_wave(
        &resolved.policy,
        &herald::domain::escalation::People {
            given: &e.recipients,
            stored: &resolved.stored_people,
        },
        channels,
        chrono::Utc::now(),
    )
}

/// `e` and its plan with its first recipient renamed `id` (so concurrent inserts do not
/// queue on one recipient row).
fn renamed(
    e: &NewEscalation,
    plan: &herald::domain::engine::Plan,
    id: String,
) -> (NewEscalation, herald::domain::engine::Plan) {
    let old = e.recipients[0].external_id.clone();
    let (mut e, mut plan) = (e.clone(), plan.clone());
    if let herald::domain::escalation::PolicySource::Given { policy, .. } = &mut e.policy {
        for who in policy
            .levels
            .iter_mut()
            .flat_map(|l| l.recipients.iter_mut())
        {
            if *who == old {
                who.clone_from(&id);
            }
        }
    }
    for row in plan.rows.iter_mut().filter(|r| r.recipient == old) {
        row.recipient.clone_from(&id);
    }
    e.recipients[0].external_id = id;
    (e, plan)
}

fn bench_actor() -> Actor {
    Actor {
        kind: ActorKind::ApiKey,
        id: Uuid::nil().to_string(),
        display: "API key bench".into(),
        recipient_id: None,
        ip: None,
        user_agent: None,
    }
}

/// Each part of one ingest request timed alone, one at a time (medians).
async fn ingest_parts(
    ingest: &herald_ingest::Deps,
    key: &SecretString,
    tenant: Uuid,
) -> anyhow::Result<Vec<(&'static str, Duration)>> {
    fn timed<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
        let samples: Vec<Duration> = (0..runs)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(f());
                t.elapsed()
            })
            .collect();
        percentile(&samples, 0.5)
    }
    let body = escalation(1);
    let bytes = body.to_string().into_bytes();
    let event = api_event(key, &body);
    let mut parts = vec![
        (
            "API Gateway event -> lambda_http Request (the runtime)",
            timed(2000, || lambda_http::request::from_str(&event).ok()),
        ),
        (
            "JSON body -> IngestRequest (serde, with paths)",
            timed(2000, || IngestRequest::from_json(&bytes).ok()),
        ),
    ];
    let request = || IngestRequest::from_json(&bytes).expect("valid");
    let mut reqs: Vec<IngestRequest> = (0..2000).map(|_| request()).collect();
    parts.push((
        "validation into NewEscalation (email, E.164, zone...)",
        timed(2000, || reqs.pop().map(NewEscalation::try_from)),
    ));
    let escalation_value =
        NewEscalation::try_from(request()).map_err(|_| anyhow::anyhow!("invalid"))?;
    parts.push((
        "planning the first wave (the engine's planner)",
        timed(2000, || first_wave(&escalation_value, &ingest.channels)),
    ));
    let planned = first_wave(&escalation_value, &ingest.channels);
    let actor = bench_actor();
    let mut samples = Vec::new();
    for n in 0..500 {
        let (mut e, planned) = renamed(&escalation_value, &planned, format!("parts-{n}"));
        e.dedup_key = Some(format!("parts-{}", Uuid::new_v4()));
        let resolved = resolved(&e)?;
        let client = ingest.pool.get().await?;
        let t = Instant::now();
        herald::db::escalations::create(&client, tenant, &e, &resolved, &planned, &actor).await?;
        samples.push(t.elapsed());
    }
    parts.push((
        "the statement: one round trip to PostgreSQL",
        percentile(&samples, 0.5),
    ));
    let queues = ingest.queues.get().await?;
    let mut samples = Vec::new();
    for _ in 0..500 {
        let envelope = herald::queue::Envelope {
            notification_id: Uuid::new_v4(),
            trace_id: Some("bench".into()),
        };
        let t = Instant::now();
        queues.enqueue(&[(Channel::Email, envelope)]).await;
        samples.push(t.elapsed());
    }
    parts.push((
        "SendMessageBatch to the instant endpoint (serialise, sign, HTTP)",
        percentile(&samples, 0.5),
    ));
    let mut samples = Vec::new();
    for n in 0..500 {
        let body = escalation(2_000_000 + n).to_string();
        let client = ingest.pool.get().await?;
        let t = Instant::now();
        herald::ingest::create_escalation(
            &client,
            &ingest.queues,
            &ingest.channels,
            tenant,
            body.as_bytes(),
            &actor,
            "bench",
        )
        .await?;
        samples.push(t.elapsed());
    }
    parts.push((
        "the use case: JSON, validation, the statement, SQS",
        percentile(&samples, 0.5),
    ));
    let mut samples = Vec::new();
    for n in 0..500 {
        let t = Instant::now();
        post(ingest, key, &escalation(1_000_000 + n)).await?;
        samples.push(t.elapsed());
    }
    parts.push((
        "the whole handler (from the parsed event to the 202)",
        percentile(&samples, 0.5),
    ));
    Ok(parts)
}

/// The old baseline, kept for comparison: the same rows ingest writes (escalation,
/// recipient, three notification rows, one audit row) as eight round trips (BEGIN, six
/// INSERTs, COMMIT), one plain transaction per escalation.
async fn raw_rate(db_url: &str, concurrency: usize, duration: Duration) -> anyhow::Result<f64> {
    let setup = connect(db_url).await?;
    let tenant: Uuid = setup
        .query_one(
            "INSERT INTO tenants (name) VALUES ('raw') RETURNING id",
            &[],
        )
        .await?
        .get(0);
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let mut client = connect(db_url).await?;
        let counter = counter.clone();
        tasks.push(tokio::spawn(async move {
            let esc = client
                .prepare(
                    "INSERT INTO escalations (tenant_id, dedup_key, title, body, priority, service, team, alert_count, \
                     dashboard_url, channel_policy) VALUES ($1, $2, $3, $4, 'critical', 'orders-db', 'platform', 3, \
                     'https://grafana.example.com/d/orders-db', '{}') RETURNING id",
                )
                .await?;
            let rcp = client
                .prepare("INSERT INTO recipients (tenant_id, external_id, name, email) VALUES ($1, $2, 'Alice Martin', $3) RETURNING id")
                .await?;
            let ntf = client
                .prepare(
                    "INSERT INTO notification_log (tenant_id, escalation_id, recipient_id, channel, status, suppressed_reason, next_attempt_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $5 = 'queued' THEN now() END)",
                )
                .await?;
            let evt = client
                .prepare("INSERT INTO event_log (tenant_id, escalation_id, event_type, actor_type) VALUES ($1, $2, 'escalation.triggered', 'api_key')")
                .await?;
            while started.elapsed() < duration {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let tx = client.transaction().await?;
                let e: Uuid = tx
                    .query_one(&esc, &[&tenant, &format!("raw-{}", Uuid::new_v4()), &"Primary database CPU above 95%", &"p99 latency 2.3 s; connections saturating."])
                    .await?
                    .get(0);
                let r: Uuid = tx.query_one(&rcp, &[&tenant, &format!("raw-{n}"), &format!("raw{n}@example.com")]).await?.get(0);
                tx.execute(&ntf, &[&tenant, &e, &r, &"email", &"queued", &None::<&str>]).await?;
                tx.execute(&ntf, &[&tenant, &e, &r, &"slack", &"suppressed", &Some("channel_not_enabled")]).await?;
                tx.execute(&ntf, &[&tenant, &e, &r, &"push", &"suppressed", &Some("channel_not_enabled")]).await?;
                tx.execute(&evt, &[&tenant, &e]).await?;
                tx.commit().await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(counter.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}

/// Frontend protocol messages seen by the proxy.
#[derive(Default)]
pub(crate) struct WireCounter {
    executes: AtomicU64,
    queries: AtomicU64,
    syncs: AtomicU64,
}

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct WireSnapshot {
    executes: u64,
    queries: u64,
    syncs: u64,
}

impl WireSnapshot {
    /// Adds what went over the wire between `before` and `after`.
    pub(crate) fn add(&mut self, after: &WireSnapshot, before: &WireSnapshot) {
        self.executes += after.executes - before.executes;
        self.queries += after.queries - before.queries;
        self.syncs += after.syncs - before.syncs;
    }

    /// Statements: extended-protocol Executes plus simple Queries.
    pub(crate) fn statements(&self) -> u64 {
        self.executes + self.queries
    }

    /// Round trips: each extended-protocol Sync or simple Query waits for the server.
    pub(crate) fn round_trips(&self) -> u64 {
        self.syncs + self.queries
    }
}

impl WireCounter {
    pub(crate) fn snapshot(&self) -> WireSnapshot {
        WireSnapshot {
            executes: self.executes.load(Ordering::SeqCst),
            queries: self.queries.load(Ordering::SeqCst),
            syncs: self.syncs.load(Ordering::SeqCst),
        }
    }
}

/// A TCP proxy to PostgreSQL that counts Execute ('E'), simple Query ('Q') and Sync
/// ('S') messages from the client: statements and round trips, exactly.
async fn start_counting_proxy(
    db_url: &str,
    counter: Arc<WireCounter>,
) -> anyhow::Result<SocketAddr> {
    let upstream = host_port(db_url)?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let (upstream, counter) = (upstream.clone(), counter.clone());
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    return;
                };
                // No Nagle on either leg: a proxy must not hold small messages back (with
                // the peer's delayed ACKs that costs ~40 ms a round trip).
                let _ = (client.set_nodelay(true), server.set_nodelay(true));
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let to_client =
                    tokio::spawn(async move { tokio::io::copy(&mut sr, &mut cw).await });
                let _ = count_frontend(&mut cr, &mut sw, &counter).await;
                to_client.abort();
            });
        }
    });
    Ok(addr)
}

async fn count_frontend(
    from: &mut (impl AsyncReadExt + Unpin),
    to: &mut (impl AsyncWriteExt + Unpin),
    counter: &WireCounter,
) -> anyhow::Result<()> {
    // The startup message has no type byte: int32 length, then the rest.
    let len = from.read_i32().await? as usize;
    let mut startup = vec![0u8; len - 4];
    from.read_exact(&mut startup).await?;
    to.write_i32(len as i32).await?;
    to.write_all(&startup).await?;
    loop {
        let kind = from.read_u8().await?;
        let len = from.read_i32().await? as usize;
        let mut payload = vec![0u8; len - 4];
        from.read_exact(&mut payload).await?;
        match kind {
            b'E' => counter.executes.fetch_add(1, Ordering::SeqCst),
            b'Q' => counter.queries.fetch_add(1, Ordering::SeqCst),
            b'S' => counter.syncs.fetch_add(1, Ordering::SeqCst),
            _ => 0,
        };
        // One write per message, as the client sent it.
        let mut message = Vec::with_capacity(len + 1);
        message.push(kind);
        message.extend_from_slice(&(len as i32).to_be_bytes());
        message.extend_from_slice(&payload);
        to.write_all(&message).await?;
    }
}

/// Starts a function binary the way Lambda does: only its configuration and Lambda's
/// own variables in the environment, the Runtime API at `api`.
pub(crate) fn spawn_function(
    binary: &Path,
    env: &[(String, String)],
    api: SocketAddr,
) -> anyhow::Result<tokio::process::Child> {
    Ok(tokio::process::Command::new(binary)
        .env_clear()
        .envs(env.iter().cloned())
        .env("AWS_LAMBDA_RUNTIME_API", api.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_SESSION_TOKEN", "testing")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?)
}

/// Median time from spawning `binary` to its first `GET .../runtime/invocation/next`.
async fn cold_start(binary: &Path, env: &[(String, String)]) -> anyhow::Result<Duration> {
    if !binary.exists() {
        bail!(
            "{} is not built (run infra/local/bench.sh)",
            binary.display()
        );
    }
    let mut samples = Vec::new();
    for _ in 0..15 {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let api = listener.local_addr()?;
        let started = Instant::now();
        let mut child = spawn_function(binary, env, api)?;
        let (mut stream, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
            .await
            .with_context(|| format!("{} never polled the Runtime API", binary.display()))??;
        let mut buf = [0u8; 64];
        let n = stream.read(&mut buf).await?;
        let elapsed = started.elapsed();
        if !String::from_utf8_lossy(&buf[..n])
            .starts_with("GET /2018-06-01/runtime/invocation/next")
        {
            bail!("unexpected first request from {}", binary.display());
        }
        samples.push(elapsed);
        child.kill().await.ok();
    }
    samples.sort();
    Ok(samples[samples.len() / 2])
}
