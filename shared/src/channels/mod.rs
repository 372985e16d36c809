//! One provider adapter per channel behind one [`Adapter`] trait. Each adapter owns
//! three things: rendering its message, calling its provider, and classifying the
//! answer. Claiming, recording, backoff and token minting stay in the one dispatcher
//! ([`crate::dispatch`]), generic over the adapter.

pub mod email;
pub mod push;
pub mod slack;
pub mod sms;
pub mod sns;
pub mod teams;
pub mod voice;

use std::future::Future;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::Config;
use crate::db::notifications::Claimed;
use crate::domain::{Action, Channel, template};

/// A provider adapter: the one thing a channel has to write.
pub trait Adapter: Clone + Send + Sync + Sized + 'static {
    /// The channel it delivers.
    const CHANNEL: Channel;
    /// What a recipient can do from this channel's message (links, buttons). The
    /// dispatcher mints a one-time token for each of these, and only these.
    const ACTIONS: &'static [Action];
    /// Whether each send needs the row's sealed credential (a Teams webhook URL). The
    /// dispatcher then loads the keyring at start, opens the credential the claim
    /// found, and fails a row without one as an invalid address.
    const CREDENTIAL: bool = false;
    /// Why a row is suppressed when its credential is missing: no webhook is no
    /// address; no Slack installation is a tenant that has not connected Slack.
    const MISSING_CREDENTIAL: &'static str = crate::domain::policy::reason::NO_ADDRESS;

    /// The adapter's settings, read and checked at cold start (a missing variable fails
    /// the start, not the first page).
    type Settings: Clone + Send + Sync + 'static;
    fn settings(config: &Config) -> anyhow::Result<Self::Settings>;

    /// The actions to mint links for with these settings: [`Adapter::ACTIONS`], unless
    /// the settings make the buttons post back instead (interactive Slack).
    fn actions(_settings: &Self::Settings) -> &'static [Action] {
        Self::ACTIONS
    }

    /// Whether the claim gives each row a reply code ([`Claimed::reply_code`]): SMS
    /// with two-way replies on.
    fn reply_codes(_settings: &Self::Settings) -> bool {
        false
    }

    /// The adapter with its provider client; built on first use.
    fn build(settings: Self::Settings, sdk: &aws_config::SdkConfig) -> anyhow::Result<Self>;

    fn deliver(
        &self,
        delivery: &Delivery<'_>,
    ) -> impl Future<Output = Result<Receipt, DeliveryError>> + Send;

    /// Follows up on an answered escalation (an [`crate::queue::AnsweredEnvelope`] on this
    /// channel's queue): a channel whose messages show the answer rewrites them (Slack).
    /// Returns how many messages it rewrote; `Err` when it should be tried again (the
    /// store, or a provider's transient refusal). Most channels have nothing to do.
    fn answered(
        &self,
        _pool: &crate::db::Pool,
        _keyring: Option<&crate::secrets::Keyring>,
        _escalation_id: uuid::Uuid,
    ) -> impl Future<Output = anyhow::Result<usize>> + Send {
        async { Ok(0) }
    }
}

/// Everything an adapter needs to send one notification.
#[derive(Debug)]
pub struct Delivery<'a> {
    pub notification: &'a Claimed,
    /// One-time links for the adapter's [`Adapter::ACTIONS`]; secrets (never logged).
    pub links: &'a Links,
    /// The channel's credential for this recipient or tenant (a Teams webhook URL),
    /// decrypted for this send only.
    pub credential: Option<&'a SecretString>,
}

impl Delivery<'_> {
    /// The tenant's own message for this page ([`crate::domain::template`]), when it has
    /// a template for the channel. `None` also when the template fails on this page (it
    /// passed with a sample when saved): Herald's default message goes instead, and the
    /// failure is logged (its field and MiniJinja's message, never the page).
    pub fn templated(&self) -> Option<template::Rendered> {
        let n = self.notification;
        let template = n.template.as_ref()?;
        let page = template::Page {
            title: &n.title,
            body: &n.body,
            priority: n.priority.label(),
            service: n.service.as_deref(),
            team: n.team.as_deref(),
            alert_count: n.alert_count,
            triggered_at: n.triggered_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            dashboard_url: n.dashboard_url.as_deref(),
            escalation_id: n.escalation_id.to_string(),
            recipient_name: n.recipient_name.as_deref(),
            acknowledge_url: self.links.get(Action::Acknowledge),
            resolve_url: self.links.get(Action::Resolve),
            reply_code: n.reply_code,
        };
        match template.render(&page) {
            Ok(rendered) => Some(rendered),
            Err(e) => {
                tracing::warn!(field = e.field, error.message = %e.message, "the tenant's template failed on this page; Herald's default message goes instead");
                None
            }
        }
    }

    /// The link for `action`; an adapter only asks for actions it declared.
    pub fn link(&self, action: Action) -> Result<&str, DeliveryError> {
        self.links.get(action).ok_or_else(|| {
            DeliveryError::permanent("NoLink", format!("no {} link was minted", action.as_str()))
        })
    }
}

