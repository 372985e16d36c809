//! Typed configuration from environment variables, read once per cold start.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use anyhow::{Context, bail};
use secrecy::SecretString;

use crate::domain::rate_limit::{Limits, RateLimits};
use crate::domain::{Channel, RetryPolicies, RetryPolicy};

#[derive(Debug, Clone)]
pub struct Config {
    pub database: DatabaseConfig,
    /// `HERALD_PUBLIC_BASE_URL`: where `/l/{token}` is served, e.g. `https://api.example.com`.
    pub public_base_url: Option<String>,
    /// `HERALD_MAGIC_LINK_TTL_SECS` (default 86400).
    pub magic_link_ttl: Duration,
    /// Every channel's queue and provider settings, keyed by channel. A channel with a
    /// queue here is enabled; any other is recorded as `suppressed` /
    /// `channel_not_enabled`.
    pub channels: BTreeMap<Channel, ChannelConfig>,
    /// `HERALD_SECRET_KEYS` or `HERALD_SECRET_KEYS_ARN`: the keys provider secrets are
    /// sealed with (see [`crate::secrets`]).
    pub secret_keys: Option<SecretSource>,
    /// `HERALD_SLACK_SIGNING_SECRET` or `HERALD_SLACK_SIGNING_SECRET_ARN`: the Slack
    /// app's signing secret, which `POST /slack/actions` checks every request with.
    pub slack_signing_secret: Option<SecretSource>,
    /// `HERALD_SLACK_CLIENT_ID` with `HERALD_SLACK_CLIENT_SECRET[_ARN]`: the Slack app's
    /// OAuth credentials, for "Add to Slack" (`/v1/integrations/slack/install`).
    pub slack_oauth: Option<SlackOAuthConfig>,
    /// `HERALD_TEAMS_CLIENT_ID` with `HERALD_TEAMS_CLIENT_SECRET[_ARN]`: the Entra ID app
    /// people sign in with to connect their Teams identity
    /// (`/v1/recipients/{id}/connections/teams`).
    pub teams_oauth: Option<TeamsOAuthConfig>,
    /// `HERALD_TEAMS_WEBHOOK_HOSTS` (comma-separated host suffixes; default the Power
    /// Automate Workflows hosts): the only hosts a Teams webhook may point at.
    pub teams_webhook_hosts: Vec<String>,
    /// `HERALD_MAX_ATTEMPTS` (default 6) with the default backoff; per channel
    /// `HERALD_MAX_ATTEMPTS_<CHANNEL>` (e.g. `HERALD_MAX_ATTEMPTS_VOICE=2`).
    pub retry: RetryPolicies,
    /// `HERALD_OUTBOX_GRACE_SECS` (default 60): how long a `queued` row may wait for a
    /// dispatcher before the retry sweep enqueues it again.
    pub outbox_grace: Duration,
    /// `HERALD_RETRY_BATCH_SIZE` (default 500): rows per retry-sweep statement.
    pub retry_batch_size: u32,
    pub retention: RetentionConfig,
    /// `HERALD_API_KEY_CACHE_SECS` (default 60; 0 turns it off): how long an instance
    /// trusts a key it has verified, so a revoked key stops working within this.
    pub api_key_cache_ttl: Duration,
    /// `HERALD_SENDING_LEASE_SECS` (default 300): how long a claimed row may stay
    /// `sending` before the retry sweep may take it back.
    pub sending_lease: Duration,
    pub rate_limits: RateLimitConfig,
    /// `HERALD_RECEIPT_WINDOW_MINUTES_<CHANNEL>` (1–1440; unset or 0: none): how long the
    /// channel's provider has to confirm a send with a delivery receipt before the
    /// escalation stops counting on it (see [`crate::domain::engine`]). Set only for
    /// channels whose receipts reach the `feedback` function.
    pub receipt_windows: BTreeMap<Channel, chrono::TimeDelta>,
}

/// Per-person, per-channel rate limits (see [`crate::domain::rate_limit`]).
#[derive(Debug, Clone)]
pub struct RateLimitConfig {
    /// `HERALD_RATE_LIMIT_TABLE`: the DynamoDB table of the counters. Unset, nothing is
    /// limited (the template always sets it).
    pub table: Option<String>,
    /// The defaults, each channel's replaced by `HERALD_RATE_LIMITS_<CHANNEL>`
    /// (`5/15m,11/1h`, or `off`).
    pub limits: RateLimits,
}

