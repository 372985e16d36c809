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
use herald::channels::email::SesEmail;
use herald::dispatch::Dispatcher;
use herald::domain::Channel;
use herald::warm::Warm;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use uuid::Uuid;

use crate::poller::QueuePoller;
use crate::stack;

/// Every function binary, as `infra/template.yaml` deploys them.
const FUNCTIONS: [&str; 5] = [
    "ingest",
    "dispatch-email",
    "magic-link",
    "retry",
    "retention",
];

pub struct BenchArgs {
    /// `postgres://…/postgres?sslmode=disable`: the bench creates its own database.
    pub admin_url: String,
    pub seconds: u64,
    pub release_dir: PathBuf,
    pub lambda_dir: PathBuf,
    /// Only the scheduled functions' figures (sections 5 to 7).
    pub only_scheduled: bool,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let db_url = fresh_database(&args.admin_url, "herald_bench").await?;
    let mut client = connect(&db_url).await?;
    herald::db::migrate(&mut client, &herald::db::migrations_dir()).await?;

    let sdk = herald::config::aws_sdk_config().await;
    let sqs = herald::aws_sdk_sqs::Client::new(&sdk);
    let ses = herald::aws_sdk_sesv2::Client::new(&sdk);
    stack::ensure_sender_identity(&ses, "bench@alerts.example.com").await?;
    let queue = stack::ensure_queue(
        &sqs,
        &format!("herald-bench-{}", Uuid::new_v4().simple()),
        30,
        5,
    )
    .await?;
    let queues = BTreeMap::from([(Channel::Email, queue.clone())]);
    let config = |url: &str, pool_size: usize| {
        stack::local_config(
            url,
            &queues,
            &[
                ("HERALD_DB_POOL_SIZE", &pool_size.to_string()),
                ("HERALD_SES_FROM", "bench@alerts.example.com"),
                ("HERALD_PUBLIC_BASE_URL", "https://herald.bench"),
            ],
        )
        .expect("the bench's configuration is valid")
    };

    // The same handlers with SQS answered by an instant local endpoint: the SDK's own
    // work (serialising, signing, HTTP) stays in, the emulator's latency goes out.
    let fast_sqs = start_instant_sqs().await?;
    if args.only_scheduled {
        return crate::bench_scheduled::run(&args.admin_url, config, fast_sqs, args.seconds).await;
    }