/// The magic links of one delivery, by action.
#[derive(Debug, Default)]
pub struct Links(Vec<(Action, SecretString)>);

impl Links {
    pub fn new(links: Vec<(Action, SecretString)>) -> Self {
        Self(links)
    }

    pub fn get(&self, action: Action) -> Option<&str> {
        self.0
            .iter()
            .find(|(a, _)| *a == action)
            .map(|(_, url)| url.expose_secret())
    }
}

/// The provider accepted the message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Receipt {
    /// The provider's id for it, when it gives one (a Teams webhook does not).
    pub provider_message_id: Option<String>,
}

/// What kind of "no" the provider said. Only [`FailureKind::Transient`] and
/// [`FailureKind::RateLimited`] are retried; [`FailureKind::OptedOut`] is not a failure
/// at all: the row is `suppressed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Throttling, outages, timeouts: try again later.
    Transient,
    /// The provider asked us to slow down (often with a Retry-After).
    RateLimited,
    /// The message itself will never be accepted.
    Permanent,
    /// The address does not exist or cannot receive this channel.
    AddressInvalid,
    /// The credential was revoked or the webhook deleted.
    CredentialRevoked,
    /// The person opted out at the provider (STOP at the carrier).
    OptedOut,
}

impl FailureKind {
    pub fn is_retryable(self) -> bool {
        matches!(self, FailureKind::Transient | FailureKind::RateLimited)
    }
}

/// The provider did not accept the message. `message` is safe to store and log: it
/// passed through [`redact`], so it never holds addresses, tokens or URLs with secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct DeliveryError {
    pub kind: FailureKind,
    pub code: String,
    pub message: String,
    pub retry_after: Option<Duration>,
}

impl DeliveryError {
    pub fn new(kind: FailureKind, code: impl Into<String>, message: impl AsRef<str>) -> Self {
        Self {
            kind,
            code: redact(&code.into()),
            message: redact(message.as_ref()),
            retry_after: None,
        }
    }

    pub fn transient(code: impl Into<String>, message: impl AsRef<str>) -> Self {
        Self::new(FailureKind::Transient, code, message)
    }

    pub fn permanent(code: impl Into<String>, message: impl AsRef<str>) -> Self {
        Self::new(FailureKind::Permanent, code, message)
    }

    pub fn rate_limited(
        code: impl Into<String>,
        message: impl AsRef<str>,
        retry_after: Option<Duration>,
    ) -> Self {
        Self {
            retry_after,
            ..Self::new(FailureKind::RateLimited, code, message)
        }
    }

    pub fn retryable(&self) -> bool {
        self.kind.is_retryable()
    }
}

/// What an HTTP provider's error status means in common: 429 is rate limiting and 5xx
/// transient (both honour `Retry-After`); any other status is the caller's to sort
/// (`None`).
pub fn classify_http_status(
    provider: &str,
    status: u16,
    retry_after_header: Option<&str>,
) -> Option<DeliveryError> {
    let message = format!("{provider} answered HTTP {status}");
    let retry_after = retry_after_header.and_then(retry_after);
    match status {
        429 => Some(DeliveryError::rate_limited("HTTP429", message, retry_after)),
        500..=599 => {
            let mut e = DeliveryError::transient(format!("HTTP{status}"), message);
            e.retry_after = retry_after;
            Some(e)
        }
        _ => None,
    }
}

/// A response's `Retry-After` header, as text.
pub fn retry_after_header(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The client for HTTP providers on the internet (Teams, Slack): rustls with the
/// aws-lc-rs provider, the TLS stack every Herald client uses, and the web PKI roots;
/// bounded timeouts so a hung provider cannot eat the Lambda deadline; and no redirects,
/// so a webhook cannot point a dispatcher at another host.
pub fn https_client() -> anyhow::Result<reqwest::Client> {
    Ok(https_client_builder()?
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(10))
        .build()?)
}

