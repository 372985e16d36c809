//! The `state` of an OAuth flow (Slack's "Add to Slack", a person connecting their
//! Slack account): which tenant started it and until when it may finish, signed so the
//! callback cannot be pointed at another tenant, replayed later, or forged. Its nonce
//! is also stored when issued and deleted when used (`oauth_states`), so a state
//! works once.
//!
//! `base64url(tenant id 16 bytes || expiry, Unix seconds, 8 bytes big-endian || 16
//! random bytes) "." base64url(HMAC-SHA256(key, that first part))`.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

/// How long an install may take from the redirect to Slack to the callback.
pub const STATE_TTL_SECS: i64 = 10 * 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("the state is not one Herald issued")]
    Malformed,
    #[error("the state's signature does not match")]
    Forged,
    #[error("the install took longer than ten minutes: start again")]
    Expired,
    /// Signed and unexpired, but already used (or never issued): start again.
    #[error("this install link was already used: start again")]
    Used,
}

/// A state Herald signed: its tenant, and the nonce that names the pending flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub tenant_id: Uuid,
    pub nonce: [u8; 16],
}

/// The key states are signed with, derived from a secret of the app (its OAuth client
/// secret): HMAC-SHA256(secret, "herald/slack-oauth-state/v1").
pub fn derive_key(secret: &[u8]) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    hmac::sign(&key, b"herald/slack-oauth-state/v1")
        .as_ref()
        .to_vec()
}

/// A state for `tenant_id`, valid until `expires_at` (Unix seconds).
pub fn sign_state(key: &[u8], tenant_id: Uuid, expires_at: i64, nonce: [u8; 16]) -> String {
    let mut payload = Vec::with_capacity(40);
    payload.extend_from_slice(tenant_id.as_bytes());
    payload.extend_from_slice(&expires_at.to_be_bytes());
    payload.extend_from_slice(&nonce);
    let payload = URL_SAFE_NO_PAD.encode(payload);
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), payload.as_bytes());
    format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// The tenant and nonce a state was issued with, if it is ours and not expired at `now`.
pub fn verify_state(key: &[u8], state: &str, now: i64) -> Result<Verified, StateError> {
    let (payload, tag) = state.split_once('.').ok_or(StateError::Malformed)?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| StateError::Malformed)?;
    // Constant time, and before anything in the payload is believed.
    hmac::verify(
        &hmac::Key::new(hmac::HMAC_SHA256, key),
        payload.as_bytes(),
        &tag,
    )
    .map_err(|_| StateError::Forged)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| StateError::Malformed)?;
    if bytes.len() != 40 {
        return Err(StateError::Malformed);
    }
    let tenant_id = Uuid::from_slice(&bytes[..16]).map_err(|_| StateError::Malformed)?;
    let expires_at = i64::from_be_bytes(
        bytes[16..24]
            .try_into()
            .map_err(|_| StateError::Malformed)?,
    );
    if now > expires_at {
        return Err(StateError::Expired);
    }
    let nonce = bytes[24..].try_into().map_err(|_| StateError::Malformed)?;
    Ok(Verified { tenant_id, nonce })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"a key only the tests use";

    #[test]
    fn a_state_names_its_tenant_until_it_expires() {
        let tenant = Uuid::new_v4();
        let state = sign_state(KEY, tenant, 1_000, [7; 16]);
        let verified = Verified {
            tenant_id: tenant,
            nonce: [7; 16],
        };
        assert_eq!(verify_state(KEY, &state, 999), Ok(verified));
        assert_eq!(verify_state(KEY, &state, 1_000), Ok(verified));
        assert_eq!(verify_state(KEY, &state, 1_001), Err(StateError::Expired));
    }

    #[test]
    fn the_key_depends_on_the_secret() {
        assert_eq!(derive_key(b"s1"), derive_key(b"s1"));
        assert_ne!(derive_key(b"s1"), derive_key(b"s2"));
        assert_eq!(derive_key(b"s1").len(), 32);
    }

    #[test]
    fn forged_or_altered_states_are_refused() {
        let tenant = Uuid::new_v4();
        let state = sign_state(KEY, tenant, 1_000, [7; 16]);
        assert_eq!(
            verify_state(b"another key", &state, 0),
            Err(StateError::Forged)
        );
        // Another tenant's id with the first tenant's signature.
        let other = sign_state(KEY, Uuid::new_v4(), 1_000, [7; 16]);
        let (payload, _) = other.split_once('.').expect("dot");
        let (_, tag) = state.split_once('.').expect("dot");
        assert_eq!(
            verify_state(KEY, &format!("{payload}.{tag}"), 0),
            Err(StateError::Forged)
        );
        // A later expiry needs a new signature.
        let later = sign_state(b"attacker", tenant, i64::MAX, [7; 16]);
        assert_eq!(verify_state(KEY, &later, 0), Err(StateError::Forged));
        assert_eq!(verify_state(KEY, "", 0), Err(StateError::Malformed));
        assert_eq!(verify_state(KEY, "abc", 0), Err(StateError::Malformed));
        assert_eq!(verify_state(KEY, "a.b!", 0), Err(StateError::Malformed));
    }
}
