//! Teams webhooks, kept sealed in `credentials` (see [`crate::secrets`]): registered
//! and removed through the API, read only by the claim of the Teams dispatcher. And
//! people's Teams connections (seed 001's `teams_connections`): their Microsoft identity.

use anyhow::Context;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Client;
use crate::secrets::Sealed;

/// Whose webhook it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookOwner {
    /// A recipient, by the caller's id for them.
    Recipient(String),
    /// A team (the escalation's `team`), for recipients without one of their own.
    Team(String),
}

/// What the API shows of a stored webhook: never the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookInfo {
    pub host: String,
    pub key_id: String,
    pub updated_at: DateTime<Utc>,
    /// Teams refused it as deleted or revoked: replace it (that clears these).
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_reason: Option<String>,
}

/// The recipient's internal id, for sealing a value to them. A recipient not seen yet is
/// created with only the caller's id (a webhook may be registered before the first
/// page; the first escalation naming them fills in the rest).
#[tracing::instrument(skip_all)]
pub async fn ensure_recipient(
    client: &Client,
    tenant_id: Uuid,
    external_id: &str,
) -> anyhow::Result<Uuid> {
    let stmt = client
        .prepare_cached(
            r#"
            INSERT INTO recipients (tenant_id, external_id) VALUES ($1, $2)
            ON CONFLICT (tenant_id, external_id) DO UPDATE SET external_id = EXCLUDED.external_id
            RETURNING id
            "#,
        )
        .await?;
    Ok(client
        .query_one(&stmt, &[&tenant_id, &external_id])
        .await
        .context("finding the recipient")?
        .get(0))
}

/// Stores (or replaces) a webhook. `recipient` is the internal id for a recipient's
/// webhook (the caller checked it exists in this tenant), `None` for a team's.
#[tracing::instrument(name = "store teams webhook", skip_all)]
pub async fn upsert(
    client: &Client,
    tenant_id: Uuid,
    recipient: Option<Uuid>,
    team: Option<&str>,
    sealed: &Sealed,
    host: &str,
) -> anyhow::Result<WebhookInfo> {
    let sql = if recipient.is_some() {
        r#"
        INSERT INTO credentials (tenant_id, kind, recipient_id, team, key_id, ciphertext, hint)
        VALUES ($1, 'teams_webhook', $2, $3, $4, $5, $6)
        ON CONFLICT (recipient_id, kind) WHERE recipient_id IS NOT NULL DO UPDATE SET
            key_id = EXCLUDED.key_id, ciphertext = EXCLUDED.ciphertext, hint = EXCLUDED.hint,
            revoked_at = NULL, revoked_reason = NULL, updated_at = now()
        RETURNING hint AS host, key_id, updated_at, revoked_at, revoked_reason
        "#
    } else {
        r#"
        INSERT INTO credentials (tenant_id, kind, recipient_id, team, key_id, ciphertext, hint)
        VALUES ($1, 'teams_webhook', $2, $3, $4, $5, $6)
        ON CONFLICT (tenant_id, team, kind) WHERE team IS NOT NULL DO UPDATE SET
            key_id = EXCLUDED.key_id, ciphertext = EXCLUDED.ciphertext, hint = EXCLUDED.hint,
            revoked_at = NULL, revoked_reason = NULL, updated_at = now()
        RETURNING hint AS host, key_id, updated_at, revoked_at, revoked_reason
        "#
    };
    let stmt = client.prepare_cached(sql).await?;
    let row = client
        .query_one(
            &stmt,
            &[
                &tenant_id,
                &recipient,
                &team,
                &sealed.key_id,
                &sealed.bytes,
                &host,
            ],
        )
        .await
        .context("storing the Teams webhook")?;
    Ok(WebhookInfo {
        host: row.get("host"),
        key_id: row.get("key_id"),
        updated_at: row.get("updated_at"),
        revoked_at: row.get("revoked_at"),
        revoked_reason: row.get("revoked_reason"),
    })
}