/// [`https_client`]'s TLS and redirect policy, without its timeouts (the local tools'
/// own clients, which may wait longer).
pub fn https_client_builder() -> anyhow::Result<reqwest::ClientBuilder> {
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(reqwest::redirect::Policy::none()))
}

/// An AWS SDK call that failed: a service error is read by `classify` (the service's
/// own codes; it gets the error itself, for fields such as a reason), anything else is
/// the network or the SDK, worth retrying — except a request that could not even be
/// built. `service` names the provider in the message.
pub fn classify_sdk<E, R>(
    err: aws_sdk_sqs::error::SdkError<E, R>,
    service: &str,
    classify: impl FnOnce(&E, &str, &str) -> DeliveryError,
) -> DeliveryError
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata,
{
    // Every SDK crate re-exports the same smithy types.
    use aws_sdk_sqs::error::SdkError;
    match err {
        SdkError::ServiceError(service_error) => {
            let e = service_error.into_err();
            let code = e.code().unwrap_or("Unknown").to_owned();
            let message = e.message().unwrap_or("").to_owned();
            classify(&e, &code, &message)
        }
        SdkError::ConstructionFailure(_) => {
            DeliveryError::permanent("ConstructionFailure", "could not build the request")
        }
        SdkError::TimeoutError(_) => {
            DeliveryError::transient("Timeout", format!("{service} did not answer in time"))
        }
        SdkError::DispatchFailure(_) => {
            DeliveryError::transient("DispatchFailure", format!("could not reach {service}"))
        }
        SdkError::ResponseError(_) => {
            DeliveryError::transient("ResponseError", format!("unreadable answer from {service}"))
        }
        _ => DeliveryError::transient("Unknown", "unexpected SDK error"),
    }
}

/// A `Retry-After` header: delay-seconds or an HTTP date.
pub fn retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .ok()
}

/// A request that got no HTTP answer: worth retrying. reqwest prints the URL it called
/// (a webhook URL is a secret), so it is dropped before anything is kept.
pub fn classify_transport(e: reqwest::Error) -> DeliveryError {
    let e = e.without_url();
    if e.is_timeout() {
        DeliveryError::transient("Timeout", "the provider did not answer in time")
    } else if e.is_connect() {
        DeliveryError::transient("ConnectError", "could not connect to the provider")
    } else {
        DeliveryError::transient("HttpError", e.to_string())
    }
}

/// Makes a provider's message safe to store and log. Providers quote what they
/// rejected, in prose or in JSON, and HTTP clients print the URL they called, so this
/// removes:
/// - anything that looks like an address: an `@`, a `+` and digits, or a run of eight or
///   more digits (a phone number without its `+`) -> `<address>`;
/// - Slack tokens (`xoxb-`, `xoxp-`, `xapp-`...), Herald API keys (`hk_`), the word after
///   `Bearer`, and the value of any key that names a secret (`sig=…`, `"token": "…"`)
///   -> `<secret>`;
/// - URLs, whose path and query may carry a signature (a Teams webhook is a bearer
///   secret) -> `scheme://host/…`;
///
/// and keeps the result short. JSON punctuation separates words, so a quoted value is
/// judged on its own.
pub fn redact(message: &str) -> String {
    let spaced: String = message
        .chars()
        .map(|c| if "\"'{}[](),;<>".contains(c) { ' ' } else { c })
        .collect();
    let mut out: Vec<String> = Vec::new();
    let mut mask_next = false;
    for word in spaced.split_whitespace() {
        if matches!(word, ":" | "=") {
            out.push(word.to_owned());
            continue;
        }
        let lower = word.to_ascii_lowercase();
        let key = lower.trim_end_matches([':', '=']);
        let masked = if mask_next {
            Some("<secret>".to_owned())
        } else if let Some(i) = lower.find("://") {
            let rest = &word[i + 3..];
            let host = rest
                .split(['/', '?', '#'])
                .next()
                .unwrap_or("")
                .rsplit('@')
                .next()
                .unwrap_or("");
            Some(format!("{}://{host}/…", &word[..i]))
        } else if is_secret_token(&lower) || has_secret_pair(&lower) {
            Some("<secret>".to_owned())
        } else if word.contains('@')
            || (word.starts_with('+') && word.len() > 6)
            || longest_digit_run(word) >= 8
        {
            Some("<address>".to_owned())
        } else {
            None
        };
        // `token:` or `"token" : "…"`: the value is the next word.
        mask_next = key == "bearer" || is_secret_key(key);
        out.push(masked.unwrap_or_else(|| word.to_owned()));
    }
    let joined = out.join(" ");
    match joined.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &joined[..cut]),
        None => joined,
    }
}