/// Where a secret of the configuration comes from: the variable `HERALD_<NAME>` itself
/// (local runs, tests), or the Secrets Manager secret `HERALD_<NAME>_ARN` (Lambda).
#[derive(Debug, Clone)]
pub enum SecretSource {
    /// The value (`HERALD_SECRET_KEYS=id=<base64 32 bytes>[,older=...]`...).
    Inline(SecretString),
    /// A Secrets Manager secret holding the same text.
    SecretArn(String),
}

impl SecretSource {
    /// The secret's text, from the variable or through the secrets extension.
    pub async fn read(&self) -> anyhow::Result<SecretString> {
        match self {
            SecretSource::Inline(value) => Ok(value.clone()),
            SecretSource::SecretArn(arn) => crate::secrets::fetch_secret_string(arn).await,
        }
    }
}

/// The Slack app's OAuth credentials.
#[derive(Debug, Clone)]
pub struct SlackOAuthConfig {
    pub client_id: String,
    pub client_secret: SecretSource,
    /// `HERALD_SLACK_AUTHORIZE_URL` (default Slack's consent page).
    pub authorize_url: String,
}

/// The Entra ID (Microsoft identity platform) app's OAuth credentials.
#[derive(Debug, Clone)]
pub struct TeamsOAuthConfig {
    pub client_id: String,
    pub client_secret: SecretSource,
    /// `HERALD_TEAMS_AUTHORITY_URL` (default `https://login.microsoftonline.com/organizations`:
    /// any work or school account; `…/{directory id}` allows only that organisation).
    /// Its `/oauth2/v2.0/authorize` and `/oauth2/v2.0/token` are used.
    pub authority_url: String,
}

/// Microsoft's authority for any work or school account.
pub const DEFAULT_TEAMS_AUTHORITY_URL: &str = "https://login.microsoftonline.com/organizations";

/// One channel's settings. Each comes from `HERALD_<NAME>` or `HERALD_<NAME>_<CHANNEL>`
/// variables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelConfig {
    /// `HERALD_QUEUE_URL_<CHANNEL>`: where ingest and the retry sweep enqueue its rows.
    /// Its presence is what enables the channel.
    pub queue_url: Option<String>,
    /// `HERALD_DLQ_URL_<CHANNEL>`: the queue's dead-letter queue, which the retry sweep
    /// watches (messages there open a `dlq_messages` system event).
    pub dlq_url: Option<String>,
    /// The provider settings the channel's dispatcher reads (`HERALD_SES_FROM`...), by
    /// variable name without the `HERALD_` prefix.
    pub provider: BTreeMap<&'static str, String>,
}

/// The provider variables of each channel: (channel, name without the `HERALD_` prefix).
pub const PROVIDER_VARS: &[(Channel, &str)] = &[
    (Channel::Email, "SES_FROM"),
    (Channel::Email, "SES_CONFIGURATION_SET"),
    (Channel::Sms, "SMS_SENDER_ID"),
    (Channel::Sms, "SMS_ORIGINATION_NUMBER"),
    (Channel::Sms, "SMS_REPLY_CODES"),
    (Channel::Voice, "VOICE_ORIGINATION_IDENTITY"),
    (Channel::Voice, "VOICE_ID"),
    (Channel::Voice, "VOICE_CONFIGURATION_SET"),
    (Channel::Slack, "SLACK_API_BASE_URL"),
    (Channel::Slack, "SLACK_INTERACTIVE"),
];

impl ChannelConfig {
    /// A provider setting, or an error naming the variable to set.
    pub fn require(&self, name: &str) -> anyhow::Result<&str> {
        self.provider
            .get(name)
            .map(String::as_str)
            .with_context(|| format!("HERALD_{name} is not set"))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.provider.get(name).map(String::as_str)
    }

    /// A `true`/`false` setting, `false` when unset; anything else is an error naming it.
    pub fn flag(&self, name: &str) -> anyhow::Result<bool> {
        match self.get(name).map(str::trim) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => anyhow::bail!("HERALD_{name}={other:?} is not true or false"),
        }
    }
}

