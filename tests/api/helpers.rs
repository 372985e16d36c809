//! The test context: a fresh database per test (migrations applied), a fresh queue pair
//! in the emulator, the real handlers wired as on Lambda, and ways to drive them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use herald::config::Config;
use herald::db::{self, Pool};
use herald::dispatch::Dispatch;
use herald::domain::Channel;
use herald::warm::Warm;
use herald_local::fakes::FakeProviders;
use herald_local::gateway::{self, Target};
use herald_local::poller::{PollStats, QueuePoller};
use herald_local::stack::{self, QueuePair};
use lambda_http::Body;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use uuid::Uuid;

pub const SENDER: &str = "herald@alerts.example.com";
pub const PUBLIC_BASE_URL: &str = "https://herald.test";

/// The tests' own HTTP client (the emulator's state dump can take a while on a busy
/// machine, so no 10 s cap as the providers' client has).
pub fn local_http() -> reqwest::Client {
    herald::channels::https_client_builder()
        .and_then(|b| Ok(b.timeout(Duration::from_secs(120)).build()?))
        .expect("an HTTP client")
}

pub fn admin_url() -> String {
    std::env::var("HERALD_PG_ADMIN_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable".into())
}

pub fn moto_url() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:5055".into())
}

fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        herald::telemetry::init();
    }
}

/// The emulator's whole state (`/moto-api/data.json`), asked again when it answers
/// mid-change (see [`stack::moto_state`]).
pub async fn moto_state(http: &reqwest::Client) -> Value {
    stack::moto_state(http, &moto_url())
        .await
        .expect("the emulator's state")
}

pub async fn sdk_config() -> herald::aws_config::SdkConfig {
    sdk_config_for(&moto_url()).await
}