/// Removes a webhook; `false` if there was none.
#[tracing::instrument(name = "remove teams webhook", skip_all)]
pub async fn delete(
    client: &Client,
    tenant_id: Uuid,
    owner: &WebhookOwner,
) -> anyhow::Result<bool> {
    let (sql, key) = match owner {
        WebhookOwner::Recipient(external_id) => (
            r#"
            DELETE FROM credentials w USING recipients r
            WHERE w.kind = 'teams_webhook' AND w.recipient_id = r.id
              AND r.tenant_id = $1 AND r.external_id = $2
            "#,
            external_id.as_str(),
        ),
        WebhookOwner::Team(team) => (
            "DELETE FROM credentials WHERE kind = 'teams_webhook' AND tenant_id = $1 AND team = $2",
            team.as_str(),
        ),
    };
    let stmt = client.prepare_cached(sql).await?;
    Ok(client.execute(&stmt, &[&tenant_id, &key]).await? > 0)
}

/// A stored webhook as the connections list shows it: whose, its host, its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookListing {
    pub owner: WebhookOwner,
    pub info: WebhookInfo,
}

/// The tenant's Teams webhooks, recipients' first (by their id), then teams'.
#[tracing::instrument(name = "list teams webhooks", skip_all)]
pub async fn list(client: &Client, tenant_id: Uuid) -> anyhow::Result<Vec<WebhookListing>> {
    let stmt = client
        .prepare_cached(
            r#"
            SELECT r.external_id, c.team, c.hint, c.key_id, c.updated_at, c.revoked_at, c.revoked_reason
            FROM credentials c
            LEFT JOIN recipients r ON r.id = c.recipient_id
            WHERE c.tenant_id = $1 AND c.kind = 'teams_webhook'
            ORDER BY c.team NULLS FIRST, r.external_id
            "#,
        )
        .await?;
    client
        .query(&stmt, &[&tenant_id])
        .await
        .context("listing Teams webhooks")?
        .iter()
        .map(|row| {
            let owner = match (
                row.get::<_, Option<String>>("external_id"),
                row.get::<_, Option<String>>("team"),
            ) {
                (Some(recipient), _) => WebhookOwner::Recipient(recipient),
                (None, Some(team)) => WebhookOwner::Team(team),
                (None, None) => anyhow::bail!("a Teams webhook without an owner"),
            };
            Ok(WebhookListing {
                owner,
                info: WebhookInfo {
                    host: row.get("hint"),
                    key_id: row.get("key_id"),
                    updated_at: row.get("updated_at"),
                    revoked_at: row.get("revoked_at"),
                    revoked_reason: row.get("revoked_reason"),
                },
            })
        })
        .collect()
}

/// A person's Microsoft identity as Microsoft reported it when they signed in.
#[derive(Debug, Clone)]
pub struct PersonConnection<'a> {
    pub tenant_id: Uuid,
    pub recipient_id: Uuid,
    pub claims: &'a crate::domain::oauth::IdClaims,
    pub scopes: &'a str,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// That Microsoft identity is connected to another recipient of the tenant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "that Microsoft account is already connected to another recipient: disconnect it there first"
)]
pub struct IdentityTaken;