/// How long each kind of row is kept. Every window is a configuration variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionConfig {
    /// `HERALD_TOKEN_RETENTION_HOURS` (default 24): magic-link tokens are deleted this
    /// long after they expired or were used (until then a click says "already used" or
    /// "expired" rather than "unknown link").
    pub tokens: Duration,
    /// `HERALD_RESOLVED_RETENTION_DAYS` (default 90): resolved escalations, with their
    /// delivery rows and tokens.
    pub resolved_escalations: Duration,
    /// `HERALD_EVENT_LOG_RETENTION_DAYS` (default 365): the audit log.
    pub event_log: Duration,
    /// `HERALD_INBOX_RETENTION_DAYS` (default 30): in-app rows are deleted this long after
    /// they were created (rows with an `expires_at` go once it passes).
    pub inbox: Duration,
    /// `HERALD_SYSTEM_EVENT_RETENTION_DAYS` (default 90): resolved system events.
    pub system_events: Duration,
    /// `HERALD_RETENTION_MAX_BATCH` (default 5000): the most rows one DELETE removes; the
    /// batch adapts below it to keep every statement short.
    pub max_batch: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            tokens: Duration::from_secs(24 * 3600),
            resolved_escalations: Duration::from_secs(90 * 86_400),
            event_log: Duration::from_secs(365 * 86_400),
            inbox: Duration::from_secs(30 * 86_400),
            system_events: Duration::from_secs(90 * 86_400),
            max_batch: 5_000,
        }
    }
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub source: DatabaseSource,
    /// `HERALD_DB_POOL_SIZE` (default 4). Lambda handles one event at a time, so a
    /// small pool keeps the proxy's connection count proportional to concurrency.
    pub pool_size: usize,
    /// `HERALD_DATABASE_CA_FILE`: extra PEM roots (e.g. the RDS CA bundle) besides the
    /// public web roots.
    pub ca_file: Option<String>,
}

#[derive(Debug, Clone)]
pub enum DatabaseSource {
    /// `HERALD_DATABASE_URL`, e.g. `postgres://herald@127.0.0.1:5432/herald?sslmode=disable`.
    Url(SecretString),
    /// Discrete settings; the password comes from Secrets Manager through the
    /// Parameters and Secrets Lambda extension.
    Secret {
        host: String,
        port: u16,
        dbname: String,
        user: String,
        sslmode: String,
        secret_arn: String,
    },
}

