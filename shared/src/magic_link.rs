//! One-time action tokens: 256 bits from the OS CSPRNG, base64url without padding
//! (43 characters). Only the SHA-256 of a token is ever stored; the plaintext exists in
//! the message sent to the recipient and nowhere else (never in logs: it is held in a
//! [`SecretString`], whose `Debug` prints nothing).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

pub const TOKEN_BYTES: usize = 32;
pub const TOKEN_CHARS: usize = 43;

pub type TokenHash = [u8; 32];

pub struct MintedToken {
    pub token: SecretString,
    pub hash: TokenHash,
}

impl std::fmt::Debug for MintedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MintedToken([REDACTED])")
    }
}

/// Mints a fresh token from the operating system's CSPRNG.
pub fn mint() -> MintedToken {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .expect("the operating system's random source is unavailable");
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash(&token);
    MintedToken {
        token: SecretString::from(token),
        hash,
    }
}

pub fn hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// Cheap shape check before any database work: a request for `/l/<anything else>` is a
/// 404 without a query.
pub fn is_well_formed(token: &str) -> bool {
    token.len() == TOKEN_CHARS
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The URL a recipient opens: `{base}/l/{token}`.
pub fn url(base: &str, token: &SecretString) -> SecretString {
    SecretString::from(format!(
        "{}/l/{}",
        base.trim_end_matches('/'),
        token.expose_secret()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn minted_tokens_are_43_chars_of_base64url() {
        let t = mint();
        assert!(is_well_formed(t.token.expose_secret()));
    }

    #[test]
    fn hash_is_sha256_of_the_token() {
        let t = mint();
        assert_eq!(t.hash, hash(t.token.expose_secret()));
        assert_ne!(t.hash, hash("something else"));
    }

    #[test]
    fn minted_tokens_do_not_repeat() {
        let seen: HashSet<_> = (0..10_000).map(|_| mint().hash).collect();
        assert_eq!(seen.len(), 10_000);
    }

    #[test]
    fn debug_output_hides_the_token() {
        let t = mint();
        let shown = format!("{t:?} {:?}", t.token);
        assert!(!shown.contains(t.token.expose_secret()));
    }

    #[test]
    fn malformed_tokens_are_rejected() {
        assert!(!is_well_formed(""));
        assert!(!is_well_formed("short"));
        assert!(!is_well_formed(&"a".repeat(44)));
        assert!(!is_well_formed(&format!("{}=", "a".repeat(42))));
        assert!(!is_well_formed(&format!("{}/", "a".repeat(42))));
    }

    #[test]
    fn url_joins_base_and_token() {
        let token = SecretString::from("abc".to_owned());
        assert_eq!(
            url("https://h.example/", &token).expose_secret(),
            "https://h.example/l/abc"
        );
    }
}
