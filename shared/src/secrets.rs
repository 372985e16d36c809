//! The one place provider secrets are kept at rest (a Teams webhook URL is a bearer
//! secret; Slack tokens follow). AES-256-GCM with a random 96-bit nonce per value and the
//! owner as associated data (a ciphertext copied onto another row does not open), and
//! the id of the key beside each ciphertext, so keys rotate: new values are sealed with
//! the current key, older ones still open with theirs.
//!
//! The cipher is aws-lc-rs's: the same library rustls uses for TLS in every function,
//! so there is one AES implementation (hardware-accelerated, constant-time) and no
//! second crypto crate in the binaries.
//!
//! Keys come from `HERALD_SECRET_KEYS` (local) or the Secrets Manager secret
//! `HERALD_SECRET_KEYS_ARN` (on AWS, through the Parameters and Secrets extension), in
//! the form `id=<base64 of 32 bytes>[,older-id=<...>]`: the first is current.

use std::collections::HashMap;

use anyhow::{Context, bail};
use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretString};

/// A sealed value as stored: the key's id and `nonce || ciphertext || tag`.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealed(key {}, {} bytes)", self.key_id, self.bytes.len())
    }
}

/// Where a sealed value belongs; bound into its ciphertext as associated data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner(String);

impl Owner {
    /// A recipient's Teams webhook.
    pub fn teams_webhook(tenant_id: uuid::Uuid, recipient_id: uuid::Uuid) -> Self {
        Self(format!(
            "teams-webhook/{tenant_id}/recipient/{recipient_id}"
        ))
    }

    /// A team's Teams webhook (the escalation's `team`).
    pub fn teams_team_webhook(tenant_id: uuid::Uuid, team: &str) -> Self {
        Self(format!("teams-webhook/{tenant_id}/team/{team}"))
    }

    /// The bot token of a tenant's Slack installation.
    pub fn slack_bot_token(tenant_id: uuid::Uuid) -> Self {
        Self(format!("slack-bot-token/{tenant_id}"))
    }

    /// A person's Microsoft token (their Teams connection).
    pub fn teams_user_token(tenant_id: uuid::Uuid, recipient_id: uuid::Uuid) -> Self {
        Self(format!(
            "teams-user-token/{tenant_id}/recipient/{recipient_id}"
        ))
    }

    /// A person's own Slack user token (their connection).
    pub fn slack_user_token(tenant_id: uuid::Uuid, recipient_id: uuid::Uuid) -> Self {
        Self(format!(
            "slack-user-token/{tenant_id}/recipient/{recipient_id}"
        ))
    }

    fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("no key `{0}` to open this value (was it removed from HERALD_SECRET_KEYS?)")]
    UnknownKey(String),
    #[error("the value does not open with its key (corrupt, or not this owner's)")]
    Corrupt,
}

/// The keys, current first. Its `Debug` shows key ids only.
#[derive(Clone)]
pub struct Keyring {
    current: String,
    keys: HashMap<String, std::sync::Arc<RandomizedNonceKey>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<&String> = self.keys.keys().collect();
        ids.sort();
        write!(f, "Keyring(current {}, keys {ids:?})", self.current)
    }
}