impl Config {
    /// From the process environment (once per cold start).
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// From `(name, value)` pairs, exactly as [`Config::from_env`] reads the environment:
    /// tests and the bench build their configuration this way, so they parse the same
    /// variables with the same defaults as Lambda.
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> anyhow::Result<Self> {
        let vars: HashMap<String, String> = pairs
            .into_iter()
            .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned()))
            .collect();
        Self::from_vars(|name| vars.get(name).cloned())
    }

    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        fn parse_value<T: std::str::FromStr>(
            name: &str,
            value: Option<String>,
            default: T,
        ) -> anyhow::Result<T>
        where
            T::Err: std::fmt::Display,
        {
            match value {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse()
                    .map_err(|e| anyhow::anyhow!("{name}={v:?} is not valid: {e}")),
            }
        }
        macro_rules! parsed {
            ($name:expr, $default:expr) => {
                parse_value($name, var($name), $default)
            };
        }
        let source = if let Some(url) = var("HERALD_DATABASE_URL") {
            DatabaseSource::Url(SecretString::from(url))
        } else if let Some(secret_arn) = var("HERALD_DATABASE_SECRET_ARN") {
            DatabaseSource::Secret {
                host: var("HERALD_DATABASE_HOST").context("HERALD_DATABASE_HOST is not set")?,
                port: parsed!("HERALD_DATABASE_PORT", 5432)?,
                dbname: var("HERALD_DATABASE_NAME").unwrap_or_else(|| "herald".into()),
                user: var("HERALD_DATABASE_USER").unwrap_or_else(|| "herald".into()),
                sslmode: var("HERALD_DATABASE_SSLMODE").unwrap_or_else(|| "require".into()),
                secret_arn,
            }
        } else {
            bail!(
                "set HERALD_DATABASE_URL, or HERALD_DATABASE_SECRET_ARN and HERALD_DATABASE_HOST"
            );
        };
        let max_attempts: u32 =
            parsed!("HERALD_MAX_ATTEMPTS", RetryPolicy::default().max_attempts)?;
        if max_attempts == 0 {
            bail!("HERALD_MAX_ATTEMPTS must be at least 1");
        }
        let mut per_channel = Vec::new();
        for channel in Channel::ALL {
            let name = format!("HERALD_MAX_ATTEMPTS_{}", channel.as_str().to_uppercase());
            if var(&name).is_some() {
                let max: u32 = parsed!(&name, max_attempts)?;
                if max == 0 {
                    bail!("{name} must be at least 1");
                }
                per_channel.push((channel, max));
            }
        }
        let mut receipt_windows = BTreeMap::new();
        for channel in Channel::ALL {
            let name = format!("HERALD_RECEIPT_WINDOW_MINUTES_{}", channel.env_name());
            let minutes: i64 = parsed!(&name, 0)?;
            if !(0..=24 * 60).contains(&minutes) {
                bail!("{name} must be 0 (none) to 1440 minutes");
            }
            if minutes > 0 {
                receipt_windows.insert(channel, chrono::TimeDelta::minutes(minutes));
            }
        }
        let mut limits = RateLimits::default();
        for channel in Channel::ALL {
            let name = format!("HERALD_RATE_LIMITS_{}", channel.env_name());
            if let Some(value) = var(&name) {
                if channel == Channel::InApp {
                    bail!("{name}: the in-app inbox is a record, not a page, and has no limits");
                }
                let parsed: Limits = value
                    .parse()
                    .map_err(|e| anyhow::anyhow!("{name}={value:?} is not valid: {e}"))?;
                limits = limits.with(channel, parsed);
            }
        }
        let days = |name: &str, default: u64| -> anyhow::Result<Duration> {
            let d: u64 = parsed!(name, default)?;
            if d == 0 {
                bail!("{name} must be at least 1");
            }
            Ok(Duration::from_secs(d * 86_400))
        };
        let token_hours: u64 = parsed!("HERALD_TOKEN_RETENTION_HOURS", 24)?;
        let retention = RetentionConfig {
            tokens: Duration::from_secs(token_hours * 3600),
            resolved_escalations: days("HERALD_RESOLVED_RETENTION_DAYS", 90)?,
            event_log: days("HERALD_EVENT_LOG_RETENTION_DAYS", 365)?,
            inbox: days("HERALD_INBOX_RETENTION_DAYS", 30)?,
            system_events: days("HERALD_SYSTEM_EVENT_RETENTION_DAYS", 90)?,
            max_batch: parsed!("HERALD_RETENTION_MAX_BATCH", 5_000u32)?.max(1),
        };
        let secret = |name: &str| match (var(name), var(&format!("{name}_ARN"))) {
            (Some(value), _) => Some(SecretSource::Inline(SecretString::from(value))),
            (None, Some(arn)) => Some(SecretSource::SecretArn(arn)),
            (None, None) => None,
        };
        let ttl: u64 = parsed!("HERALD_MAGIC_LINK_TTL_SECS", 24 * 60 * 60)?;
        let mut channels = BTreeMap::new();
        for channel in Channel::ALL {
            let queue_url = var(&format!("HERALD_QUEUE_URL_{}", channel.env_name()));
            let dlq_url = var(&format!("HERALD_DLQ_URL_{}", channel.env_name()));
            let provider: BTreeMap<&'static str, String> = PROVIDER_VARS
                .iter()
                .filter(|(c, _)| *c == channel)
                .filter_map(|(_, name)| var(&format!("HERALD_{name}")).map(|v| (*name, v)))
                .collect();
            if queue_url.is_some() || !provider.is_empty() {
                channels.insert(
                    channel,
                    ChannelConfig {
                        queue_url,
                        dlq_url,
                        provider,
                    },
                );
            }
        }
        if ttl == 0 {
            bail!("HERALD_MAGIC_LINK_TTL_SECS must be positive");
        }
        Ok(Self {
            database: DatabaseConfig {
                source,
                pool_size: parsed!("HERALD_DB_POOL_SIZE", 4)?,
                ca_file: var("HERALD_DATABASE_CA_FILE"),
            },
            public_base_url: var("HERALD_PUBLIC_BASE_URL")
                .map(|u| u.trim_end_matches('/').to_owned()),
            magic_link_ttl: Duration::from_secs(ttl),
            channels,
            teams_webhook_hosts: match var("HERALD_TEAMS_WEBHOOK_HOSTS") {
                Some(list) => list
                    .split(',')
                    .map(|h| h.trim().to_owned())
                    .filter(|h| !h.is_empty())
                    .collect(),
                None => crate::domain::webhook::DEFAULT_TEAMS_HOSTS
                    .iter()
                    .map(|h| (*h).to_owned())
                    .collect(),
            },
            secret_keys: secret("HERALD_SECRET_KEYS"),
            slack_signing_secret: secret("HERALD_SLACK_SIGNING_SECRET"),
            slack_oauth: match (
                var("HERALD_SLACK_CLIENT_ID"),
                secret("HERALD_SLACK_CLIENT_SECRET"),
            ) {
                (None, _) => None,
                (Some(_), None) => {
                    bail!("HERALD_SLACK_CLIENT_ID is set without HERALD_SLACK_CLIENT_SECRET[_ARN]")
                }
                (Some(client_id), Some(client_secret)) => {
                    let authorize_url = var("HERALD_SLACK_AUTHORIZE_URL")
                        .unwrap_or_else(|| crate::slack::DEFAULT_AUTHORIZE_URL.to_owned());
                    let parsed = url::Url::parse(&authorize_url).map_err(|e| {
                        anyhow::anyhow!("HERALD_SLACK_AUTHORIZE_URL is not a URL: {e}")
                    })?;
                    crate::domain::webhook::check_provider_url(&parsed)
                        .map_err(|why| anyhow::anyhow!("HERALD_SLACK_AUTHORIZE_URL {why}"))?;
                    Some(SlackOAuthConfig {
                        client_id: client_id.trim().to_owned(),
                        client_secret,
                        authorize_url,
                    })
                }
            },
            teams_oauth: match (
                var("HERALD_TEAMS_CLIENT_ID"),
                secret("HERALD_TEAMS_CLIENT_SECRET"),
            ) {
                (None, _) => None,
                (Some(_), None) => {
                    bail!("HERALD_TEAMS_CLIENT_ID is set without HERALD_TEAMS_CLIENT_SECRET[_ARN]")
                }
                (Some(client_id), Some(client_secret)) => {
                    let authority_url = var("HERALD_TEAMS_AUTHORITY_URL")
                        .unwrap_or_else(|| DEFAULT_TEAMS_AUTHORITY_URL.to_owned());
                    let parsed = url::Url::parse(&authority_url).map_err(|e| {
                        anyhow::anyhow!("HERALD_TEAMS_AUTHORITY_URL is not a URL: {e}")
                    })?;
                    crate::domain::webhook::check_provider_url(&parsed)
                        .map_err(|why| anyhow::anyhow!("HERALD_TEAMS_AUTHORITY_URL {why}"))?;
                    Some(TeamsOAuthConfig {
                        client_id: client_id.trim().to_owned(),
                        client_secret,
                        authority_url: authority_url.trim_end_matches('/').to_owned(),
                    })
                }
            },
            retry: RetryPolicies {
                default: RetryPolicy {
                    max_attempts,
                    ..RetryPolicy::default()
                },
                max_attempts: per_channel,
            },
            outbox_grace: Duration::from_secs(parsed!("HERALD_OUTBOX_GRACE_SECS", 60)?),
            retry_batch_size: parsed!("HERALD_RETRY_BATCH_SIZE", 500u32)?.max(1),
            retention,
            sending_lease: Duration::from_secs(parsed!("HERALD_SENDING_LEASE_SECS", 300)?),
            api_key_cache_ttl: Duration::from_secs(parsed!("HERALD_API_KEY_CACHE_SECS", 60)?),
            rate_limits: RateLimitConfig {
                table: var("HERALD_RATE_LIMIT_TABLE").map(|t| t.trim().to_owned()),
                limits,
            },
            receipt_windows,
        })
    }

    /// The SQS queue of a channel (`HERALD_QUEUE_URL_<CHANNEL>`).
    pub fn queue_url(&self, channel: Channel) -> anyhow::Result<&str> {
        self.channels
            .get(&channel)
            .and_then(|c| c.queue_url.as_deref())
            .with_context(|| format!("HERALD_QUEUE_URL_{} is not set", channel.env_name()))
    }

    /// The channels ingest may plan rows for: those with a queue, and the in-app inbox,
    /// which needs none (ingest writes it itself).
    /// What the escalation engine knows of the channels: the enabled ones and their
    /// receipt windows.
    pub fn engine_channels(&self) -> crate::domain::engine::Channels {
        crate::domain::engine::Channels {
            enabled: self.enabled_channels(),
            receipt_windows: self.receipt_windows.clone(),
        }
    }

    pub fn enabled_channels(&self) -> BTreeSet<Channel> {
        let mut enabled: BTreeSet<Channel> = self
            .channels
            .iter()
            .filter(|(_, c)| c.queue_url.is_some())
            .map(|(channel, _)| *channel)
            .collect();
        enabled.insert(Channel::InApp);
        enabled
    }

    /// The settings of one channel (empty when nothing is configured for it).
    pub fn channel(&self, channel: Channel) -> ChannelConfig {
        self.channels.get(&channel).cloned().unwrap_or_default()
    }

    pub fn require_secret_keys(&self) -> anyhow::Result<&SecretSource> {
        self.secret_keys
            .as_ref()
            .context("set HERALD_SECRET_KEYS or HERALD_SECRET_KEYS_ARN")
    }

    pub fn require_public_base_url(&self) -> anyhow::Result<&str> {
        self.public_base_url
            .as_deref()
            .context("HERALD_PUBLIC_BASE_URL is not set")
    }
}

