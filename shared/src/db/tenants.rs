use anyhow::Context;
use uuid::Uuid;

use super::Client;

/// The tenant an API key belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenant_id: Uuid,
    pub api_key_id: Uuid,
    pub api_key_prefix: String,
}

#[tracing::instrument(skip_all)]
pub async fn create_tenant(client: &Client, name: &str) -> anyhow::Result<Uuid> {
    let row = client
        .query_one(
            r#"INSERT INTO tenants (name) VALUES ($1) RETURNING id"#,
            &[&name],
        )
        .await
        .context("inserting a tenant")?;
    Ok(row.get("id"))
}

#[tracing::instrument(skip_all)]
pub async fn create_api_key(
    client: &Client,
    tenant_id: Uuid,
    key_hash: &[u8; 32],
    prefix: &str,
    name: &str,
) -> anyhow::Result<Uuid> {
    let row = client
        .query_one(
            r#"
            INSERT INTO api_keys (tenant_id, key_hash, prefix, name)
            VALUES ($1, $2, $3, $4)
            RETURNING id
            "#,
            &[&tenant_id, &key_hash.as_slice(), &prefix, &name],
        )
        .await
        .context("inserting an API key")?;
    Ok(row.get("id"))
}

/// Looks a key up by its SHA-256. Revoked keys do not authenticate.
#[tracing::instrument(skip_all)]
pub async fn authenticate(
    client: &Client,
    key_hash: &[u8; 32],
) -> anyhow::Result<Option<Principal>> {
    let stmt = client
        .prepare_cached(
            r#"
            SELECT id, tenant_id, prefix
            FROM api_keys
            WHERE key_hash = $1 AND revoked_at IS NULL
            "#,
        )
        .await?;
    let row = client.query_opt(&stmt, &[&key_hash.as_slice()]).await?;
    Ok(row.map(|row| Principal {
        tenant_id: row.get("tenant_id"),
        api_key_id: row.get("id"),
        api_key_prefix: row.get("prefix"),
    }))
}