impl Keyring {
    /// Parses `id=<base64 32 bytes>[,id=...]`, the first being current.
    pub fn parse(spec: &SecretString) -> anyhow::Result<Self> {
        let mut keys = HashMap::new();
        let mut current = None;
        for entry in spec
            .expose_secret()
            .split([',', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            let (id, b64) = entry
                .split_once('=')
                .context("each key is `id=<base64 of 32 bytes>`")?;
            let id = id.trim();
            if id.is_empty()
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            {
                bail!("a key id must be letters, digits, `-`, `_` or `.`");
            }
            let b64 = b64.trim();
            let bytes = STANDARD
                .decode(b64)
                .or_else(|_| URL_SAFE_NO_PAD.decode(b64.trim_end_matches('=')))
                .map_err(|_| anyhow::anyhow!("key `{id}` is not base64"))?;
            if bytes.len() != 32 {
                bail!("key `{id}` must be 32 bytes (AES-256), not {}", bytes.len());
            }
            let cipher = RandomizedNonceKey::new(&AES_256_GCM, &bytes)
                .map_err(|_| anyhow::anyhow!("key `{id}` is not an AES-256 key"))?;
            if keys
                .insert(id.to_owned(), std::sync::Arc::new(cipher))
                .is_some()
            {
                bail!("key `{id}` is listed twice");
            }
            current.get_or_insert_with(|| id.to_owned());
        }
        let current = current.context("no keys given")?;
        Ok(Self { current, keys })
    }

    pub fn current_key_id(&self) -> &str {
        &self.current
    }

    /// Seals `plaintext` for `owner` with the current key and a fresh random nonce.
    pub fn seal(&self, plaintext: &SecretString, owner: &Owner) -> Sealed {
        let cipher = &self.keys[&self.current];
        let mut in_out = plaintext.expose_secret().as_bytes().to_vec();
        let nonce = cipher
            .seal_in_place_append_tag(Aad::from(owner.as_bytes()), &mut in_out)
            .expect("AES-GCM seals any input of this size");
        let mut bytes = nonce.as_ref().to_vec();
        bytes.extend_from_slice(&in_out);
        Sealed {
            key_id: self.current.clone(),
            bytes,
        }
    }

    pub fn open(&self, sealed: &Sealed, owner: &Owner) -> Result<SecretString, SecretError> {
        let cipher = self
            .keys
            .get(&sealed.key_id)
            .ok_or_else(|| SecretError::UnknownKey(sealed.key_id.clone()))?;
        if sealed.bytes.len() < NONCE_LEN {
            return Err(SecretError::Corrupt);
        }
        let (nonce, ciphertext) = sealed.bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SecretError::Corrupt)?;
        let mut in_out = ciphertext.to_vec();
        let plaintext = cipher
            .open_in_place(nonce, Aad::from(owner.as_bytes()), &mut in_out)
            .map_err(|_| SecretError::Corrupt)?;
        String::from_utf8(plaintext.to_vec())
            .map(SecretString::from)
            .map_err(|_| SecretError::Corrupt)
    }

    /// From the configuration: `HERALD_SECRET_KEYS`, or the secret
    /// `HERALD_SECRET_KEYS_ARN` read through the Parameters and Secrets extension.
    pub async fn from_config(config: &crate::config::SecretSource) -> anyhow::Result<Self> {
        Self::parse(&config.read().await?)
    }
}

impl Keyring {
    /// Read on first use (the extension answers only once the runtime is up), and again
    /// on the next use if that read failed.
    pub fn warming(keys: &crate::config::SecretSource) -> crate::warm::Warm<Self> {
        let keys = keys.clone();
        crate::warm::Warm::lazy(move || {
            let keys = keys.clone();
            async move { Self::from_config(&keys).await }
        })
    }
}

