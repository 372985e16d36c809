use std::collections::BTreeMap;

use anyhow::Context as _;
use aws_sdk_sqs::types::QueueAttributeName;
use herald::db;
use herald::domain::Channel;
use secrecy::SecretString;
use uuid::Uuid;

/// A queue and its dead-letter queue.
#[derive(Debug, Clone)]
pub struct QueuePair {
    pub url: String,
    pub arn: String,
    pub dlq_url: String,
}

/// Creates (or finds) `name` and `name-dlq`, with the redrive policy the template sets.
pub async fn ensure_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    visibility_timeout_secs: u32,
    max_receive_count: u32,
) -> anyhow::Result<QueuePair> {
    let dlq_url = sqs
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
        .send()
        .await
        .context("creating the DLQ")?
        .queue_url
        .context("no DLQ url")?;
    let dlq_arn = queue_arn(sqs, &dlq_url).await?;
    let redrive =
        serde_json::json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count });
    let url = sqs
        .create_queue()
        .queue_name(name)
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_timeout_secs.to_string(),
        )
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .send()
        .await
        .context("creating the queue")?
        .queue_url
        .context("no queue url")?;
    let arn = queue_arn(sqs, &url).await?;
    Ok(QueuePair { url, arn, dlq_url })
}

/// The channels that have a dispatcher (and so an SQS queue); in-app rows need none.
pub const QUEUED_CHANNELS: [Channel; 6] = [
    Channel::Email,
    Channel::Sms,
    Channel::Push,
    Channel::Slack,
    Channel::Teams,
    Channel::Voice,
];

/// Stores a Slack installation for `tenant` as the OAuth callback will: the bot token
/// sealed with the configuration's keys. For the local stack, the tests and the bench.
pub async fn install_slack(
    client: &herald::db::Client,
    config: &herald::Config,
    tenant: uuid::Uuid,
    slack_team_id: &str,
    bot_token: &str,
) -> anyhow::Result<()> {
    let keys = config
        .secret_keys
        .as_ref()
        .context("HERALD_SECRET_KEYS is not set")?;
    let keyring = herald::secrets::Keyring::from_config(keys).await?;
    let sealed = keyring.seal(
        &secrecy::SecretString::from(bot_token.to_owned()),
        &herald::secrets::Owner::slack_bot_token(tenant),
    );
    herald::db::slack::install(client, tenant, slack_team_id, None, &sealed).await
}

/// Points the Slack dispatcher at `base` (a local fake of the Web API).
pub fn use_slack_api(config: &mut herald::Config, base: &str) {
    config
        .channels
        .entry(Channel::Slack)
        .or_default()
        .provider
        .insert("SLACK_API_BASE_URL", base.to_owned());
}

/// Points people's Teams sign-in at `authority` (a local fake of Microsoft's identity
/// platform).
pub fn use_teams_authority(config: &mut herald::Config, authority: &str) {
    if let Some(app) = config.teams_oauth.as_mut() {
        app.authority_url = authority.trim_end_matches('/').to_owned();
    }
}

/// A queue and DLQ per dispatched channel: `{prefix}-{channel}` (`herald-sms`...).
pub async fn ensure_channel_queues(
    sqs: &aws_sdk_sqs::Client,
    prefix: &str,
    visibility_timeout_secs: u32,
    max_receive_count: u32,
) -> anyhow::Result<BTreeMap<Channel, QueuePair>> {
    let mut queues = BTreeMap::new();
    for channel in QUEUED_CHANNELS {
        let name = format!("{prefix}-{}", channel.as_str().replace('_', "-"));
        let pair = ensure_queue(sqs, &name, visibility_timeout_secs, max_receive_count).await?;
        queues.insert(channel, pair);
    }
    Ok(queues)
}

/// A topic delivering (raw) to a queue a function polls, as the template wires them:
/// End User Messaging publishes inbound SMS to one (`sms-reply` polls its queue); SES
/// and End User Messaging publish delivery receipts to another (`feedback`).
#[derive(Debug, Clone)]
pub struct TopicQueue {
    pub topic_arn: String,
    pub queue: QueuePair,
}

/// Where inbound SMS arrive.
pub type SmsInbound = TopicQueue;

/// Creates (or finds) the topic `{prefix}-sms-inbound`, its queue and DLQ, and the raw
/// subscription between them.
pub async fn ensure_sms_inbound(
    sqs: &aws_sdk_sqs::Client,
    sns: &herald::aws_sdk_sns::Client,
    prefix: &str,
    visibility_timeout_secs: u32,
    max_receive_count: u32,
) -> anyhow::Result<SmsInbound> {
    let name = format!("{prefix}-sms-inbound");
    ensure_topic_queue(sqs, sns, &name, visibility_timeout_secs, max_receive_count).await
}

