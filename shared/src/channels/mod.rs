//! One provider adapter per channel behind one [`Channel`] trait. Each adapter renders
//! its own format from the claimed notification and classifies provider failures as
//! transient (retry later) or permanent (give up), so the dispatcher stays generic.

pub mod email;

use std::future::Future;
use std::time::Duration;

use secrecy::SecretString;

use crate::db::notifications::Claimed;
use crate::domain;

/// Everything an adapter needs to send one notification.
#[derive(Debug)]
pub struct Delivery<'a> {
    pub notification: &'a Claimed,
    /// One-time links; secrets (never logged).
    pub acknowledge_url: SecretString,
    pub resolve_url: SecretString,
}

/// The provider accepted the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub provider_message_id: String,
}

/// The provider did not accept the message. `message` is safe to store and log: it never
/// contains the message body, addresses or links.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct DeliveryError {
    pub code: String,
    pub message: String,
    pub retryable: bool,
    pub retry_after: Option<Duration>,
}

impl DeliveryError {
    pub fn transient(code: impl Into<String>, message: impl AsRef<str>) -> Self {
        Self {
            code: code.into(),
            message: redact(message.as_ref()),
            retryable: true,
            retry_after: None,
        }
    }

    pub fn permanent(code: impl Into<String>, message: impl AsRef<str>) -> Self {
        Self {
            code: code.into(),
            message: redact(message.as_ref()),
            retryable: false,
            retry_after: None,
        }
    }
}

/// Provider messages are stored and logged, so they lose anything that looks like an
/// address (SES quotes the rejected recipient) and are kept short.
pub fn redact(message: &str) -> String {
    let words: Vec<&str> = message
        .split_whitespace()
        .map(|w| {
            if w.contains('@') || (w.starts_with('+') && w.len() > 6) {
                "<address>"
            } else {
                w
            }
        })
        .collect();
    let joined = words.join(" ");
    match joined.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &joined[..cut]),
        None => joined,
    }
}

pub trait Channel: Send + Sync {
    fn kind(&self) -> domain::Channel;

    fn deliver(
        &self,
        delivery: &Delivery<'_>,
    ) -> impl Future<Output = Result<Receipt, DeliveryError>> + Send;
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
    fn long_messages_are_cut() {
        assert!(redact(&"x ".repeat(400)).chars().count() <= 301);
    }
}