/// A Secrets Manager secret's `SecretString` through the Parameters and Secrets Lambda
/// extension (localhost, cached by the extension), so no Secrets Manager SDK is linked
/// into every function.
pub async fn fetch_secret_string(secret_arn: &str) -> anyhow::Result<SecretString> {
    use http_body_util::{BodyExt, Empty};
    use hyper::body::Bytes;
    let port =
        std::env::var("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT").unwrap_or_else(|_| "2773".into());
    let token = std::env::var("AWS_SESSION_TOKEN").context("AWS_SESSION_TOKEN is not set")?;
    let uri = format!(
        "http://localhost:{port}/secretsmanager/get?secretId={}",
        url::form_urlencoded::byte_serialize(secret_arn.as_bytes()).collect::<String>()
    );
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<Bytes>>();
    let request = http::Request::get(uri)
        .header("X-Aws-Parameters-Secrets-Token", token)
        .body(Empty::new())?;
    let response = client
        .request(request)
        .await
        .context("calling the secrets extension")?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        bail!("the secrets extension answered {status}");
    }
    #[derive(serde::Deserialize)]
    struct Envelope {
        #[serde(rename = "SecretString")]
        secret_string: String,
    }
    let envelope: Envelope = serde_json::from_slice(&body).context("secret envelope")?;
    Ok(SecretString::from(envelope.secret_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> String {
        STANDARD.encode([byte; 32])
    }

    fn ring(spec: &str) -> Keyring {
        Keyring::parse(&SecretString::from(spec.to_owned())).expect("valid keys")
    }

    fn owner() -> Owner {
        Owner::teams_webhook(uuid::Uuid::nil(), uuid::Uuid::from_u128(7))
    }

    #[test]
    fn a_sealed_value_opens_and_its_ciphertext_hides_it() {
        let keys = ring(&format!("k1={}", key(1)));
        let url =
            SecretString::from("https://example.logic.azure.com/workflows/x?sig=SECRET".to_owned());
        let sealed = keys.seal(&url, &owner());
        assert_eq!(sealed.key_id, "k1");
        assert!(!String::from_utf8_lossy(&sealed.bytes).contains("SECRET"));
        assert_eq!(
            keys.open(&sealed, &owner()).expect("opens").expose_secret(),
            url.expose_secret()
        );
    }

    #[test]
    fn every_value_gets_its_own_nonce() {
        let keys = ring(&format!("k1={}", key(1)));
        let v = SecretString::from("same".to_owned());
        assert_ne!(keys.seal(&v, &owner()).bytes, keys.seal(&v, &owner()).bytes);
    }

    #[test]
    fn rotation_seals_with_the_new_key_and_still_opens_the_old() {
        let old = ring(&format!("k1={}", key(1)));
        let sealed_before = old.seal(&SecretString::from("old".to_owned()), &owner());
        let rotated = ring(&format!("k2={},k1={}", key(2), key(1)));
        assert_eq!(rotated.current_key_id(), "k2");
        assert_eq!(
            rotated
                .open(&sealed_before, &owner())
                .expect("old key")
                .expose_secret(),
            "old"
        );
        let sealed_after = rotated.seal(&SecretString::from("new".to_owned()), &owner());
        assert_eq!(sealed_after.key_id, "k2");
        assert!(
            matches!(old.open(&sealed_after, &owner()), Err(SecretError::UnknownKey(k)) if k == "k2")
        );
    }

    #[test]
    fn another_owners_ciphertext_or_a_flipped_bit_does_not_open() {
        let keys = ring(&format!("k1={}", key(1)));
        let sealed = keys.seal(&SecretString::from("v".to_owned()), &owner());
        let other = Owner::teams_webhook(uuid::Uuid::nil(), uuid::Uuid::from_u128(8));
        assert!(matches!(
            keys.open(&sealed, &other),
            Err(SecretError::Corrupt)
        ));
        let mut flipped = sealed.clone();
        let last = flipped.bytes.len() - 1;
        flipped.bytes[last] ^= 1;
        assert!(matches!(
            keys.open(&flipped, &owner()),
            Err(SecretError::Corrupt)
        ));
    }

    #[test]
    fn bad_key_specs_are_refused_without_echoing_the_key() {
        for bad in [
            "",
            "k1",
            "k1=notbase64!",
            &format!("k1={}", STANDARD.encode([1u8; 16])),
            &format!("k1={0},k1={0}", key(1)),
        ] {
            let e = Keyring::parse(&SecretString::from(bad.to_owned())).expect_err(bad);
            assert!(!e.to_string().contains(&key(1)), "{e}");
        }
    }

    #[test]
    fn debug_shows_key_ids_only() {
        let keys = ring(&format!("k1={}", key(1)));
        let shown = format!("{keys:?}");
        assert!(shown.contains("k1") && !shown.contains(&key(1)), "{shown}");
    }
}