/// Creates (or finds) the topic `{prefix}-feedback` that delivery receipts are published
/// to, its queue and DLQ, and the raw subscription between them.
pub async fn ensure_feedback(
    sqs: &aws_sdk_sqs::Client,
    sns: &herald::aws_sdk_sns::Client,
    prefix: &str,
    visibility_timeout_secs: u32,
    max_receive_count: u32,
) -> anyhow::Result<TopicQueue> {
    let name = format!("{prefix}-feedback");
    ensure_topic_queue(sqs, sns, &name, visibility_timeout_secs, max_receive_count).await
}

async fn ensure_topic_queue(
    sqs: &aws_sdk_sqs::Client,
    sns: &herald::aws_sdk_sns::Client,
    name: &str,
    visibility_timeout_secs: u32,
    max_receive_count: u32,
) -> anyhow::Result<TopicQueue> {
    let queue = ensure_queue(sqs, name, visibility_timeout_secs, max_receive_count).await?;
    let topic_arn = sns
        .create_topic()
        .name(name)
        .send()
        .await
        .with_context(|| format!("creating the topic {name}"))?
        .topic_arn
        .context("no topic ARN")?;
    let subscribed = sns
        .list_subscriptions_by_topic()
        .topic_arn(&topic_arn)
        .send()
        .await
        .context("listing the topic's subscriptions")?
        .subscriptions
        .unwrap_or_default()
        .iter()
        .any(|s| s.endpoint.as_deref() == Some(queue.arn.as_str()));
    if !subscribed {
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(&queue.arn)
            .attributes("RawMessageDelivery", "true")
            .send()
            .await
            .context("subscribing the queue to the topic")?;
    }
    Ok(TopicQueue { topic_arn, queue })
}

/// The two-way number local SMS pages come from, and replies go to.
pub const LOCAL_SMS_NUMBER: &str = "+12065550111";

/// One inbound SMS as End User Messaging publishes it to the topic (its documented
/// payload): `body` from `from` to Herald's number.
pub fn inbound_sms_payload(from: &str, body: &str) -> String {
    serde_json::json!({
        "originationNumber": from,
        "destinationNumber": LOCAL_SMS_NUMBER,
        "messageKeyword": "KEYWORD_000000000000",
        "messageBody": body,
        "inboundMessageId": Uuid::new_v4().to_string(),
        "previousPublishedMessageId": Uuid::new_v4().simple().to_string(),
    })
    .to_string()
}

/// A local stack's configuration, parsed from the same variables Lambda reads (so with
/// the same defaults and checks): the database, a queue per channel, a verified sender
/// and a public base URL, then `extra` (which wins). Tests and the bench build theirs
/// here.
pub fn local_config(
    db_url: &str,
    queues: &BTreeMap<Channel, QueuePair>,
    extra: &[(&str, &str)],
) -> anyhow::Result<herald::Config> {
    let mut vars: BTreeMap<String, String> = BTreeMap::from([
        ("HERALD_DATABASE_URL".to_owned(), db_url.to_owned()),
        ("HERALD_DB_POOL_SIZE".to_owned(), "10".to_owned()),
        (
            "HERALD_RATE_LIMIT_TABLE".to_owned(),
            LOCAL_RATE_LIMIT_TABLE.to_owned(),
        ),
        ("HERALD_SES_FROM".to_owned(), LOCAL_SENDER.to_owned()),
        (
            "HERALD_PUBLIC_BASE_URL".to_owned(),
            "http://127.0.0.1:3000".to_owned(),
        ),
        (
            "HERALD_SECRET_KEYS".to_owned(),
            LOCAL_SECRET_KEYS.to_owned(),
        ),
        // The local fake providers listen on loopback.
        (
            "HERALD_TEAMS_WEBHOOK_HOSTS".to_owned(),
            "127.0.0.1".to_owned(),
        ),
        (
            "HERALD_VOICE_ORIGINATION_IDENTITY".to_owned(),
            LOCAL_VOICE_NUMBER.to_owned(),
        ),
        // Slack's buttons post back to `POST /slack/actions`, signed with this.
        (
            "HERALD_SLACK_SIGNING_SECRET".to_owned(),
            LOCAL_SLACK_SIGNING_SECRET.to_owned(),
        ),
        ("HERALD_SLACK_INTERACTIVE".to_owned(), "true".to_owned()),
        // "Add to Slack" against the local fake's oauth.v2.access.
        (
            "HERALD_SLACK_CLIENT_ID".to_owned(),
            LOCAL_SLACK_CLIENT_ID.to_owned(),
        ),
        (
            "HERALD_SLACK_CLIENT_SECRET".to_owned(),
            LOCAL_SLACK_CLIENT_SECRET.to_owned(),
        ),
        // People's Teams sign-in, against the local fake of Microsoft's token endpoint
        // (see `use_teams_authority`).
        (
            "HERALD_TEAMS_CLIENT_ID".to_owned(),
            LOCAL_TEAMS_CLIENT_ID.to_owned(),
        ),
        (
            "HERALD_TEAMS_CLIENT_SECRET".to_owned(),
            LOCAL_TEAMS_CLIENT_SECRET.to_owned(),
        ),
    ]);
    for (channel, pair) in queues {
        vars.insert(
            format!("HERALD_QUEUE_URL_{}", channel.env_name()),
            pair.url.clone(),
        );
        vars.insert(
            format!("HERALD_DLQ_URL_{}", channel.env_name()),
            pair.dlq_url.clone(),
        );
    }
    for (name, value) in extra {
        vars.insert((*name).to_owned(), (*value).to_owned());
    }
    herald::Config::from_pairs(vars)
}