    println!(
        "== 1. ingest vs raw inserts ({} s per run; 1 recipient, 3 notification rows per escalation)",
        args.seconds
    );
    let duration = Duration::from_secs(args.seconds);
    let ingest = herald_ingest::Deps::new(&config(&db_url, 8), Warm::ready(sdk.clone())).await?;
    let pool = ingest.pool.clone();
    let (_, key) = stack::create_tenant(&pool.get().await?, "Bench").await?;
    let key = Arc::new(key);
    let fast_sdk = herald::aws_config::defaults(herald::aws_config::BehaviorVersion::latest())
        .endpoint_url(format!("http://{fast_sqs}"))
        .load()
        .await;
    let ingest_fast = Arc::new(
        herald_ingest::Deps::new(&config(&db_url, 8), Warm::ready(fast_sdk.clone())).await?,
    );
    let ingest = Arc::new(ingest);
    let moto_batch = sqs_latency(&sqs, &queue.url).await?;
    println!(
        "(the emulator answers one SendMessageBatch in {:.1} ms, one request at a time)",
        ms(moto_batch)
    );
    println!("{:<52} {:>14} {:>16}", "", "escalations/s", "notif. rows/s");
    for concurrency in [1, 8] {
        // Three alternating rounds, medians: the shared machine drifts between runs.
        let (mut raws, mut fasts) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            raws.push(raw_rate(&db_url, concurrency, duration).await?);
            fasts.push(ingest_rate(ingest_fast.clone(), key.clone(), concurrency, duration).await?);
        }
        let (raw, fast) = (median(raws), median(fasts));
        let emulated = ingest_rate(ingest.clone(), key.clone(), concurrency, duration).await?;
        let row =
            |label: String, rate: f64| println!("{label:<52} {rate:>14.0} {:>16.0}", rate * 3.0);
        row(
            format!("raw tokio-postgres inserts, concurrency {concurrency}"),
            raw,
        );
        row(
            format!("ingest handler, instant SQS endpoint, concurrency {concurrency}"),
            fast,
        );
        row(
            format!("ingest handler, SQS emulator, concurrency {concurrency}"),
            emulated,
        );
        println!(
            "{:<52} {:>13.0}%   (target >= 60%)",
            "ingest (instant SQS) / raw",
            fast / raw * 100.0
        );
    }

    println!("\n== 2. SQL statements per dispatch batch (counted on the wire)");
    let counter = Arc::new(WireCounter::default());
    let proxy = start_counting_proxy(&db_url, counter.clone()).await?;
    let proxied_url = db_url.replacen(&host_port(&db_url)?, &proxy.to_string(), 1);
    let dispatch =
        Dispatcher::<SesEmail>::new(&config(&proxied_url, 1), Warm::ready(sdk.clone())).await?;
    let poller = QueuePoller {
        sqs: sqs.clone(),
        queue_url: queue.url.clone(),
        queue_arn: queue.arn.clone(),
        wait_seconds: 0,
    };
    drain(&poller, &dispatch).await?; // the ingest runs above queued thousands: send them (and warm the statement cache)
    let before = counter.snapshot();
    let mut batches = 0;
    let mut messages = 0;
    for _ in 0..10 {
        let body = json!({
            "title": "bench", "priority": "high",
            "recipients": (0..10).map(|i| json!({"id": format!("r{i}"), "email": format!("r{i}@example.com")})).collect::<Vec<_>>(),
            "channels": {"primary": ["email"]}
        });
        post(&ingest, &key, &body).await?;
        loop {
            let stats = poller
                .poll_once(|e| herald_dispatch::function_handler(&dispatch, e))
                .await?;
            if stats.received == 0 {
                break;
            }
            batches += 1;
            messages += stats.received;
        }
    }
    let after = counter.snapshot();
    let statements = (after.executes + after.queries) - (before.executes + before.queries);
    let round_trips = after.syncs + after.queries - before.syncs - before.queries;
    println!(
        "batches {batches}, messages {messages} (avg {:.1}/batch)",
        messages as f64 / batches.max(1) as f64
    );
    println!(
        "statements per batch: {:.2}   round trips per batch: {:.2}   (target <= 2 statements)",
        statements as f64 / batches.max(1) as f64,
        round_trips as f64 / batches.max(1) as f64
    );

    println!("\n== 3. cold start: process start -> first Runtime API poll (median of 15)");
    let env = vec![
        ("HERALD_DATABASE_URL".to_owned(), db_url.clone()),
        ("HERALD_QUEUE_URL_EMAIL".to_owned(), queue.url.clone()),
        (
            "HERALD_PUBLIC_BASE_URL".to_owned(),
            "https://herald.bench".to_owned(),
        ),
        (
            "HERALD_SES_FROM".to_owned(),
            "bench@alerts.example.com".to_owned(),
        ),
    ];
    let hello = cold_start(&args.release_dir.join("hello-lambda"), &env).await?;
    println!("{:<16} {:>8.2} ms", "hello-lambda", ms(hello));
    for bin in FUNCTIONS {
        let t = cold_start(&args.release_dir.join(bin), &env).await?;
        println!(
            "{:<16} {:>8.2} ms   {:.2}x hello-lambda (target <= 2x)",
            bin,
            ms(t),
            ms(t) / ms(hello)
        );
    }

    println!("\n== 4. release binary sizes (target <= 8 MB)");
    for bin in FUNCTIONS {
        let arm = args.lambda_dir.join(bin).join("bootstrap");
        let host = args.release_dir.join(bin);
        println!(
            "{:<16} arm64 (cargo lambda build --release --arm64): {:>9}   host release: {:>9}",
            bin,
            size(&arm),
            size(&host)
        );
    }

    crate::bench_scheduled::run(&args.admin_url, config, fast_sqs, args.seconds).await?;
    Ok(())
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

