//! Pending OAuth flows (`oauth_states`): a state's nonce is stored when Herald sends
//! someone to the provider and deleted by the one callback that uses it.

use anyhow::Context;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Client;
use crate::domain::oauth::Provider;

/// Remembers a state just issued for `tenant_id` (and the person connecting their own
/// account, if it is that kind of flow).
#[tracing::instrument(name = "remember oauth state", skip_all)]
pub async fn remember(
    client: &Client,
    provider: Provider,
    nonce: &[u8; 16],
    tenant_id: Uuid,
    recipient_id: Option<Uuid>,
    expires_at: DateTime<Utc>,
) -> anyhow::Result<()> {
    let stmt = client
        .prepare_cached(
            "INSERT INTO oauth_states (nonce, tenant_id, recipient_id, expires_at, provider) VALUES ($1, $2, $3, $4, $5)",
        )
        .await?;
    client
        .execute(
            &stmt,
            &[
                &nonce.as_slice(),
                &tenant_id,
                &recipient_id,
                &expires_at,
                &provider.as_str(),
            ],
        )
        .await
        .context("remembering an OAuth state")?;
    Ok(())
}

/// What a pending flow was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    /// `None`: the tenant's installation; `Some`: this recipient connects their account.
    pub recipient_id: Option<Uuid>,
}

/// Uses `provider`'s state with `nonce` of `tenant_id`, once: `None` when it was used already,
/// expired, or never issued. Two callbacks with one state at once: one gets it.
#[tracing::instrument(name = "use oauth state", skip_all)]
pub async fn take(
    client: &Client,
    provider: Provider,
    nonce: &[u8; 16],
    tenant_id: Uuid,
) -> anyhow::Result<Option<Pending>> {
    let stmt = client
        .prepare_cached(
            r#"
            DELETE FROM oauth_states
            WHERE nonce = $1 AND tenant_id = $2 AND expires_at > now() AND provider = $3
            RETURNING recipient_id
            "#,
        )
        .await?;
    Ok(client
        .query_opt(&stmt, &[&nonce.as_slice(), &tenant_id, &provider.as_str()])
        .await
        .context("using an OAuth state")?
        .map(|row| Pending {
            recipient_id: row.get(0),
        }))
}

/// Who a pending flow is for, as the confirmation page names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingView {
    pub tenant_name: String,
    /// The caller's id of the person connecting their account; `None` for the
    /// tenant's installation.
    pub recipient: Option<String>,
}

/// Reads `provider`'s pending state with `nonce` of `tenant_id` without using it.
#[tracing::instrument(name = "read oauth state", skip_all)]
pub async fn peek(
    client: &Client,
    provider: Provider,
    nonce: &[u8; 16],
    tenant_id: Uuid,
) -> anyhow::Result<Option<PendingView>> {
    let stmt = client
        .prepare_cached(
            r#"
            SELECT t.name, r.external_id
            FROM oauth_states s
            JOIN tenants t ON t.id = s.tenant_id
            LEFT JOIN recipients r ON r.id = s.recipient_id
            WHERE s.nonce = $1 AND s.tenant_id = $2 AND s.expires_at > now() AND s.provider = $3
            "#,
        )
        .await?;
    Ok(client
        .query_opt(&stmt, &[&nonce.as_slice(), &tenant_id, &provider.as_str()])
        .await
        .context("reading an OAuth state")?
        .map(|row| PendingView {
            tenant_name: row.get(0),
            recipient: row.get(1),
        }))
}