/// The local Slack app's signing secret (local runs only: never deploy it). The demo,
/// the tests and the bench sign button clicks with it as Slack would.
pub const LOCAL_SLACK_SIGNING_SECRET: &str = "local-only-slack-signing-secret-0001";

/// The local Slack app's OAuth credentials (local runs only).
pub const LOCAL_SLACK_CLIENT_ID: &str = "1790000000.0001";
pub const LOCAL_SLACK_CLIENT_SECRET: &str = "local-only-slack-client-secret-0001";

/// The local Entra ID app's credentials (local runs only).
pub const LOCAL_TEAMS_CLIENT_ID: &str = "00000000-0000-4000-8000-0000000a11ce";
pub const LOCAL_TEAMS_CLIENT_SECRET: &str = "local-only-teams-client-secret-0001";

/// The DynamoDB table of the rate-limit counters locally (see [`ensure_rate_limit_table`]).
pub const LOCAL_RATE_LIMIT_TABLE: &str = "herald-rate-limits";

/// Creates the local rate-limit counters' table in the emulator when it is missing (the
/// tests make one each instead: see `tests/api/helpers.rs`).
pub async fn ensure_rate_limit_table(sdk: &herald::aws_config::SdkConfig) -> anyhow::Result<()> {
    herald::rate_limit::ensure_table(sdk, LOCAL_RATE_LIMIT_TABLE).await
}

/// The sender `serve`, the tests and the bench verify in the emulator's SES.
pub const LOCAL_SENDER: &str = "herald@alerts.example.com";

/// A fixed sealing key for local runs and tests only (never deploy it: on AWS the keys
/// come from `HERALD_SECRET_KEYS_ARN`).
pub const LOCAL_SECRET_KEYS: &str = "local-1=bG9jYWwtb25seS1rZXktbmV2ZXItZGVwbG95LWl0ISE=";

/// The origination number local voice calls claim to come from.
pub const LOCAL_VOICE_NUMBER: &str = "+12065550100";

/// Points the configuration at the queues, as `HERALD_QUEUE_URL_<CHANNEL>` and
/// `HERALD_DLQ_URL_<CHANNEL>` would.
pub fn use_queues(config: &mut herald::Config, queues: &BTreeMap<Channel, QueuePair>) {
    for (channel, pair) in queues {
        let c = config.channels.entry(*channel).or_default();
        c.queue_url = Some(pair.url.clone());
        c.dlq_url = Some(pair.dlq_url.clone());
    }
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> anyhow::Result<String> {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .context("GetQueueAttributes")?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .context("queue has no ARN")
}

/// Verifies the sender in SES (the emulator, like SES, refuses unverified senders).
pub async fn ensure_sender_identity(
    ses: &herald::aws_sdk_sesv2::Client,
    from: &str,
) -> anyhow::Result<()> {
    match ses
        .create_email_identity()
        .email_identity(from)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_already_exists_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(anyhow::Error::new(e).context("creating the SES identity")),
    }
}

/// A new tenant and its first API key. The key is returned once and stored only hashed.
pub async fn create_tenant(
    client: &db::Client,
    name: &str,
) -> anyhow::Result<(Uuid, SecretString)> {
    let tenant_id = db::tenants::create_tenant(client, name).await?;
    let key = herald::api_key::mint();
    db::tenants::create_api_key(client, tenant_id, &key.hash, &key.display_prefix, "default")
        .await?;
    Ok((tenant_id, key.key))
}

/// The emulator's whole state (`/moto-api/data.json`). The emulator serialises it while
/// others change it, and now and then answers 500 (or half a body) for that: it is
/// asked again, five times at most.
pub async fn moto_state(
    http: &reqwest::Client,
    moto_url: &str,
) -> anyhow::Result<serde_json::Value> {
    let mut last = String::new();
    for _ in 0..5 {
        let got = http
            .get(format!("{moto_url}/moto-api/data.json"))
            .send()
            .await?;
        let status = got.status();
        let text = got.text().await?;
        match serde_json::from_str(&text) {
            Ok(value) if status.is_success() => return Ok(value),
            _ => last = format!("{status}: {}", text.chars().take(200).collect::<String>()),
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    anyhow::bail!("the emulator's state, asked 5 times: {last}")
}