/// A local endpoint that accepts every SQS `SendMessageBatch` (AWS JSON 1.0) at once.
pub(crate) async fn start_instant_sqs() -> anyhow::Result<SocketAddr> {
    use http_body_util::{BodyExt, Full};
    use hyper::body::Bytes;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    |req: hyper::Request<hyper::body::Incoming>| async move {
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let request: serde_json::Value =
                            serde_json::from_slice(&body).unwrap_or_default();
                        let successful: Vec<serde_json::Value> = request["Entries"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|e| json!({ "Id": e["Id"], "MessageId": Uuid::new_v4().to_string(), "MD5OfMessageBody": "" }))
                        .collect();
                        let answer = json!({ "Successful": successful, "Failed": [] }).to_string();
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder()
                                .header("content-type", "application/x-amz-json-1.0")
                                .body(Full::new(Bytes::from(answer)))
                                .expect("static response"),
                        )
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn size(path: &Path) -> String {
    std::fs::metadata(path).map_or_else(
        |_| "not built".to_owned(),
        |m| format!("{:.2} MB", m.len() as f64 / 1_048_576.0),
    )
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

pub(crate) async fn post(
    ingest: &herald_ingest::Deps,
    key: &SecretString,
    body: &serde_json::Value,
) -> anyhow::Result<u16> {
    // The API Gateway v2 event as Lambda delivers it, parsed the way the runtime does.
    let event = format!(
        r#"{{"version":"2.0","routeKey":"POST /v1/escalations","rawPath":"/v1/escalations","rawQueryString":"",
"headers":{{"authorization":"Bearer {key}","content-type":"application/json"}},
"requestContext":{{"accountId":"000000000000","apiId":"bench","domainName":"127.0.0.1","domainPrefix":"bench",
"http":{{"method":"POST","path":"/v1/escalations","protocol":"HTTP/1.1","sourceIp":"127.0.0.1","userAgent":"bench"}},
"requestId":"{id}","routeKey":"POST /v1/escalations","stage":"$default","time":"22/Nov/2026:03:12:05 +0000","timeEpoch":0}},
"body":{body},"isBase64Encoded":false}}"#,
        key = key.expose_secret(),
        id = Uuid::new_v4(),
        body = serde_json::to_string(&body.to_string())?,
    );
    let req = lambda_http::request::from_str(&event)?;
    let res = herald_ingest::function_handler(ingest, req)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(res.status().as_u16())
}

async fn ingest_rate(
    ingest: Arc<herald_ingest::Deps>,
    key: Arc<SecretString>,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (ingest, key, counter) = (ingest.clone(), key.clone(), counter.clone());
            tokio::spawn(async move {
                while started.elapsed() < duration {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let status = post(&ingest, &key, &escalation(n)).await?;
                    if status != 202 {
                        bail!("ingest answered {status}");
                    }
                }
                Ok(())
            })
        })
        .collect();
    for t in tasks {
        t.await??;
    }
    Ok(counter.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}

/// The same rows ingest writes (escalation, recipient, three notification rows, one audit
/// row) into the same tables and indexes, one plain transaction per escalation.
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

async fn drain(poller: &QueuePoller, dispatch: &Dispatcher<SesEmail>) -> anyhow::Result<()> {
    let drain = QueuePoller {
        wait_seconds: 0,
        ..poller.clone()
    };
    loop {
        let stats = drain
            .poll_once(|e| herald_dispatch::function_handler(dispatch, e))
            .await?;
        if stats.received == 0 {
            return Ok(());
        }
    }
}

/// Frontend protocol messages seen by the proxy.
#[derive(Default)]
struct WireCounter {
    executes: AtomicU64,
    queries: AtomicU64,
    syncs: AtomicU64,
}

#[derive(Clone, Copy)]
struct WireSnapshot {
    executes: u64,
    queries: u64,
    syncs: u64,
}

impl WireCounter {
    fn snapshot(&self) -> WireSnapshot {
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
        to.write_u8(kind).await?;
        to.write_i32(len as i32).await?;
        to.write_all(&payload).await?;
    }
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
        let mut child = tokio::process::Command::new(binary)
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
            .spawn()?;
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
