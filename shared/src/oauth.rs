//! The pending half of an OAuth flow, the same for every provider: a state is issued
//! (signed and stored), shown by the redirect back's GET, and used once by its POST.
//! Providers differ only in their key ([`crate::domain::oauth::derive_key`]) and in
//! what the code is traded for.

use chrono::DateTime;
use uuid::Uuid;

use crate::db::oauth::{Pending, PendingView};
use crate::db::{Client, Pool};
use crate::domain::oauth::{self, Provider, StateError};

/// Why a state cannot be shown or used.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// Forged, altered, expired, used or never issued: 400, nothing stored.
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// A new state for `tenant_id` (and the person connecting their account), valid once
/// for ten minutes from `now`, stored before it is handed out.
pub async fn issue(
    client: &Client,
    provider: Provider,
    key: &[u8],
    tenant_id: Uuid,
    recipient: Option<Uuid>,
    now: i64,
) -> anyhow::Result<String> {
    use rand::TryRngCore;
    let mut nonce = [0u8; 16];
    rand::rngs::OsRng
        .try_fill_bytes(&mut nonce)
        .map_err(|e| anyhow::anyhow!("the OS random source failed: {e}"))?;
    let expires_at = now + oauth::STATE_TTL_SECS;
    let state = oauth::sign_state(key, tenant_id, expires_at, nonce);
    let expires_at = DateTime::from_timestamp(expires_at, 0)
        .ok_or_else(|| anyhow::anyhow!("an expiry out of range"))?;
    crate::db::oauth::remember(client, provider, &nonce, tenant_id, recipient, expires_at).await?;
    Ok(state)
}

/// Whose account a state would connect, without using it.
pub async fn preview(
    pool: &Pool,
    provider: Provider,
    key: &[u8],
    state: &str,
    now: i64,
) -> Result<PendingView, Refused> {
    let verified = oauth::verify_state(key, state, now)?;
    let client = pool.get().await.map_err(anyhow::Error::from)?;
    crate::db::oauth::peek(&client, provider, &verified.nonce, verified.tenant_id)
        .await?
        .ok_or(Refused::State(StateError::Used))
}

/// Uses a state, once: its tenant and what the flow is for. The connection is given
/// back before the provider is asked anything.
pub async fn take(
    pool: &Pool,
    provider: Provider,
    key: &[u8],
    state: &str,
    now: i64,
) -> Result<(Uuid, Pending), Refused> {
    let verified = oauth::verify_state(key, state, now)?;
    let client = pool.get().await.map_err(anyhow::Error::from)?;
    let pending = crate::db::oauth::take(&client, provider, &verified.nonce, verified.tenant_id)
        .await?
        .ok_or(Refused::State(StateError::Used))?;
    Ok((verified.tenant_id, pending))
}