/// The AWS SDK configuration shared by every client, read from the environment only:
/// Lambda puts the execution role's credentials (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) and `AWS_REGION` there, and locally
/// `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_<SERVICE>`) points a client at the emulator.
/// `aws_config::defaults` would also read profile files and ask SSO, STS, ECS and IMDS,
/// none of which a Lambda function uses; linking that chain cost every function about
/// 0.3 MB of code, ingest its place under 8 MB. A bounded operation timeout keeps a hung
/// provider from eating the Lambda deadline.
pub async fn aws_sdk_config() -> aws_config::SdkConfig {
    sdk_config(None).await
}

/// The same configuration with every service at `endpoint` (a local fake for a service
/// the emulator lacks). Set in code, it wins over `AWS_ENDPOINT_URL*` in the environment.
pub async fn aws_sdk_config_at(endpoint: &str) -> aws_config::SdkConfig {
    sdk_config(Some(endpoint)).await
}

async fn sdk_config(endpoint: Option<&str>) -> aws_config::SdkConfig {
    use aws_config::meta::region::ProvideRegion;

    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_secs(12))
        .build();
    let region = aws_config::environment::EnvironmentVariableRegionProvider::new()
        .region()
        .await;
    let credentials = aws_credential_types::provider::SharedCredentialsProvider::new(
        aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
    );
    // Every request and answer Herald exchanges with AWS is a few KB, and the attempt
    // timeout above already ends a stalled call; the SDK's stalled-stream protection
    // wraps every body in a throughput check that cost ingest ~6% of its CPU per request.
    let mut sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(region)
        .credentials_provider(credentials)
        .retry_config(aws_config::retry::RetryConfig::standard())
        .timeout_config(timeouts)
        .stalled_stream_protection(
            aws_config::stalled_stream_protection::StalledStreamProtectionConfig::disabled(),
        )
        .service_config(EndpointsFromEnv(aws_types::os_shim_internal::Env::real()));
    if let Some(endpoint) = endpoint {
        // Marked as set in code, as aws-config's loader marks it: a client then takes it
        // over `AWS_ENDPOINT_URL*` in the environment (without the mark the environment
        // wins, and a local fake's client would call the emulator).
        sdk = sdk.endpoint_url(endpoint);
        sdk.insert_origin("endpoint_url", aws_types::origin::Origin::shared_config());
    }
    sdk.build()
}

