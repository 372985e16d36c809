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

/// Whose consent page a flow goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Slack,
    /// Microsoft's identity platform (a person's Teams identity).
    Teams,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Slack => "slack",
            Provider::Teams => "teams",
        }
    }
}

/// The key states are signed with, derived from a secret of the provider's app (its
/// OAuth client secret): HMAC-SHA256(secret, "herald/{provider}-oauth-state/v1"), so a
/// state for one provider never verifies at the other's callback.
pub fn derive_key(provider: Provider, secret: &[u8]) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let label = format!("herald/{}-oauth-state/v1", provider.as_str());
    hmac::sign(&key, label.as_bytes()).as_ref().to_vec()
}

/// What an OpenID Connect ID token says about who signed in, as far as Herald keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdClaims {
    /// The person's directory (`tid`) and their object id in it (`oid`).
    pub tenant_id: Uuid,
    pub object_id: Uuid,
    pub name: Option<String>,
    pub username: Option<String>,
}

#[derive(serde::Deserialize)]
struct RawClaims {
    aud: String,
    iss: String,
    exp: i64,
    tid: String,
    oid: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    preferred_username: Option<String>,
}

/// Reads the ID token Microsoft's token endpoint answered with. Its signature is not
/// checked: it came straight from the token endpoint over TLS, in exchange for a code
/// and the app's secret, which OpenID Connect Core (3.1.3.7) accepts in place of the
/// signature. Its audience must be this app, its issuer Microsoft's v2.0 issuer for its
/// own directory, and it must not have expired at `now` (Unix seconds).
pub fn id_token_claims(
    id_token: &str,
    client_id: &str,
    now: i64,
) -> Result<IdClaims, &'static str> {
    let mut parts = id_token.split('.');
    let (Some(_header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("the ID token is not a JWT");
    };
    let payload = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| "the ID token is not a JWT")?;
    let claims: RawClaims = serde_json::from_slice(&payload)
        .map_err(|_| "the ID token lacks aud, iss, exp, tid or oid")?;
    if claims.aud != client_id {
        return Err("the ID token is for another app");
    }
    if now >= claims.exp {
        return Err("the ID token has expired");
    }
    let tenant_id =
        Uuid::parse_str(&claims.tid).map_err(|_| "the ID token's tid is not a directory id")?;
    let object_id =
        Uuid::parse_str(&claims.oid).map_err(|_| "the ID token's oid is not an object id")?;
    if claims.iss != format!("https://login.microsoftonline.com/{tenant_id}/v2.0") {
        return Err("the ID token's issuer is not Microsoft's for its directory");
    }
    let short = |v: Option<String>| {
        v.filter(|v| !v.is_empty())
            .map(|v| v.chars().take(256).collect())
    };
    Ok(IdClaims {
        tenant_id,
        object_id,
        name: short(claims.name),
        username: short(claims.preferred_username),
    })
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
    fn the_key_depends_on_the_secret_and_the_provider() {
        let slack = |s: &[u8]| derive_key(Provider::Slack, s);
        assert_eq!(slack(b"s1"), slack(b"s1"));
        assert_ne!(slack(b"s1"), slack(b"s2"));
        assert_ne!(slack(b"s1"), derive_key(Provider::Teams, b"s1"));
        assert_eq!(slack(b"s1").len(), 32);
    }

    fn jwt(claims: &serde_json::Value) -> String {
        let part = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.c2ln",
            part(&serde_json::json!({"alg": "RS256", "typ": "JWT"})),
            part(claims)
        )
    }

    #[test]
    fn an_id_token_names_the_person_for_this_app_only() {
        let tid = "9188040d-6c67-4c5b-b112-36a304b66dad";
        let oid = "00000000-0000-0000-66f3-3332eca7ea81";
        let good = serde_json::json!({
            "aud": "app-1", "iss": format!("https://login.microsoftonline.com/{tid}/v2.0"),
            "exp": 2_000, "tid": tid, "oid": oid, "name": "Bo Diaz",
            "preferred_username": "bo@example.com"
        });
        let claims = id_token_claims(&jwt(&good), "app-1", 1_000).expect("claims");
        assert_eq!(claims.object_id.to_string(), oid);
        assert_eq!(claims.name.as_deref(), Some("Bo Diaz"));
        assert_eq!(claims.username.as_deref(), Some("bo@example.com"));
        assert!(id_token_claims(&jwt(&good), "another-app", 1_000).is_err());
        assert!(id_token_claims(&jwt(&good), "app-1", 2_000).is_err());
        let mut other_issuer = good.clone();
        other_issuer["iss"] = "https://evil.example/v2.0".into();
        assert!(id_token_claims(&jwt(&other_issuer), "app-1", 1_000).is_err());
        let mut no_oid = good.clone();
        no_oid.as_object_mut().expect("object").remove("oid");
        assert!(id_token_claims(&jwt(&no_oid), "app-1", 1_000).is_err());
        assert!(id_token_claims("not-a-jwt", "app-1", 1_000).is_err());
        assert!(id_token_claims("a.b.c.d", "app-1", 1_000).is_err());
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