/// Stores (or replaces) a person's Teams connection and their sealed token, in one
/// statement.
#[tracing::instrument(name = "store teams connection", skip_all)]
pub async fn connect_person(
    client: &Client,
    connection: &PersonConnection<'_>,
    sealed_token: &Sealed,
) -> anyhow::Result<()> {
    let stmt = client
        .prepare_cached(
            r#"
            WITH token AS (
                INSERT INTO credentials (tenant_id, kind, recipient_id, key_id, ciphertext, hint)
                VALUES ($1, 'teams_user_token', $2, $9, $10, 'login.microsoftonline.com')
                ON CONFLICT (recipient_id, kind) WHERE recipient_id IS NOT NULL DO UPDATE SET
                    key_id = EXCLUDED.key_id, ciphertext = EXCLUDED.ciphertext,
                    revoked_at = NULL, revoked_reason = NULL, updated_at = now()
                RETURNING id
            )
            INSERT INTO teams_connections
                (recipient_id, tenant_id, credential_id, aad_tenant_id, aad_object_id,
                 display_name, username, scopes, expires_at)
            SELECT $2, $1, id, $3, $4, $5, $6, $7, $8 FROM token
            ON CONFLICT (recipient_id) DO UPDATE SET
                credential_id = EXCLUDED.credential_id, aad_tenant_id = EXCLUDED.aad_tenant_id,
                aad_object_id = EXCLUDED.aad_object_id, display_name = EXCLUDED.display_name,
                username = EXCLUDED.username, scopes = EXCLUDED.scopes,
                expires_at = EXCLUDED.expires_at, connected_at = now()
            "#,
        )
        .await?;
    let c = connection;
    let stored = client
        .execute(
            &stmt,
            &[
                &c.tenant_id,
                &c.recipient_id,
                &c.claims.tenant_id,
                &c.claims.object_id,
                &c.claims.name,
                &c.claims.username,
                &c.scopes,
                &c.expires_at,
                &sealed_token.key_id,
                &sealed_token.bytes,
            ],
        )
        .await;
    match stored {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_db_error().and_then(|d| d.constraint())
                == Some("teams_connections_tenant_id_aad_tenant_id_aad_object_id_key") =>
        {
            Err(IdentityTaken.into())
        }
        Err(e) => Err(e).context("storing the Teams connection"),
    }
}

/// A person's Teams connection as the API lists it: no secret.
#[derive(Debug, Clone)]
pub struct PersonConnectionInfo {
    /// The caller's id for the recipient.
    pub recipient_id: String,
    pub aad_tenant_id: Uuid,
    pub aad_object_id: Uuid,
    pub display_name: Option<String>,
    pub username: Option<String>,
    pub scopes: String,
    pub key_id: String,
    pub connected_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
    pub revoked_reason: Option<String>,
}

#[tracing::instrument(name = "list teams connections", skip_all)]
pub async fn person_connections(
    client: &Client,
    tenant_id: Uuid,
) -> anyhow::Result<Vec<PersonConnectionInfo>> {
    let stmt = client
        .prepare_cached(
            r#"
            SELECT r.external_id, t.aad_tenant_id, t.aad_object_id, t.display_name, t.username,
                   t.scopes, t.connected_at, t.expires_at, c.key_id, c.revoked_at, c.revoked_reason
            FROM teams_connections t
            JOIN recipients r ON r.id = t.recipient_id
            JOIN credentials c ON c.id = t.credential_id
            WHERE t.tenant_id = $1
            ORDER BY r.external_id
            "#,
        )
        .await?;
    Ok(client
        .query(&stmt, &[&tenant_id])
        .await
        .context("listing Teams connections")?
        .into_iter()
        .map(|row| PersonConnectionInfo {
            recipient_id: row.get("external_id"),
            aad_tenant_id: row.get("aad_tenant_id"),
            aad_object_id: row.get("aad_object_id"),
            display_name: row.get("display_name"),
            username: row.get("username"),
            scopes: row.get("scopes"),
            key_id: row.get("key_id"),
            connected_at: row.get("connected_at"),
            expires_at: row.get("expires_at"),
            revoked_at: row.get("revoked_at"),
            revoked_reason: row.get("revoked_reason"),
        })
        .collect())
}

/// Removes a person's Teams connection and their token; `false` when there was none.
#[tracing::instrument(name = "remove teams connection", skip_all)]
pub async fn disconnect_person(
    client: &Client,
    tenant_id: Uuid,
    external_id: &str,
) -> anyhow::Result<bool> {
    let stmt = client
        .prepare_cached(
            r#"
            DELETE FROM credentials c
            USING teams_connections t, recipients r
            WHERE c.id = t.credential_id AND t.recipient_id = r.id
              AND r.tenant_id = $1 AND r.external_id = $2
            "#,
        )
        .await?;
    Ok(client
        .execute(&stmt, &[&tenant_id, &external_id])
        .await
        .context("removing the Teams connection")?
        > 0)
}
