//! Stored escalation policies, one row per version (`POST/GET/PUT/DELETE /v1/policies`),
//! and the lookup ingest makes when an escalation names a policy or stored people.

use std::collections::BTreeMap;

use anyhow::Context;
use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::Json;
use uuid::Uuid;

use super::Client;
use crate::domain::EscalationPolicy;
use crate::domain::policy::Contacts;

/// One version of a stored policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPolicy {
    pub name: String,
    pub version: i32,
    pub description: Option<String>,
    pub policy: EscalationPolicy,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "p.name, p.version, p.description, p.policy, p.created_at";

impl TryFrom<&Row> for StoredPolicy {
    type Error = anyhow::Error;

    fn try_from(row: &Row) -> anyhow::Result<Self> {
        Ok(Self {
            name: row.try_get("name")?,
            version: row.try_get("version")?,
            description: row.try_get("description")?,
            policy: row.try_get::<_, Json<EscalationPolicy>>("policy")?.0,
            created_at: row.try_get("created_at")?,
        })
    }
}

/// Of `ids`, those the tenant has no (unerased) recipient for, in the order given.
#[tracing::instrument(name = "unknown recipients", skip_all)]
pub async fn unknown_recipients(
    client: &Client,
    tenant_id: Uuid,
    ids: &[&str],
) -> anyhow::Result<Vec<String>> {
    let stmt = client
        .prepare_cached(
            r#"
            SELECT w.id FROM unnest($2::text[]) WITH ORDINALITY AS w(id, n)
            WHERE NOT EXISTS (SELECT 1 FROM recipients r
                              WHERE r.tenant_id = $1 AND r.external_id = w.id AND r.erased_at IS NULL)
            ORDER BY w.n
            "#,
        )
        .await?;
    Ok(client
        .query(&stmt, &[&tenant_id, &ids])
        .await
        .context("checking the policy's recipients")?
        .iter()
        .map(|r| r.get("id"))
        .collect())
}

/// What saving a version did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Saved {
    /// `created`: the first live version of the name (no live policy had it).
    Stored {
        policy: Box<StoredPolicy>,
        created: bool,
    },
    /// `only_new` was asked (POST) and a live policy has the name.
    Exists,
    /// Another save of the same name committed first; nothing was written.
    Raced,
}

/// Saves a new version of `name` (the next number, also after a delete), unless
/// `only_new` and a live policy already has the name.
#[tracing::instrument(name = "save policy", skip_all, fields(name = name))]
pub async fn save(
    client: &Client,
    tenant_id: Uuid,
    name: &str,
    description: Option<&str>,
    policy: &EscalationPolicy,
    created_by: &str,
    only_new: bool,
) -> anyhow::Result<Saved> {
    let stmt = client
        .prepare_cached(&format!(
            r#"
            WITH latest AS (
                SELECT max(version) AS version, bool_or(deleted_at IS NULL) AS live
                FROM policies WHERE tenant_id = $1 AND name = $2
            )
            INSERT INTO policies AS p (tenant_id, name, version, description, policy, created_by)
            SELECT $1, $2, COALESCE(l.version, 0) + 1, $3, $4, $5
            FROM latest l
            WHERE NOT ($6 AND COALESCE(l.live, false))
            ON CONFLICT (tenant_id, name, version) DO NOTHING
            RETURNING {COLUMNS}, NOT COALESCE((SELECT live FROM latest), false) AS created
            "#
        ))
        .await?;
    let row = client
        .query_opt(
            &stmt,
            &[
                &tenant_id,
                &name,
                &description,
                &Json(policy),
                &created_by,
                &only_new,
            ],
        )
        .await
        .context("saving the policy")?;
    let Some(row) = row else {
        // Written nothing: either the name is taken (POST), or a concurrent save took
        // this version number.
        return Ok(
            if only_new && get(client, tenant_id, name, None).await?.is_some() {
                Saved::Exists
            } else {
                Saved::Raced
            },
        );
    };
    Ok(Saved::Stored {
        policy: Box::new(StoredPolicy::try_from(&row)?),
        created: row.try_get("created")?,
    })
}