fn longest_digit_run(word: &str) -> usize {
    word.split(|c: char| !c.is_ascii_digit())
        .map(str::len)
        .max()
        .unwrap_or(0)
}

fn is_secret_key(key: &str) -> bool {
    matches!(
        key.trim_start_matches(|c: char| !c.is_ascii_alphanumeric()),
        "sig"
            | "signature"
            | "token"
            | "access_token"
            | "key"
            | "secret"
            | "code"
            | "password"
            | "sv"
            | "se"
            | "authorization"
            | "api_key"
            | "client_secret"
    )
}

fn is_secret_token(lower: &str) -> bool {
    [
        "xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxe-", "xapp-", "hk_",
    ]
    .iter()
    .any(|p| lower.contains(p))
}

fn has_secret_pair(lower: &str) -> bool {
    lower.split(['&', '?']).any(|pair| {
        pair.split_once(['=', ':']).is_some_and(|(k, v)| {
            !v.is_empty()
                && matches!(
                    k.trim_start_matches(|c: char| !c.is_ascii_alphanumeric()),
                    "sig"
                        | "signature"
                        | "token"
                        | "access_token"
                        | "key"
                        | "secret"
                        | "code"
                        | "password"
                        | "sv"
                        | "se"
                )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_redacted_from_provider_messages() {
        let e = DeliveryError::permanent(
            "MessageRejected",
            "Email address is not verified: alice@example.com, +14155550101",
        );
        assert_eq!(
            e.message,
            "Email address is not verified: <address> <address>"
        );
    }

    #[test]
    fn slack_tokens_and_api_keys_are_redacted() {
        for secret in [
            "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy",
            "xoxp-2-3-abcdef",
            "xapp-1-A0-123-abc",
            "hk_3f9a1b2c3d4e5f",
        ] {
            let out = redact(&format!("invalid_auth: token {secret} was revoked"));
            assert!(!out.contains(secret), "{out}");
            assert!(out.contains("<secret>"), "{out}");
        }
        let out = redact("Authorization: Bearer abc.def.ghi failed");
        assert!(!out.contains("abc.def.ghi"), "{out}");
    }

    #[test]
    fn webhook_urls_keep_only_their_host() {
        let url = "https://prod-12.westus.logic.azure.com:443/workflows/8a1b/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers&sv=1.0&sig=Xyz123SecretSig";
        let out = redact(&format!(
            "error sending request for url ({url}): connection refused"
        ));
        assert!(!out.contains("Xyz123SecretSig"), "{out}");
        assert!(!out.contains("workflows"), "{out}");
        assert!(
            out.contains("https://prod-12.westus.logic.azure.com:443/…"),
            "{out}"
        );
    }

    #[test]
    fn secret_query_pairs_outside_urls_are_redacted() {
        let out = redact("retry with sig=abcdef&sv=1.0 failed; token=s3cr3t");
        assert!(!out.contains("abcdef"), "{out}");
        assert!(!out.contains("s3cr3t"), "{out}");
    }

    #[test]
    fn json_quoted_secrets_and_bare_numbers_are_redacted() {
        let out = redact(r#"{"error":"invalid_auth","token":"abc.def-123","sig": "s3cr3t"}"#);
        assert!(!out.contains("abc.def-123"), "{out}");
        assert!(!out.contains("s3cr3t"), "{out}");
        assert!(out.contains("invalid_auth"), "{out}");
        let out = redact("Destination 14155550101 is not reachable");
        assert!(!out.contains("14155550101"), "{out}");
        let out = redact("Authorization: Bearer eyJhbGciOi.payload.sig");
        assert!(!out.contains("eyJhbGciOi"), "{out}");
    }

    #[test]
    fn ordinary_provider_messages_are_kept() {
        assert_eq!(
            redact("Rate exceeded: try again in 2 seconds"),
            "Rate exceeded: try again in 2 seconds"
        );
    }

    #[test]
    fn long_messages_are_cut() {
        assert!(redact(&"x ".repeat(400)).chars().count() <= 301);
    }

    #[test]
    fn only_transient_kinds_are_retried() {
        assert!(FailureKind::Transient.is_retryable());
        assert!(FailureKind::RateLimited.is_retryable());
        for kind in [
            FailureKind::Permanent,
            FailureKind::AddressInvalid,
            FailureKind::CredentialRevoked,
            FailureKind::OptedOut,
        ] {
            assert!(!kind.is_retryable(), "{kind:?}");
        }
    }
}