/// `AWS_ENDPOINT_URL_<SERVICE>`, then `AWS_ENDPOINT_URL`, read by the SDK's own rule
/// (profile files are not read: see [`aws_sdk_config`]).
#[derive(Debug)]
struct EndpointsFromEnv(aws_types::os_shim_internal::Env);

impl aws_types::service_config::LoadServiceConfig for EndpointsFromEnv {
    fn load_config(&self, key: aws_types::service_config::ServiceConfigKey<'_>) -> Option<String> {
        let (value, _source) = aws_runtime::env_config::EnvConfigValue::new()
            .env(key.env())
            .service_id(key.service_id())
            .load(&self.0, None)?;
        Some(value.into_owned())
    }
}

/// The shared SDK configuration, loaded when first awaited (Lambda's cold start reaches
/// the Runtime API first). Tests and the local runner pass `Warm::ready(sdk)` instead.
pub fn aws_sdk_config_warming() -> crate::warm::Warm<aws_config::SdkConfig> {
    crate::warm::Warm::lazy(|| async { Ok(aws_sdk_config().await) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_url_enables_its_channel() {
        let config = Config::from_pairs([
            ("HERALD_DATABASE_URL", "postgres://x@127.0.0.1/db"),
            ("HERALD_QUEUE_URL_EMAIL", "http://q/email"),
            ("HERALD_QUEUE_URL_SMS", "http://q/sms"),
            ("HERALD_SES_FROM", "herald@example.com"),
            ("HERALD_VOICE_ID", "Joanna"),
        ])
        .expect("valid");
        assert_eq!(
            config.enabled_channels(),
            BTreeSet::from([Channel::Email, Channel::Sms, Channel::InApp])
        );
        assert_eq!(config.queue_url(Channel::Sms).ok(), Some("http://q/sms"));
        assert!(config.queue_url(Channel::Push).is_err());
        assert_eq!(
            config.channel(Channel::Email).require("SES_FROM").ok(),
            Some("herald@example.com")
        );
        assert_eq!(
            config.channel(Channel::Voice).get("VOICE_ID"),
            Some("Joanna")
        );
        let sms = config.channel(Channel::Sms);
        let missing = sms.require("SMS_SENDER_ID").map_err(|e| e.to_string());
        assert_eq!(
            missing.err().as_deref(),
            Some("HERALD_SMS_SENDER_ID is not set")
        );
    }

    #[test]
    fn a_bad_number_names_its_variable() {
        let e = Config::from_pairs([
            ("HERALD_DATABASE_URL", "postgres://x@127.0.0.1/db"),
            ("HERALD_MAX_ATTEMPTS_SMS", "many"),
        ])
        .expect_err("invalid");
        assert!(e.to_string().contains("HERALD_MAX_ATTEMPTS_SMS"), "{e}");
    }

    #[test]
    fn receipt_windows_are_per_channel_minutes_and_zero_is_none() {
        let db = ("HERALD_DATABASE_URL", "postgres://x@127.0.0.1/db");
        let config = Config::from_pairs([
            db,
            ("HERALD_RECEIPT_WINDOW_MINUTES_EMAIL", "10"),
            ("HERALD_RECEIPT_WINDOW_MINUTES_SMS", "0"),
        ])
        .expect("valid");
        assert_eq!(
            config.receipt_windows,
            BTreeMap::from([(Channel::Email, chrono::TimeDelta::minutes(10))])
        );
        assert!(
            Config::from_pairs([db])
                .expect("valid")
                .receipt_windows
                .is_empty()
        );
        for bad in ["-1", "1441", "soon"] {
            let e = Config::from_pairs([db, ("HERALD_RECEIPT_WINDOW_MINUTES_VOICE", bad)])
                .expect_err("invalid");
            assert!(
                e.to_string()
                    .contains("HERALD_RECEIPT_WINDOW_MINUTES_VOICE"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn rate_limits_default_and_are_replaced_per_channel() {
        let db = ("HERALD_DATABASE_URL", "postgres://x@127.0.0.1/db");
        let config = Config::from_pairs([
            db,
            ("HERALD_RATE_LIMIT_TABLE", "herald-rate-limits"),
            ("HERALD_RATE_LIMITS_SMS", "2/10m"),
            ("HERALD_RATE_LIMITS_EMAIL", "off"),
        ])
        .expect("valid");
        let limits = &config.rate_limits.limits;
        assert_eq!(
            config.rate_limits.table.as_deref(),
            Some("herald-rate-limits")
        );
        assert_eq!(limits.for_channel(Channel::Sms).len(), 1);
        assert!(limits.for_channel(Channel::Email).is_empty());
        assert_eq!(limits.for_channel(Channel::Voice).len(), 2, "defaults kept");
        for (name, value) in [
            ("HERALD_RATE_LIMITS_VOICE", "3 per hour"),
            ("HERALD_RATE_LIMITS_IN_APP", "1/1h"),
        ] {
            let e = Config::from_pairs([db, (name, value)]).expect_err("invalid");
            assert!(e.to_string().contains(name), "{e}");
        }
        assert!(
            Config::from_pairs([db])
                .unwrap()
                .rate_limits
                .table
                .is_none()
        );
    }
}
