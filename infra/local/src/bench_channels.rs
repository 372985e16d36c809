//! Bench sections for every channel: an instant local provider answering each SDK call
//! Herald makes (SES v2, SNS, End User Messaging voice, SQS, a Teams webhook), dispatch
//! throughput and statements per batch per channel, init + first invoke of a function
//! binary under a fake Runtime API, and end-to-end latency on the local stack with the
//! emulator's share shown apart.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use herald::domain::Channel;
use herald::warm::Warm;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use uuid::Uuid;

use crate::bench::{ms, percentile};

/// Rate-limit transactions (`TransactWriteItems`) the instant provider answered.
static COUNTER_TRANSACTIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// What the instant provider saw of Teams posts: the card title and when it arrived.
#[derive(Default)]
pub struct Arrivals(Mutex<Vec<(String, Instant)>>);

impl Arrivals {
    /// When a message naming `title` reached the provider.
    pub fn when(&self, title: &str) -> Option<Instant> {
        self.0
            .lock()
            .ok()?
            .iter()
            .find(|(t, _)| t.contains(title))
            .map(|(_, at)| *at)
    }

    fn push(&self, text: String) {
        if let Ok(mut seen) = self.0.lock() {
            seen.push((text, Instant::now()));
        }
    }
}

/// A local endpoint that answers every provider call Herald makes at once, with the
/// smallest valid answer: the SDKs still serialise, sign and parse, the providers'
/// latency goes out.
pub async fn start_instant_provider() -> anyhow::Result<(SocketAddr, Arc<Arrivals>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let arrivals = Arc::new(Arrivals::default());
    let shared = arrivals.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let arrivals = shared.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                    let arrivals = arrivals.clone();
                    async move { Ok::<_, Infallible>(answer(req, &arrivals).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((addr, arrivals))
}

async fn answer(
    req: hyper::Request<Incoming>,
    arrivals: &Arrivals,
) -> hyper::Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let reply = |status: u16, content_type: &str, body: String| {
        hyper::Response::builder()
            .status(status)
            .header("content-type", content_type)
            .body(Full::new(Bytes::from(body)))
            .expect("static response")
    };
    let id = Uuid::new_v4().to_string();
    if path.starts_with("/teams/") {
        let card: Value = serde_json::from_slice(&body).unwrap_or_default();
        let title = card["attachments"][0]["content"]["body"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        arrivals.push(title);
        return reply(202, "text/plain", String::new());
    }
    if path == "/api/chat.postMessage" {
        return reply(
            200,
            "application/json",
            json!({ "ok": true, "channel": "D0BENCH001", "ts": format!("1790000000.{}", &id[..6]) })
                .to_string(),
        );
    }
    if path == "/api/chat.update" {
        let asked: Value = serde_json::from_slice(&body).unwrap_or_default();
        return reply(
            200,
            "application/json",
            json!({ "ok": true, "channel": asked["channel"], "ts": asked["ts"] }).to_string(),
        );
    }
    if path.starts_with("/v2/email/outbound-emails") {
        let email: Value = serde_json::from_slice(&body).unwrap_or_default();
        arrivals.push(
            email["Content"]["Simple"]["Subject"]["Data"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
        return reply(
            200,
            "application/json",
            json!({ "MessageId": id }).to_string(),
        );
    }
    if target == "PinpointSMSVoiceV2.SendVoiceMessage" {
        return reply(
            200,
            "application/x-amz-json-1.0",
            json!({ "MessageId": id }).to_string(),
        );
    }
    if target == "DynamoDB_20120810.TransactWriteItems" {
        // The rate-limit counters took every increment.
        COUNTER_TRANSACTIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return reply(200, "application/x-amz-json-1.0", "{}".to_owned());
    }
    if target == "AmazonSQS.SendMessageBatch" {
        let request: Value = serde_json::from_slice(&body).unwrap_or_default();
        let successful: Vec<Value> = request["Entries"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| json!({ "Id": e["Id"], "MessageId": Uuid::new_v4().to_string(), "MD5OfMessageBody": "" }))
            .collect();
        return reply(
            200,
            "application/x-amz-json-1.0",
            json!({ "Successful": successful, "Failed": [] }).to_string(),
        );
    }
    let form = String::from_utf8_lossy(&body);
    const NS: &str = "http://sns.amazonaws.com/doc/2010-03-31/";
    if form.contains("Action=Publish") {
        if let Some(message) = url::form_urlencoded::parse(form.as_bytes())
            .find(|(k, _)| k == "Message")
            .map(|(_, v)| v.into_owned())
        {
            arrivals.push(message);
        }
        return reply(
            200,
            "text/xml",
            format!(
                "<PublishResponse xmlns=\"{NS}\"><PublishResult><MessageId>{id}</MessageId></PublishResult>\
                 <ResponseMetadata><RequestId>{id}</RequestId></ResponseMetadata></PublishResponse>"
            ),
        );
    }
    if form.contains("Action=CheckIfPhoneNumberIsOptedOut") {
        return reply(
            200,
            "text/xml",
            format!(
                "<CheckIfPhoneNumberIsOptedOutResponse xmlns=\"{NS}\"><CheckIfPhoneNumberIsOptedOutResult>\
                 <isOptedOut>false</isOptedOut></CheckIfPhoneNumberIsOptedOutResult>\
                 <ResponseMetadata><RequestId>{id}</RequestId></ResponseMetadata></CheckIfPhoneNumberIsOptedOutResponse>"
            ),
        );
    }
    reply(
        400,
        "application/json",
        json!({ "message": "not a call Herald makes" }).to_string(),
    )
}

/// The SDK configuration for the instant provider.
pub async fn instant_sdk(addr: SocketAddr) -> herald::aws_config::SdkConfig {
    herald::config::aws_sdk_config_at(&format!("http://{addr}")).await
}

/// One escalation of `recipients` people on `channel`, with a unique title.
pub fn escalation_on(channel: Channel, recipients: usize, title: &str) -> Value {
    let people: Vec<Value> = (0..recipients)
        .map(|i| {
            json!({
                "id": format!("u-{i}"),
                "name": format!("Person {i}"),
                "email": format!("p{i}@example.com"),
                "slack_user_id": format!("U0BENCH{i:03}"),
                "phone": format!("+1415555{:04}", 100 + i),
                "push_endpoint_arn": format!(
                    "arn:aws:sns:us-east-1:123456789012:endpoint/GCM/bench/{:08}-0000-4000-8000-000000000000", i
                ),
            })
        })
        .collect();
    json!({
        "title": title, "priority": "critical", "service": "orders-db", "team": "bench",
        "body": "p99 latency 2.3 s; connections saturating.",
        "recipients": people,
        "channels": { "primary": [channel.as_str()] }
    })
}

/// Section 2: for each channel, batches of 10 through its dispatcher to the instant
/// provider (claim, send, record), timed against the database itself; then batches
/// that do the same through the statement-counting proxy (`counted`), which count what
/// goes over the wire but are not timed: the proxy's two extra hops per round trip cost
/// about 0.5 ms, a cost Lambda does not have.
pub(crate) async fn dispatch_per_channel(
    config: &herald::Config,
    counted: &herald::Config,
    ingest: &herald_ingest::Deps,
    key: &secrecy::SecretString,
    provider: SocketAddr,
    counter: &crate::bench::WireCounter,
    seconds: u64,
) -> anyhow::Result<()> {
    let sdk = instant_sdk(provider).await;
    // Each of the ten bench recipients has a Teams webhook on the instant provider.
    let keyring =
        herald::secrets::Keyring::parse(&crate::stack::LOCAL_SECRET_KEYS.to_owned().into())?;
    let client = ingest.pool.get().await?;
    let tenant = herald::db::tenants::authenticate(
        &client,
        &herald::api_key::hash(secrecy::ExposeSecret::expose_secret(key)),
    )
    .await?
    .context("the bench key")?
    .tenant_id;
    for i in 0..10 {
        let recipient =
            herald::db::teams::ensure_recipient(&client, tenant, &format!("u-{i}")).await?;
        let url = secrecy::SecretString::from(format!("http://{provider}/teams/u-{i}"));
        let sealed = keyring.seal(
            &url,
            &herald::secrets::Owner::teams_webhook(tenant, recipient),
        );
        herald::db::teams::upsert(&client, tenant, Some(recipient), None, &sealed, "127.0.0.1")
            .await?;
    }
    // A table in service, not one grown from empty seconds ago: 30,000 finished
    // escalations (90,000 rows) and a live mix in the retry and outbox partial indexes,
    // vacuumed and analysed as autovacuum would have left them (and so that autovacuum
    // does not run on them while the batches are timed).
    crate::bench_scheduled::seed_delivered(&client, tenant, 30_000).await?;
    let mix = crate::bench_scheduled::seed_live_mix(&client).await?;
    // The opt-out check in the claim, with rows to find: the bench people's ran out.
    let opt_outs = crate::bench_scheduled::seed_opt_outs(&client, tenant, "u-%").await?;
    client.batch_execute("VACUUM (ANALYZE)").await?;
    println!(
        "(the tables hold 90,000 finished rows and {mix}; {opt_outs} opt-outs: the bench people's ran out an hour ago, 10,000 others' hold)"
    );
    // ... and the tenant a Slack installation whose Web API is the instant provider.
    crate::stack::install_slack(&client, config, tenant, "T0BENCH001", "xoxb-bench-token").await?;
    drop(client);
    let slack_api = format!("http://{provider}/api");
    let (mut config, mut counted) = (config.clone(), counted.clone());
    crate::stack::use_slack_api(&mut config, &slack_api);
    crate::stack::use_slack_api(&mut counted, &slack_api);

    // Every channel with a dispatcher.
    const CHANNELS: [Channel; 6] = crate::stack::QUEUED_CHANNELS;
    let mut instances = Vec::new();
    for channel in CHANNELS {
        let instance = Instance::start(channel, config.clone(), sdk.clone()).await?;
        // Warm-up: the statement cache, the SDK client, the opt-out cache.
        run_batch(ingest, key, &instance, channel, 0).await?;
        // The same dispatcher through the counting proxy, warmed up alike.
        let through_proxy = Instance::start(channel, counted.clone(), sdk.clone()).await?;
        run_batch(ingest, key, &through_proxy, channel, 0).await?;
        instances.push((channel, instance, Vec::new(), through_proxy));
    }
    // Interleaved: one batch of each channel in turn, so the machine's drift over the
    // run falls on every channel alike.
    let started = Instant::now();
    let mut round = 0u64;
    while started.elapsed() < Duration::from_secs(seconds) * CHANNELS.len() as u32 {
        round += 1;
        for (channel, instance, samples, _) in &mut instances {
            samples.push(run_batch(ingest, key, instance, *channel, round).await?);
        }
    }
    const COUNTED: u64 = 20;
    let mut wires = Vec::new();
    for (channel, _, _, through_proxy) in &instances {
        let before = counter.snapshot();
        let transactions = COUNTER_TRANSACTIONS.load(std::sync::atomic::Ordering::Relaxed);
        for n in 0..COUNTED {
            run_batch(ingest, key, through_proxy, *channel, round + 1 + n).await?;
        }
        let mut wire = crate::bench::WireSnapshot::default();
        wire.add(&counter.snapshot(), &before);
        let transactions =
            COUNTER_TRANSACTIONS.load(std::sync::atomic::Ordering::Relaxed) - transactions;
        wires.push((wire, transactions));
    }
    println!(
        "{:<8} {:>8} {:>12} {:>12} {:>12} {:>17} {:>18} {:>16}",
        "channel",
        "batches",
        "messages/s",
        "batch p50",
        "batch p90",
        "statements/batch",
        "round trips/batch",
        "DynamoDB/batch"
    );
    for ((channel, _, samples, _), (wire, transactions)) in instances.iter().zip(&wires) {
        let busy: Duration = samples.iter().sum();
        let batches = samples.len() as f64;
        println!(
            "{:<8} {:>8} {:>12.0} {:>9.2} ms {:>9.2} ms {:>17.2} {:>18.2} {:>16.2}",
            channel.as_str(),
            samples.len(),
            batches * 10.0 / busy.as_secs_f64(),
            ms(percentile(samples, 0.5)),
            ms(percentile(samples, 0.9)),
            wire.statements() as f64 / COUNTED as f64,
            wire.round_trips() as f64 / COUNTED as f64,
            *transactions as f64 / COUNTED as f64,
        );
    }
    println!(
        "(a batch: 10 queued rows claimed in one statement, 10 provider calls at once, results recorded in one;\n\
         each dispatcher runs as on Lambda: its own thread, a current-thread runtime, one batch at a time;\n\
         the channels take turns, one batch each; messages/s = 10 x batches / time inside the dispatcher;\n\
         statements counted on the wire (everything included) in {COUNTED} more batches per channel through a counting proxy, and the rate-limit\n\
         transactions (TransactWriteItems) the instant endpoint answered for them; the SMS opt-out answer is cached per number, as it is on Lambda)"
    );
    Ok(())
}

/// A dispatcher run as Lambda runs it: on its own thread, in a current-thread runtime
/// (the `dispatch-*` binaries' `main`), one batch at a time. The bench's providers, proxy
/// and ingest stay on the bench's own runtime, like the network outside a function.
pub(crate) struct Instance {
    jobs: tokio::sync::mpsc::Sender<Job>,
}

type Job = (
    Vec<Uuid>,
    tokio::sync::oneshot::Sender<anyhow::Result<(Duration, herald::dispatch::Summary)>>,
);

impl Instance {
    pub(crate) async fn start(
        channel: Channel,
        config: herald::Config,
        sdk: herald::aws_config::SdkConfig,
    ) -> anyhow::Result<Self> {
        let (jobs, mut queue) = tokio::sync::mpsc::channel::<Job>(1);
        let (ready, started) = tokio::sync::oneshot::channel::<anyhow::Result<()>>();
        std::thread::Builder::new()
            .name(format!("dispatch-{channel}"))
            .spawn(move || {
                // Set up as the binary's `main` does; the error goes back to the caller.
                let set_up = || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    let dispatcher = runtime
                        .block_on(herald::dispatch::for_channel(
                            channel,
                            &config,
                            Warm::ready(sdk),
                        ))?
                        .context("the channel is not enabled")?;
                    anyhow::Ok((runtime, dispatcher))
                };
                let (runtime, dispatcher) = match set_up() {
                    Ok(ready_to_run) => {
                        let _ = ready.send(Ok(()));
                        ready_to_run
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(async move {
                    while let Some((ids, reply)) = queue.recv().await {
                        let started = Instant::now();
                        let summary = dispatcher.dispatch(&ids).await;
                        let _ = reply.send(summary.map(|s| (started.elapsed(), s)));
                    }
                });
            })?;
        started.await.context("the dispatcher thread")??;
        Ok(Self { jobs })
    }

    /// One batch, and the time it took inside the dispatcher.
    pub(crate) async fn dispatch(
        &self,
        ids: Vec<Uuid>,
    ) -> anyhow::Result<(Duration, herald::dispatch::Summary)> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.jobs
            .send((ids, reply))
            .await
            .map_err(|_| anyhow::anyhow!("the dispatcher thread ended"))?;
        answer.await.context("the dispatcher thread")?
    }
}

/// Section 2b: `POST /slack/actions`, a signed Acknowledge click on a fresh escalation
/// paged to 10 people on Slack, through the magic-link handler: signature, replay
/// memory, who pressed, the transition, the announcement to the (instant) Slack queue;
/// then, timed apart, dispatch-slack's rewrite of the 10 messages (`chat.update` to the
/// instant provider). Runs after [`dispatch_per_channel`], which installed the bench
/// tenant's Slack. Prints p50/p99 of `rounds` clicks, one at a time.
pub(crate) async fn slack_actions(
    config: &herald::Config,
    ingest: &herald_ingest::Deps,
    key: &secrecy::SecretString,
    provider: SocketAddr,
    rounds: usize,
) -> anyhow::Result<()> {
    let mut config = config.clone();
    crate::stack::use_slack_api(&mut config, &format!("http://{provider}/api"));
    let sdk = instant_sdk(provider).await;
    let dispatcher = herald::dispatch::for_channel(Channel::Slack, &config, Warm::ready(sdk))
        .await?
        .context("a Slack dispatcher")?;
    let magic =
        herald_magic_link::Deps::new(&config, Warm::ready(instant_sdk(provider).await)).await?;
    let secret = crate::stack::LOCAL_SLACK_SIGNING_SECRET.as_bytes();
    let route = crate::gateway::match_route("POST", "/slack/actions").context("the route")?;
    let mut samples = Vec::with_capacity(rounds);
    let mut rewrites = Vec::with_capacity(rounds);
    for n in 0..=rounds {
        let body = escalation_on(
            Channel::Slack,
            10,
            &format!("bench slack click {n} {}", Uuid::new_v4()),
        );
        let ids = crate::bench::post_ids(ingest, key, &body).await?;
        let escalation_id: Uuid = {
            let client = ingest.pool.get().await?;
            client
                .query_one(
                    "SELECT escalation_id FROM notification_log WHERE id = $1",
                    &[&ids[0]],
                )
                .await?
                .get(0)
        };
        if dispatcher.dispatch(&ids).await?.sent != 10 {
            bail!("the Slack messages were not posted");
        }
        let click = herald::domain::slack::button_click_body(
            "T0BENCH001",
            "U0BENCH000",
            herald::domain::slack::ACKNOWLEDGE_ACTION_ID,
            escalation_id,
            ("D0BENCH001", "1790000000.000001"),
        );
        let now = chrono::Utc::now().timestamp();
        let headers = vec![
            (
                "content-type".to_owned(),
                "application/x-www-form-urlencoded".to_owned(),
            ),
            ("x-slack-request-timestamp".to_owned(), now.to_string()),
            (
                "x-slack-signature".to_owned(),
                herald::domain::slack::sign(secret, now, &click),
            ),
        ];
        let request = crate::gateway::to_lambda_request(
            &route,
            "POST",
            "/slack/actions",
            "",
            &headers,
            &click,
            "3.80.0.10".parse()?,
        )?;
        let started = Instant::now();
        let response = herald_magic_link::function_handler(&magic, request)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let elapsed = started.elapsed();
        let text = match response.body() {
            lambda_http::Body::Text(t) => t.clone(),
            _ => String::new(),
        };
        if response.status() != 200 || !text.contains("\"applied\"") {
            bail!("the click was not applied: {} {text}", response.status());
        }
        let started = Instant::now();
        let rewrite = dispatcher.answered(&[escalation_id]).await;
        let rewrite_elapsed = started.elapsed();
        if !matches!(rewrite.as_slice(), [(_, Ok(10))]) {
            bail!("the 10 Slack messages were not rewritten");
        }
        // The first click warms the statement cache and the connections.
        if n > 0 {
            samples.push(elapsed);
            rewrites.push(rewrite_elapsed);
        }
    }
    println!(
        "POST /slack/actions, {rounds} signed clicks one at a time: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (target p99 <= 50 ms; Slack allows 3 s)",
        ms(percentile(&samples, 0.5)),
        ms(percentile(&samples, 0.99)),
        ms(percentile(&samples, 1.0)),
    );
    println!(
        "dispatch-slack rewriting the 10 messages of each answered escalation: p50 {:.2} ms, p99 {:.2} ms",
        ms(percentile(&rewrites, 0.5)),
        ms(percentile(&rewrites, 0.99)),
    );
    println!(
        "(each: signature check, replay memory, who pressed, the acknowledgement, and the answer announced on the Slack queue; the rewrite of the 10 messages is dispatch-slack's, timed below)"
    );
    Ok(())
}

/// SMS with reply codes: batches of 10 pages through dispatch-sms (each claim also hands
/// out the 10 numbers' codes), then a reply to one page handled by sms-reply (find the
/// code, acknowledge, announce on the Slack queue, text back the confirmation), each
/// against the instant provider.
pub(crate) async fn sms_replies(
    config: &herald::Config,
    ingest: &herald_ingest::Deps,
    key: &secrecy::SecretString,
    provider: SocketAddr,
    rounds: usize,
) -> anyhow::Result<()> {
    let mut config = config.clone();
    let sms = &mut config.channels.entry(Channel::Sms).or_default().provider;
    sms.insert("SMS_REPLY_CODES", "true".to_owned());
    sms.insert(
        "SMS_ORIGINATION_NUMBER",
        crate::stack::LOCAL_SMS_NUMBER.to_owned(),
    );
    let dispatcher = herald::dispatch::for_channel(
        Channel::Sms,
        &config,
        Warm::ready(instant_sdk(provider).await),
    )
    .await?
    .context("an SMS dispatcher")?;
    let replies =
        herald::sms_reply::SmsReplies::new(&config, Warm::ready(instant_sdk(provider).await))
            .await?;
    let mut batches = Vec::with_capacity(rounds);
    let mut handled = Vec::with_capacity(rounds);
    for n in 0..=rounds {
        let mut body = escalation_on(
            Channel::Sms,
            10,
            &format!("bench sms reply {n} {}", Uuid::new_v4()),
        );
        // Fresh numbers each round: a number holds at most 99 open pages' codes (these
        // stay open, acknowledged), and a page that finds no free code carries a link.
        for (i, person) in body["recipients"]
            .as_array_mut()
            .context("recipients")?
            .iter_mut()
            .enumerate()
        {
            person["phone"] = json!(format!("+1415{}{:04}", 200 + n, 100 + i));
        }
        let ids = crate::bench::post_ids(ingest, key, &body).await?;
        let started = Instant::now();
        let summary = dispatcher.dispatch(&ids).await?;
        let batch = started.elapsed();
        if summary.sent != 10 {
            bail!("the SMS pages were not sent: {summary:?}");
        }
        let (phone, code): (String, i16) = {
            let client = ingest.pool.get().await?;
            let row = client
                .query_one(
                    "SELECT k.phone, k.code FROM sms_reply_codes k \
                     JOIN notification_log n ON n.escalation_id = k.escalation_id \
                     WHERE n.id = $1 ORDER BY k.phone LIMIT 1",
                    &[&ids[0]],
                )
                .await?;
            (row.get(0), row.get(1))
        };
        let reply = herald::sms_reply::InboundSms::from_sqs_body(
            &crate::stack::inbound_sms_payload(&phone, &format!("{code}a")),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let started = Instant::now();
        let outcome = replies
            .handle(&reply, Some(chrono::Utc::now()))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let elapsed = started.elapsed();
        if outcome.outcome != Some(herald::db::sms::ReplyOutcome::Applied) || !outcome.answered {
            bail!("the reply was not applied and answered: {outcome:?}");
        }
        // The first round warms the statement cache and the connections.
        if n > 0 {
            batches.push(batch);
            handled.push(elapsed);
        }
    }
    println!(
        "dispatch-sms with reply codes, {rounds} batches of 10 pages (claim + codes, publish, record): p50 {:.2} ms, p99 {:.2} ms",
        ms(percentile(&batches, 0.5)),
        ms(percentile(&batches, 0.99)),
    );
    println!(
        "sms-reply, {rounds} replies \"<code>a\" one at a time (seen-before check, code lookup, acknowledgement, record, Slack announcement, confirmation SMS): p50 {:.2} ms, p99 {:.2} ms",
        ms(percentile(&handled, 0.5)),
        ms(percentile(&handled, 0.99)),
    );
    Ok(())
}

/// Ingests one escalation of 10 recipients on `channel` (not timed), then times one
/// dispatcher batch of its 10 rows.
async fn run_batch(
    ingest: &herald_ingest::Deps,
    key: &secrecy::SecretString,
    instance: &Instance,
    channel: Channel,
    n: u64,
) -> anyhow::Result<Duration> {
    let body = escalation_on(
        channel,
        10,
        &format!("bench {channel} {n} {}", Uuid::new_v4()),
    );
    let ids = crate::bench::post_ids(ingest, key, &body).await?;
    if ids.len() != 10 {
        bail!("expected 10 queued {channel} rows, got {}", ids.len());
    }
    let (elapsed, summary) = instance.dispatch(ids).await?;
    if summary.sent != 10 {
        bail!("{channel}: {summary:?}");
    }
    Ok(elapsed)
}

/// Process start -> first Runtime API poll ("init"), then that first event -> its
/// response ("first invoke"), under a fake Runtime API. Medians of `runs`.
pub async fn init_and_first_invoke(
    binary: &Path,
    env: &[(String, String)],
    event: impl Fn() -> anyhow::Result<Value>,
    runs: usize,
) -> anyhow::Result<(Duration, Duration, String)> {
    if !binary.exists() {
        bail!(
            "{} is not built (run infra/local/bench.sh)",
            binary.display()
        );
    }
    let (mut inits, mut invokes) = (Vec::new(), Vec::new());
    let mut last_answer = String::new();
    for _ in 0..runs {
        let payload = event()?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let api = listener.local_addr()?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Report>();
        let served = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (tx, served, payload) = (tx.clone(), served.clone(), payload.clone());
                tokio::spawn(async move {
                    let service =
                        hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                            let (tx, served, payload) =
                                (tx.clone(), served.clone(), payload.clone());
                            async move {
                                let path = req.uri().path().to_owned();
                                if path.ends_with("/invocation/next") {
                                    if served.swap(true, std::sync::atomic::Ordering::SeqCst) {
                                        std::future::pending::<()>().await;
                                    }
                                    let _ = tx.send(("next", Instant::now(), String::new()));
                                    let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
                                    return Ok::<_, Infallible>(
                                    hyper::Response::builder()
                                        .header("lambda-runtime-aws-request-id", "bench-request")
                                        .header("lambda-runtime-deadline-ms", deadline.to_string())
                                        .header(
                                            "lambda-runtime-invoked-function-arn",
                                            "arn:aws:lambda:us-east-1:000000000000:function:bench",
                                        )
                                        .header("lambda-runtime-trace-id", "Root=1-bench")
                                        .body(Full::new(Bytes::from(payload.to_string())))
                                        .expect("static response"),
                                );
                                }
                                let body = req
                                    .into_body()
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes())
                                    .unwrap_or_default();
                                let _ = tx.send((
                                    "answer",
                                    Instant::now(),
                                    String::from_utf8_lossy(&body).into_owned(),
                                ));
                                Ok(hyper::Response::builder()
                                    .status(202)
                                    .body(Full::new(Bytes::new()))
                                    .expect("static response"))
                            }
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        let started = Instant::now();
        let mut child = crate::bench::spawn_function(binary, env, api)?;
        let (_, polled, _) = next_report(&mut rx).await?;
        let (what, answered, body) = next_report(&mut rx).await?;
        if what != "answer" {
            bail!("unexpected {what} from {}", binary.display());
        }
        inits.push(polled - started);
        invokes.push(answered - polled);
        last_answer = body;
        child.kill().await.ok();
        server.abort();
    }
    Ok((
        percentile(&inits, 0.5),
        percentile(&invokes, 0.5),
        last_answer,
    ))
}

type Report = (&'static str, Instant, String);

async fn next_report(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<Report>,
) -> anyhow::Result<Report> {
    tokio::time::timeout(Duration::from_secs(15), rx.recv())
        .await
        .ok()
        .flatten()
        .context("the function did not answer the fake Runtime API")
}

/// Times each piece of lazy set-up a first invoke pays, in this process (fresh each
/// time; medians of 9): where the first invoke's milliseconds go.
pub async fn first_invoke_parts(
    db_url: &str,
    provider: SocketAddr,
) -> anyhow::Result<BTreeMap<&'static str, Duration>> {
    let mut parts: BTreeMap<&'static str, Vec<Duration>> = BTreeMap::new();
    for _ in 0..9 {
        let t = Instant::now();
        let sdk = instant_sdk(provider).await;
        parts
            .entry("load the AWS SDK configuration")
            .or_default()
            .push(t.elapsed());
        let t = Instant::now();
        let sqs = herald::aws_sdk_sqs::Client::new(&sdk);
        parts
            .entry("build an SDK client (TLS roots)")
            .or_default()
            .push(t.elapsed());
        let queue = herald::queue::Enqueuer::new(sqs, format!("http://{provider}/000000000000/q"));
        let t = Instant::now();
        queue
            .enqueue(&[herald::queue::Envelope {
                notification_id: Uuid::new_v4(),
                trace_id: None,
            }])
            .await;
        parts
            .entry("first SQS request (new connection, signing)")
            .or_default()
            .push(t.elapsed());
        let t = Instant::now();
        let config = herald::Config::from_pairs([("HERALD_DATABASE_URL", db_url)])?;
        let pool = herald::db::connect_pool(&config.database).await?;
        let client = pool.get().await?;
        client.simple_query("SELECT 1").await?;
        parts
            .entry("first database connection")
            .or_default()
            .push(t.elapsed());
        let t = Instant::now();
        client
            .prepare_cached("SELECT id FROM escalations WHERE id = $1")
            .await?;
        parts
            .entry("first statement prepare")
            .or_default()
            .push(t.elapsed());
    }
    Ok(parts
        .into_iter()
        .map(|(k, v)| (k, percentile(&v, 0.5)))
        .collect())
}

/// Section 8: POST -> the provider's request, on the local stack: ingest enqueues to the
/// emulator's SQS, a poller feeds the Teams dispatcher, whose webhook is the instant
/// provider. Every emulator call goes through a timing proxy, so its share is apart.
pub async fn end_to_end(
    channels: &[Channel],
    config: &herald::Config,
    key: &secrecy::SecretString,
    moto_url: &str,
    provider: SocketAddr,
    arrivals: Arc<Arrivals>,
    runs: usize,
) -> anyhow::Result<()> {
    for &channel in channels {
        end_to_end_on(
            channel,
            config,
            key,
            moto_url,
            provider,
            arrivals.clone(),
            runs,
        )
        .await?;
    }
    Ok(())
}

/// POST -> the provider's request on `channel`: ingest and SQS through the emulator (the
/// real queue round trip, timed apart by a proxy), the dispatcher to the instant provider.
async fn end_to_end_on(
    channel: Channel,
    config: &herald::Config,
    key: &secrecy::SecretString,
    moto_url: &str,
    provider: SocketAddr,
    arrivals: Arc<Arrivals>,
    runs: usize,
) -> anyhow::Result<()> {
    let timing = Arc::new(EmulatorTime::default());
    let proxy = start_timing_proxy(moto_url, timing.clone()).await?;
    let proxied_sdk = herald::config::aws_sdk_config_at(&format!("http://{proxy}")).await;
    let sqs = herald::aws_sdk_sqs::Client::new(&proxied_sdk);
    let queues = crate::stack::ensure_channel_queues(
        &sqs,
        &format!("herald-e2e-{}", Uuid::new_v4().simple()),
        30,
        5,
    )
    .await?;
    let mut config = config.clone();
    crate::stack::use_queues(&mut config, &queues);
    let ingest = herald_ingest::Deps::new(&config, Warm::ready(proxied_sdk.clone())).await?;
    let instant = instant_sdk(provider).await;
    let dispatcher = herald::dispatch::for_channel(channel, &config, Warm::ready(instant))
        .await?
        .with_context(|| format!("the {channel} dispatcher"))?;
    let poller = crate::poller::QueuePoller {
        sqs: sqs.clone(),
        queue_url: queues[&channel].url.clone(),
        queue_arn: queues[&channel].arn.clone(),
        wait_seconds: 1,
    };
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let polling = {
        let stop = stop.clone();
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let _ = poller
                    .poll_once(|e| herald_dispatch::function_handler(dispatcher.as_ref(), e))
                    .await;
            }
        })
    };
    let (mut totals, mut emulator) = (Vec::new(), Vec::new());
    for n in 0..runs + 3 {
        // Unique per run, and short enough to survive an SMS's budget.
        let mark = Uuid::new_v4().simple().to_string()[..12].to_owned();
        let title = format!("e2e {mark}");
        let body = escalation_on(channel, 1, &title);
        timing.reset();
        let started = Instant::now();
        crate::bench::post_ids(&ingest, key, &body).await?;
        let arrived = loop {
            if let Some(at) = arrivals.when(&mark) {
                break at;
            }
            if started.elapsed() > Duration::from_secs(20) {
                bail!("the {channel} message for {title} never arrived");
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        };
        let total = arrived - started;
        // The warm-up runs prepare statements and connections.
        if n >= 3 {
            totals.push(total);
            emulator.push(timing.within(started, arrived));
        }
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    polling.abort();
    let own: Vec<Duration> = totals
        .iter()
        .zip(&emulator)
        .map(|(t, e)| t.saturating_sub(*e))
        .collect();
    let what = match channel {
        Channel::Teams => "Teams webhook request",
        Channel::Email => "SES SendEmail",
        Channel::Sms => "SNS Publish (SMS)",
        _ => "provider request",
    };
    println!(
        "POST -> {what}, {} runs: p50 {:.1} ms, p99 {:.1} ms",
        runs,
        ms(percentile(&totals, 0.5)),
        ms(percentile(&totals, 0.99))
    );
    println!(
        "  inside the emulator (SendMessageBatch, ReceiveMessage incl. its long poll, DeleteMessageBatch): p50 {:.1} ms, p99 {:.1} ms",
        ms(percentile(&emulator, 0.5)),
        ms(percentile(&emulator, 0.99))
    );
    println!(
        "  Herald's own (everything else: ingest, claim, render, the provider call, record): p50 {:.1} ms, p99 {:.1} ms",
        ms(percentile(&own, 0.5)),
        ms(percentile(&own, 0.99))
    );
    Ok(())
}

/// Intervals the emulator spent answering, as seen by the timing proxy.
#[derive(Default)]
struct EmulatorTime(Mutex<Vec<(Instant, Instant)>>);

impl EmulatorTime {
    fn reset(&self) {
        if let Ok(mut v) = self.0.lock() {
            v.clear();
        }
    }

    /// Time within [from, to] during which at least one emulator call was open.
    fn within(&self, from: Instant, to: Instant) -> Duration {
        let mut spans: Vec<(Instant, Instant)> = self
            .0
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|(s, e)| (s.max(from), e.min(to)))
            .filter(|(s, e)| s < e)
            .collect();
        spans.sort();
        let mut total = Duration::ZERO;
        let mut current: Option<(Instant, Instant)> = None;
        for (s, e) in spans {
            match current {
                Some((cs, ce)) if s <= ce => current = Some((cs, ce.max(e))),
                Some((cs, ce)) => {
                    total += ce - cs;
                    current = Some((s, e));
                }
                None => current = Some((s, e)),
            }
        }
        if let Some((cs, ce)) = current {
            total += ce - cs;
        }
        total
    }
}

/// An HTTP proxy in front of the emulator that records when each call was open.
async fn start_timing_proxy(
    upstream: &str,
    timing: Arc<EmulatorTime>,
) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let upstream = upstream.trim_end_matches('/').to_owned();
    let http = herald::channels::https_client()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (timing, upstream, http) = (timing.clone(), upstream.clone(), http.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                    let (timing, upstream, http) = (timing.clone(), upstream.clone(), http.clone());
                    async move {
                        let started = Instant::now();
                        let method = req.method().clone();
                        let uri = format!(
                            "{upstream}{}",
                            req.uri().path_and_query().map_or("/", |p| p.as_str())
                        );
                        let headers = req.headers().clone();
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let mut forward = http.request(method, uri).body(body);
                        for (k, v) in &headers {
                            if k != "host" && k != "content-length" {
                                forward = forward.header(k, v);
                            }
                        }
                        let response = match forward.send().await {
                            Ok(r) => {
                                let status = r.status();
                                let headers = r.headers().clone();
                                let bytes = r.bytes().await.unwrap_or_default();
                                let mut builder =
                                    hyper::Response::builder().status(status.as_u16());
                                for (k, v) in &headers {
                                    if k != "content-length" && k != "transfer-encoding" {
                                        builder = builder.header(k, v);
                                    }
                                }
                                builder.body(Full::new(bytes)).expect("response")
                            }
                            Err(_) => hyper::Response::builder()
                                .status(502)
                                .body(Full::new(Bytes::new()))
                                .expect("static response"),
                        };
                        if let Ok(mut spans) = timing.0.lock() {
                            spans.push((started, Instant::now()));
                        }
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}