/// The SDK configuration for the emulator reached at `endpoint` (the emulator itself, or
/// a proxy in front of it), with quick SDK retries so injected faults do not slow tests.
pub async fn sdk_config_for(endpoint: &str) -> herald::aws_config::SdkConfig {
    herald::aws_config::defaults(herald::aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .retry_config(
            herald::aws_config::retry::RetryConfig::standard()
                .with_initial_backoff(Duration::from_millis(10)),
        )
        .region(herald::aws_config::Region::new("us-east-1"))
        .credentials_provider(herald::aws_sdk_sqs::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await
}

/// A fresh, migrated database; returns its name and URL.
pub async fn fresh_database() -> (String, String) {
    let name = format!("herald_test_{}", Uuid::new_v4().simple());
    let (admin, conn) = tokio_postgres::connect(&admin_url(), tokio_postgres::NoTls)
        .await
        .expect("connect to PostgreSQL (is the local stack up? run infra/local/test.sh)");
    tokio::spawn(conn);
    admin
        .batch_execute(&format!(r#"CREATE DATABASE "{name}""#))
        .await
        .expect("create database");
    (name.clone(), database_url(&name))
}

/// The admin URL pointed at another database, keeping its options. Local servers often
/// offer TLS with a self-signed certificate, so TLS is off unless the URL says otherwise.
pub fn database_url(name: &str) -> String {
    let admin = admin_url();
    let (base, rest) = admin.rsplit_once('/').expect("url with a database");
    let query = rest
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or("sslmode=disable");
    format!("{base}/{name}?{query}")
}

pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    client
}

/// The test stack's configuration, from the same variables Lambda reads (one helper,
/// [`stack::local_config`], for the tests and the bench).
pub fn config_for(db_url: &str, queues: &BTreeMap<Channel, QueuePair>) -> Config {
    stack::local_config(
        db_url,
        queues,
        &[
            ("HERALD_SES_FROM", SENDER),
            ("HERALD_PUBLIC_BASE_URL", PUBLIC_BASE_URL),
        ],
    )
    .expect("the test configuration is valid")
}

/// Every channel pointed at a queue that does not exist: SQS refuses every send.
pub fn missing_queues() -> BTreeMap<Channel, QueuePair> {
    stack::QUEUED_CHANNELS
        .into_iter()
        .map(|channel| {
            let url = format!("{}/000000000000/herald-no-such-queue", moto_url());
            let pair = QueuePair {
                url,
                arn: "arn:aws:sqs:us-east-1:000000000000:herald-no-such-queue".into(),
                dlq_url: String::new(),
            };
            (channel, pair)
        })
        .collect()
}

pub struct TestApp {
    pub db_url: String,
    pub pool: Pool,
    pub ingest: herald_ingest::Deps,
    pub recipients: herald_recipients::Deps,
    /// Every channel's dispatcher, as the local runner holds them.
    pub dispatchers: BTreeMap<Channel, Arc<dyn Dispatch>>,
    pub magic: herald_magic_link::Deps,
    pub retry: herald_retry::Deps,
    pub retention: herald_retention::Deps,
    /// The email queue (most tests page by email).
    pub queue: QueuePair,
    pub queues: BTreeMap<Channel, QueuePair>,
    /// The email queue's poller.
    pub poller: QueuePoller,
    pub pollers: BTreeMap<Channel, QueuePoller>,
    pub sqs: herald::aws_sdk_sqs::Client,
    pub tenant_id: Uuid,
    pub api_key: SecretString,
    /// The fake Teams and voice providers this test's dispatchers talk to.
    pub fakes: FakeProviders,
    pub config: Config,
    /// The sms-reply function, and the topic -> queue inbound SMS arrive on.
    pub sms_replies: herald::sms_reply::SmsReplies,
    pub sms_inbound: stack::SmsInbound,
    pub sms_inbound_poller: QueuePoller,
    pub sns: herald::aws_sdk_sns::Client,
    http: reqwest::Client,
}

pub struct TestResponse {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub text: String,
}

impl TestResponse {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

/// One email as SES (the emulator) received it.
#[derive(Debug, Clone)]
pub struct SentEmail {
    pub subject: String,
    pub body: String,
}

impl SentEmail {
    /// The magic links in the email, in order: Acknowledge, then Resolve.
    pub fn links(&self) -> Vec<String> {
        magic_tokens(&self.body)
    }
}

/// The tokens of the magic links in `text`, in order of appearance, each once.
pub fn magic_tokens(text: &str) -> Vec<String> {
    let mut links = Vec::new();
    let mut rest = text;
    let prefix = format!("{PUBLIC_BASE_URL}/l/");
    while let Some(i) = rest.find(&prefix) {
        let token: String = rest[i + prefix.len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        if !links.contains(&token) {
            links.push(token);
        }
        rest = &rest[i + prefix.len()..];
    }
    links
}

/// How a test wants its stack: where the AWS SDK goes, and configuration changes.
pub struct Options {
    pub aws_endpoint: String,
    pub tune: Box<dyn FnOnce(&mut Config) + Send>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            aws_endpoint: moto_url(),
            tune: Box::new(|_| {}),
        }
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(options: Options) -> TestApp {
        init_logs();
        let (_, db_url) = fresh_database().await;
        let mut client = connect(&db_url).await;
        db::migrate(&mut client, &db::migrations_dir())
            .await
            .expect("migrations apply");

        let sdk = sdk_config_for(&options.aws_endpoint).await;
        let sqs = herald::aws_sdk_sqs::Client::new(&sdk);
        let ses = herald::aws_sdk_sesv2::Client::new(&sdk);
        stack::ensure_sender_identity(&ses, SENDER)
            .await
            .expect("SES identity");
        let prefix = format!("herald-{}", Uuid::new_v4().simple());
        let queues = stack::ensure_channel_queues(&sqs, &prefix, 2, 3)
            .await
            .expect("queues");
        let sns = herald::aws_sdk_sns::Client::new(&sdk);
        let sms_inbound = stack::ensure_sms_inbound(&sqs, &sns, &prefix, 2, 3)
            .await
            .expect("inbound SMS topic and queue");

        // A rate-limit table per test: the emulator's TransactWriteItems copies the whole
        // table once per item it writes, so one shared table slows every test down as
        // the suite fills it (and the emulator's memory with it).
        let rate_limit_table = format!("{prefix}-rate-limits");
        herald::rate_limit::ensure_table(&sdk, &rate_limit_table)
            .await
            .expect("the rate-limit table");

        let fakes = FakeProviders::start().await;
        let mut config = config_for(&db_url, &queues);
        config.rate_limits.table = Some(rate_limit_table);
        stack::use_slack_api(&mut config, &fakes.slack_api_base());
        stack::use_teams_authority(&mut config, &fakes.teams_authority());
        (options.tune)(&mut config);
        // The same constructors as the Lambda binaries, with the SDK configuration ready.
        let ready = || Warm::ready(sdk.clone());
        // The emulator has no End User Messaging: that one client goes to the fake.
        let voice_sdk = sdk_config_for(&fakes.voice_endpoint()).await;
        let ingest = herald_ingest::Deps::new(&config, ready())
            .await
            .expect("ingest deps");
        let mut dispatchers = BTreeMap::new();
        for channel in stack::QUEUED_CHANNELS {
            let sdk = if channel == Channel::Voice {
                Warm::ready(voice_sdk.clone())
            } else {
                ready()
            };
            let dispatcher = herald::dispatch::for_channel(channel, &config, sdk)
                .await
                .expect("dispatcher")
                .expect("every queued channel has a dispatcher");
            dispatchers.insert(channel, dispatcher);
        }
        let recipients = herald_recipients::Deps::new(&config)
            .await
            .expect("recipients deps");
        let magic = herald_magic_link::Deps::new(&config, ready())
            .await
            .expect("magic-link deps");
        let retry = herald_retry::Deps::new(&config, ready())
            .await
            .expect("retry deps");
        let retention = herald_retention::Deps::from_config(&config)
            .await
            .expect("retention deps");
        let sms_replies = herald::sms_reply::SmsReplies::new(&config, ready())
            .await
            .expect("sms-reply deps");
        let sms_inbound_poller = QueuePoller {
            sqs: sqs.clone(),
            queue_url: sms_inbound.queue.url.clone(),
            queue_arn: sms_inbound.queue.arn.clone(),
            wait_seconds: 0,
        };
        let pool = ingest.pool.clone();
        let (tenant_id, api_key) = stack::create_tenant(&pool.get().await.expect("conn"), "Acme")
            .await
            .expect("tenant");
        let pollers: BTreeMap<Channel, QueuePoller> = queues
            .iter()
            .map(|(channel, q)| {
                let poller = QueuePoller {
                    sqs: sqs.clone(),
                    queue_url: q.url.clone(),
                    queue_arn: q.arn.clone(),
                    wait_seconds: 0,
                };
                (*channel, poller)
            })
            .collect();
        let queue = queues[&Channel::Email].clone();
        let poller = pollers[&Channel::Email].clone();
        TestApp {
            db_url,
            pool,
            ingest,
            recipients,
            dispatchers,
            magic,
            retry,
            retention,
            queue,
            queues,
            poller,
            pollers,
            sqs,
            tenant_id,
            api_key,
            fakes,
            config,
            sms_replies,
            sms_inbound,
            sms_inbound_poller,
            sns,
            http: local_http(),
        }
    }

    /// Publishes `payload` to the inbound SMS topic, as End User Messaging does.
    pub async fn publish_inbound(&self, payload: &str) {
        self.sns
            .publish()
            .topic_arn(&self.sms_inbound.topic_arn)
            .message(payload)
            .send()
            .await
            .expect("publish to the inbound SMS topic");
    }

    /// One poll of the inbound SMS queue into the sms-reply function.
    pub async fn poll_replies(&self) -> PollStats {
        self.sms_inbound_poller
            .poll_once(|event| herald_sms_reply::function_handler(&self.sms_replies, event))
            .await
            .expect("poll")
    }

    /// `from` texts `body` to Herald's number; the sms-reply function handles it.
    pub async fn text_herald(&self, from: &str, body: &str) -> PollStats {
        self.publish_inbound(&stack::inbound_sms_payload(from, body))
            .await;
        self.poll_replies().await
    }

    /// Sends a request through the API Gateway v2 event shape into the right handler.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> TestResponse {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let route = gateway::match_route(method, path).expect("a route of the HTTP API");
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let req = gateway::to_lambda_request(
            &route,
            method,
            path,
            query,
            &headers,
            body,
            "198.51.100.7".parse().expect("ip"),
        )
        .expect("event");
        let response = match route.target {
            Target::Ingest => herald_ingest::function_handler(&self.ingest, req).await,
            Target::Recipients => herald_recipients::function_handler(&self.recipients, req).await,
            Target::MagicLink => herald_magic_link::function_handler(&self.magic, req).await,
        }
        .expect("handlers answer, they do not fail");
        let (parts, body) = response.into_parts();
        let text = match body {
            Body::Empty => String::new(),
            Body::Text(t) => t,
            Body::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
            _ => String::new(),
        };
        TestResponse {
            status: parts.status.as_u16(),
            headers: parts.headers,
            text,
        }
    }

    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.api_key.expose_secret())
    }

    pub async fn api(&self, method: &str, path: &str, body: Option<&Value>) -> TestResponse {
        let auth = self.bearer();
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        self.request(
            method,
            path,
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            body.as_bytes(),
        )
        .await
    }

    pub async fn post_escalation(&self, body: &Value) -> TestResponse {
        self.api("POST", "/v1/escalations", Some(body)).await
    }

    /// One retry sweep with a generous budget.
    pub async fn retry_once(&self) -> herald::scheduled::RetrySummary {
        self.retry
            .run(herald::domain::Budget::for_duration(
                std::time::Instant::now(),
                Duration::from_secs(30),
            ))
            .await
            .expect("retry sweep")
    }

    /// One run of the escalation engine as if the clock read `now` (the retry run uses
    /// the real clock; tests move time by passing a later one).
    pub async fn escalate_at(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> herald::scheduled::EngineSummary {
        let queues = self.retry.queues.get().await.expect("queues");
        herald::scheduled::escalate(
            &self.pool,
            &queues,
            &self.retry.settings.channels,
            self.retry.settings.batch_size,
            herald::domain::Budget::for_duration(
                std::time::Instant::now(),
                Duration::from_secs(30),
            ),
            || now,
        )
        .await
        .expect("engine run")
    }

    /// One retention run with a generous budget.
    pub async fn retention_once(&self) -> herald::scheduled::RetentionSummary {
        self.retention
            .run(herald::domain::Budget::for_duration(
                std::time::Instant::now(),
                Duration::from_secs(30),
            ))
            .await
            .expect("retention")
    }

    pub async fn execute(&self, sql: &str) -> u64 {
        let client = self.pool.get().await.expect("conn");
        client.execute(sql, &[]).await.expect("statement")
    }

    /// The dispatcher of `channel`.
    pub fn dispatcher(&self, channel: Channel) -> &dyn Dispatch {
        self.dispatchers[&channel].as_ref()
    }

    /// One poll of the email queue into the email dispatcher.
    pub async fn poll_once(&self) -> PollStats {
        self.poll_channel(Channel::Email).await
    }

    /// One poll of `channel`'s queue into its dispatcher, as Lambda's event source does.
    pub async fn poll_channel(&self, channel: Channel) -> PollStats {
        let dispatcher = self.dispatcher(channel);
        self.pollers[&channel]
            .poll_once(|event| herald_dispatch::function_handler(dispatcher, event))
            .await
            .expect("poll")
    }

    /// Runs the email dispatcher until the queue is empty; returns messages handled.
    pub async fn dispatch_all(&self) -> usize {
        self.dispatch_channel(Channel::Email).await
    }

    /// Runs `channel`'s dispatcher until its queue is empty; returns messages handled.
    pub async fn dispatch_channel(&self, channel: Channel) -> usize {
        let mut handled = 0;
        loop {
            let stats = self.poll_channel(channel).await;
            if stats.received == 0 {
                return handled;
            }
            handled += stats.received;
        }
    }

    /// The emulator's whole state (`/moto-api/data.json`).
    pub async fn moto_data(&self) -> Value {
        moto_state(&self.http).await
    }

    /// Every SMS the emulator's SNS accepted for `phone`, oldest first.
    pub async fn sms_to(&self, phone: &str) -> Vec<String> {
        self.moto_data().await["sns"]["SMS"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["phone_number"] == phone)
            .filter_map(|m| m["message"].as_str().map(str::to_owned))
            .collect()
    }

    /// Every message the emulator's SNS accepted for the platform endpoint `arn`, each
    /// the raw `Message` string.
    pub async fn push_messages(&self, arn: &str) -> Vec<String> {
        self.moto_data().await["sns"]["PlatformEndpoint"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["arn"] == arn)
            .flat_map(|e| {
                e["messages"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter_map(|(_, m)| m.as_str().map(str::to_owned))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// A new SNS platform endpoint (in a new GCM application) for this test.
    pub async fn push_endpoint(&self) -> String {
        let sns = herald::aws_sdk_sns::Client::new(&sdk_config().await);
        let app = push_application(&sns, "herald-test").await;
        sns.create_platform_endpoint()
            .platform_application_arn(app)
            .token(format!("device-{}", Uuid::new_v4().simple()))
            .send()
            .await
            .expect("platform endpoint")
            .endpoint_arn
            .expect("endpoint arn")
    }

    /// Every email the emulator's SES accepted for `to`.
    pub async fn emails_to(&self, to: &str) -> Vec<SentEmail> {
        self.moto_data().await["ses"]["Message"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m.to_string().contains(to))
            .map(|m| SentEmail {
                subject: m["subject"].as_str().unwrap_or_default().to_owned(),
                body: m["body"].as_str().unwrap_or_default().to_owned(),
            })
            .collect()
    }

    pub async fn magic(&self, method: &str, token: &str) -> TestResponse {
        let path = format!("/l/{token}");
        let headers: &[(&str, &str)] = if method == "POST" {
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("user-agent", "Mozilla/5.0 (test)"),
            ]
        } else {
            &[("user-agent", "Mozilla/5.0 (test)")]
        };
        let body: &[u8] = if method == "POST" { b"confirm=1" } else { b"" };
        self.request(method, &path, headers, body).await
    }

    /// Row counts of every table, to prove a request wrote nothing.
    pub async fn row_counts(&self) -> HashMap<&'static str, i64> {
        let client = self.pool.get().await.expect("conn");
        let mut counts = HashMap::new();
        for table in [
            "tenants",
            "api_keys",
            "recipients",
            "escalations",
            "notification_log",
            "magic_link_tokens",
            "event_log",
            "notifications",
            "credentials",
        ] {
            let row = client
                .query_one(&format!("SELECT count(*) FROM {table}"), &[])
                .await
                .expect("count");
            counts.insert(table, row.get::<_, i64>(0));
        }
        counts
    }

    pub async fn scalar_i64(&self, sql: &str) -> i64 {
        let client = self.pool.get().await.expect("conn");
        client.query_one(sql, &[]).await.expect("query").get(0)
    }

    /// Messages still in the email queue (visible or in flight).
    pub async fn queue_depth(&self) -> i64 {
        use herald::aws_sdk_sqs::types::QueueAttributeName;
        let attrs = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.queue.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("attributes")
            .attributes
            .unwrap_or_default();
        attrs.values().filter_map(|v| v.parse::<i64>().ok()).sum()
    }
}

/// A valid escalation for one recipient whose address is unique to this test.
pub fn escalation_for(email: &str) -> Value {
    serde_json::json!({
        "dedup_key": format!("dk-{}", Uuid::new_v4()),
        "title": "Primary database CPU above 95%",
        "body": "p99 latency 2.3 s; connections saturating.",
        "priority": "critical",
        "service": "orders-db",
        "team": "platform",
        "alert_count": 3,
        "dashboard_url": "https://grafana.example.com/d/orders-db",
        "recipients": [{ "id": "u-alice", "name": "Alice Martin", "email": email, "phone": "+14155550101" }]
    })
}

/// A new GCM platform application in the emulator's SNS, named `{prefix}-<uuid>`.
pub async fn push_application(sns: &herald::aws_sdk_sns::Client, prefix: &str) -> String {
    sns.create_platform_application()
        .name(format!("{prefix}-{}", Uuid::new_v4().simple()))
        .platform("GCM")
        .attributes("PlatformCredential", "test-server-key")
        .send()
        .await
        .expect("platform application")
        .platform_application_arn
        .expect("application arn")
}

/// A valid US number no other test uses. (Never ending in 99: the emulator says those
/// opted out.)
pub fn unique_phone() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    let line = loop {
        let line: u32 = rng.random_range(0..10_000);
        if line % 100 != 99 {
            break line;
        }
    };
    format!("+1415{}{line:04}", rng.random_range(200..1000))
}

pub fn unique_email(who: &str) -> String {
    format!("{who}-{}@example.com", Uuid::new_v4().simple())
}

/// The id of the email notification in an ingest response.
pub fn email_notification(created: &Value) -> Uuid {
    created["notifications"]
        .as_array()
        .expect("notifications")
        .iter()
        .find(|n| n["channel"] == "email")
        .and_then(|n| n["id"].as_str())
        .expect("email notification")
        .parse()
        .expect("uuid")
}

/// Captures every log line of this test's thread (tests run on a current-thread
/// runtime, so every task of the test is on it).
pub fn capture_logs() -> (
    tracing::subscriber::DefaultGuard,
    std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
) {
    #[derive(Clone)]
    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("log buffer").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = Sink(buffer.clone());
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("trace")
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    // With a single registered dispatcher, tracing decides a new callsite's interest from
    // the thread that meets it first: another test's thread, which has no subscriber,
    // would cache "never" for everyone. A second registered dispatcher makes tracing ask
    // per event instead.
    static SECOND: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
    SECOND.get_or_init(|| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default()));
    let guard = tracing::subscriber::set_default(subscriber);
    // Callsites met before now: ask again, now that this thread has a subscriber.
    tracing::callsite::rebuild_interest_cache();
    (guard, buffer)
}

/// `GET /v1/escalations/{id}`, which must answer 200.
pub async fn detail(app: &TestApp, id: &str) -> Value {
    let got = app.api("GET", &format!("/v1/escalations/{id}"), None).await;
    assert_eq!(got.status, 200, "{}", got.text);
    got.json()
}

/// (tier, channel, status, reason) of every delivery, in order.
pub fn deliveries(detail: &Value) -> Vec<(String, String, String, Option<String>)> {
    detail["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .map(|d| {
            (
                d["tier"].as_str().expect("tier").to_owned(),
                d["channel"].as_str().expect("channel").to_owned(),
                d["status"].as_str().expect("status").to_owned(),
                d["reason"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

/// A row of [`deliveries`].
pub fn delivery(
    tier: &str,
    channel: &str,
    status: &str,
    reason: Option<&str>,
) -> (String, String, String, Option<String>) {
    (
        tier.to_owned(),
        channel.to_owned(),
        status.to_owned(),
        reason.map(str::to_owned),
    )
}