/// The live policy `name`: its latest version, or `version`. `None` when there is no
/// such live policy (or version).
#[tracing::instrument(name = "get policy", skip_all, fields(name = name))]
pub async fn get(
    client: &Client,
    tenant_id: Uuid,
    name: &str,
    version: Option<i32>,
) -> anyhow::Result<Option<StoredPolicy>> {
    let stmt = client
        .prepare_cached(&format!(
            r#"
            SELECT {COLUMNS} FROM policies p
            WHERE p.tenant_id = $1 AND p.name = $2 AND p.deleted_at IS NULL
              AND ($3::int IS NULL OR p.version = $3)
            ORDER BY p.version DESC LIMIT 1
            "#
        ))
        .await?;
    client
        .query_opt(&stmt, &[&tenant_id, &name, &version])
        .await
        .context("reading the policy")?
        .as_ref()
        .map(StoredPolicy::try_from)
        .transpose()
}

/// Every live policy of the tenant, at its latest version, by name.
#[tracing::instrument(name = "list policies", skip_all)]
pub async fn list(client: &Client, tenant_id: Uuid) -> anyhow::Result<Vec<StoredPolicy>> {
    let stmt = client
        .prepare_cached(&format!(
            r#"
            SELECT DISTINCT ON (p.name) {COLUMNS} FROM policies p
            WHERE p.tenant_id = $1 AND p.deleted_at IS NULL
            ORDER BY p.name, p.version DESC
            "#
        ))
        .await?;
    client
        .query(&stmt, &[&tenant_id])
        .await
        .context("listing policies")?
        .iter()
        .map(StoredPolicy::try_from)
        .collect()
}

/// Deletes the live policy `name` (every version); `false` when there was none.
/// Escalations running under it keep their copy.
#[tracing::instrument(name = "delete policy", skip_all, fields(name = name))]
pub async fn delete(client: &Client, tenant_id: Uuid, name: &str) -> anyhow::Result<bool> {
    let stmt = client
        .prepare_cached(
            "UPDATE policies SET deleted_at = now() \
             WHERE tenant_id = $1 AND name = $2 AND deleted_at IS NULL",
        )
        .await?;
    Ok(client
        .execute(&stmt, &[&tenant_id, &name])
        .await
        .context("deleting the policy")?
        > 0)
}

/// What ingest learns before planning an escalation that names a stored policy or
/// stored people: the policy's live version (when named) and, for every person it or
/// the request names, what they can be reached on (`None`: unknown or erased).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lookup {
    pub policy: Option<StoredPolicy>,
    pub people: BTreeMap<String, Option<Contacts>>,
}

/// Reads the policy `name` (when given) and the contacts of everyone in it and in `ids`,
/// in ONE statement.
#[tracing::instrument(name = "look up policy and people", skip_all)]
pub async fn lookup(
    client: &Client,
    tenant_id: Uuid,
    name: Option<&str>,
    ids: &[&str],
) -> anyhow::Result<Lookup> {
    let stmt = client
        .prepare_cached(&format!(
            r#"
            WITH p AS (
                SELECT {COLUMNS} FROM policies p
                WHERE p.tenant_id = $1 AND p.name = $2 AND p.deleted_at IS NULL
                ORDER BY p.version DESC LIMIT 1
            ), wanted AS (
                SELECT jsonb_array_elements_text(l->'recipients') AS id
                FROM p, jsonb_array_elements(p.policy->'levels') AS l
                UNION
                SELECT unnest($3::text[])
            )
            SELECT p.*, w.id AS person, r.id IS NOT NULL AS known,
                   r.email IS NOT NULL AS has_email, r.phone IS NOT NULL AS has_phone,
                   r.push_endpoint_arn IS NOT NULL AS has_push, r.slack_user_id IS NOT NULL AS has_slack
            FROM (SELECT 1) AS one
            LEFT JOIN p ON true
            LEFT JOIN wanted w ON true
            LEFT JOIN recipients r
                   ON r.tenant_id = $1 AND r.external_id = w.id AND r.erased_at IS NULL
            "#
        ))
        .await?;
    let rows = client
        .query(&stmt, &[&tenant_id, &name, &ids])
        .await
        .context("looking up the policy and its people")?;
    let mut found = Lookup::default();
    for row in &rows {
        if found.policy.is_none() && row.try_get::<_, Option<String>>("name")?.is_some() {
            found.policy = Some(StoredPolicy::try_from(row)?);
        }
        let Some(person) = row.try_get::<_, Option<String>>("person")? else {
            continue;
        };
        let contacts = row
            .try_get::<_, bool>("known")?
            .then(|| -> anyhow::Result<_> {
                Ok(Contacts {
                    email: row.try_get("has_email")?,
                    phone: row.try_get("has_phone")?,
                    push: row.try_get("has_push")?,
                    slack: row.try_get("has_slack")?,
                })
            });
        found.people.insert(person, contacts.transpose()?);
    }
    Ok(found)
}
