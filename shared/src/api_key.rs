//! API keys: `hk_` followed by 256 random bits in base64url. Only the SHA-256 is stored;
//! the key is shown once, when it is created.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRngCore;
use secrecy::SecretString;
use sha2::{Digest, Sha256};

pub const PREFIX: &str = "hk_";
const MAX_LEN: usize = 128;

pub struct MintedKey {
    pub key: SecretString,
    pub hash: [u8; 32],
    /// Safe to show and store: enough to tell keys apart, useless to authenticate.
    pub display_prefix: String,
}

pub fn mint() -> MintedKey {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .expect("the operating system's random source is unavailable");
    let key = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    MintedKey {
        hash: hash(&key),
        display_prefix: display_prefix(&key),
        key: SecretString::from(key),
    }
}

pub fn hash(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

pub fn display_prefix(key: &str) -> String {
    key.chars().take(PREFIX.len() + 6).collect()
}

/// The key from an `Authorization: Bearer <key>` header value, if it has a key's shape.
pub fn from_authorization(header: &str) -> Option<&str> {
    let (scheme, key) = header.trim().split_once(' ')?;
    let key = key.trim();
    (scheme.eq_ignore_ascii_case("bearer")
        && key.starts_with(PREFIX)
        && key.len() <= MAX_LEN
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    .then_some(key)
}

/// Recently authenticated keys, by hash, so a burst of alerts does not look the same key
/// up once per request. Only successes are kept, for `ttl`: a revoked key stops working
/// on an instance within `ttl` (0 turns the cache off). Bounded: it empties itself
/// rather than grow past `MAX_ENTRIES`.
#[derive(Debug)]
pub struct KeyCache<T: Clone> {
    ttl: std::time::Duration,
    entries: std::sync::Mutex<std::collections::HashMap<[u8; 32], (T, std::time::Instant)>>,
}

impl<T: Clone> KeyCache<T> {
    const MAX_ENTRIES: usize = 10_000;

    pub fn new(ttl: std::time::Duration) -> Self {
        Self {
            ttl,
            entries: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    pub fn get(&self, hash: &[u8; 32]) -> Option<T> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries
            .get(hash)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(value, _)| value.clone())
    }

    pub fn insert(&self, hash: [u8; 32], value: T) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= Self::MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(hash, (value, std::time::Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn minted_key_authenticates_by_its_hash() {
        let k = mint();
        let header = format!("Bearer {}", k.key.expose_secret());
        assert_eq!(from_authorization(&header).map(hash), Some(k.hash));
        assert!(k.key.expose_secret().starts_with(&k.display_prefix));
    }

    #[test]
    fn cached_keys_expire_after_the_ttl() {
        let cache = KeyCache::new(std::time::Duration::from_millis(30));
        cache.insert([1; 32], "tenant");
        assert_eq!(cache.get(&[1; 32]), Some("tenant"));
        assert_eq!(cache.get(&[2; 32]), None);
        std::thread::sleep(std::time::Duration::from_millis(40));
        assert_eq!(cache.get(&[1; 32]), None);
    }

    #[test]
    fn a_zero_ttl_caches_nothing() {
        let cache = KeyCache::new(std::time::Duration::ZERO);
        cache.insert([1; 32], 1);
        assert_eq!(cache.get(&[1; 32]), None);
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(from_authorization("bearer hk_abc"), Some("hk_abc"));
    }

    #[test]
    fn other_schemes_and_shapes_are_refused() {
        assert_eq!(from_authorization("Basic hk_abc"), None);
        assert_eq!(from_authorization("Bearer sk_abc"), None);
        assert_eq!(from_authorization("Bearer hk_a b"), None);
        assert_eq!(from_authorization("hk_abc"), None);
    }
}
