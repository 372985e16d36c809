//! Stored escalation policies: `POST /v1/policies`, `GET /v1/policies`, and `GET`, `PUT`
//! and `DELETE /v1/policies/{name}`. Thin handlers over `herald::db::policies`; a policy
//! is checked by the same rules as an escalation's inline one
//! (`herald::domain::escalation`), and everyone it names must be a stored recipient.

use chrono::{DateTime, Utc};
use herald::db::policies::{self, Saved, StoredPolicy};
use herald::db::tenants::Principal;
use herald::domain::escalation::{NewStoredPolicy, StoredPolicyRequest};
use herald::domain::{EscalationPolicy, FieldError, parse_json};
use herald::http::{ApiError, json, json_body, no_content};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::handlers::{invalid, query};

#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyView {
    pub name: String,
    pub version: i32,
    pub description: Option<String>,
    #[serde(flatten)]
    pub policy: EscalationPolicy,
    pub created_at: DateTime<Utc>,
}

impl From<&StoredPolicy> for PolicyView {
    fn from(p: &StoredPolicy) -> Self {
        Self {
            name: p.name.clone(),
            version: p.version,
            description: p.description.clone(),
            policy: p.policy.clone(),
            created_at: p.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PolicyList {
    items: Vec<PolicyView>,
}

pub async fn list(
    client: &herald::db::Client,
    principal: &Principal,
) -> Result<Response<Body>, ApiError> {
    let found = policies::list(client, principal.tenant_id).await?;
    Ok(json(
        StatusCode::OK,
        &PolicyList {
            items: found.iter().map(PolicyView::from).collect(),
        },
    ))
}

pub async fn get(
    client: &herald::db::Client,
    principal: &Principal,
    req: &Request,
    name: &str,
) -> Result<Response<Body>, ApiError> {
    let version = match query(req, "version") {
        None => None,
        Some(raw) => Some(
            raw.parse::<i32>()
                .ok()
                .filter(|v| *v >= 1)
                .ok_or_else(|| invalid("version", "`version` is a version number (1, 2, …)"))?,
        ),
    };
    let found = policies::get(client, principal.tenant_id, name, version)
        .await?
        .ok_or(ApiError::NotFound("policy"))?;
    Ok(json(StatusCode::OK, &PolicyView::from(&found)))
}

/// `POST /v1/policies` (`path_name: None`: the body names it, and a live policy of that
/// name is a conflict) or `PUT /v1/policies/{name}` (a new version, or the first).
pub async fn save(
    client: &herald::db::Client,
    principal: &Principal,
    req: &Request,
    path_name: Option<&str>,
) -> Result<Response<Body>, ApiError> {
    let request: StoredPolicyRequest = parse_json(json_body(req)?).map_err(ApiError::Validation)?;
    let new = NewStoredPolicy::parse(request, path_name).map_err(ApiError::Validation)?;
    let ids: Vec<&str> = new.people.iter().map(|(_, id)| id.as_str()).collect();
    let unknown = policies::unknown_recipients(client, principal.tenant_id, &ids).await?;
    if let Some(id) = unknown.first() {
        let (field, _) = new
            .people
            .iter()
            .find(|(_, p)| p == id)
            .expect("an unknown id is one of the policy's");
        return Err(ApiError::Validation(FieldError::new(
            "unknown_recipient",
            field.clone(),
            format!("`{id}` is not a recipient: create them first (PUT /v1/recipients/{{id}})"),
        )));
    }
    let saved = policies::save(
        client,
        principal.tenant_id,
        &new.name,
        new.description.as_deref(),
        &new.policy,
        &principal.api_key_id.to_string(),
        path_name.is_none(),
    )
    .await?;
    match saved {
        Saved::Stored { policy, created } => {
            tracing::info!(version = policy.version, created, "policy saved");
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(json(status, &PolicyView::from(policy.as_ref())))
        }
        Saved::Exists => Err(ApiError::FieldConflict(FieldError::new(
            "conflict",
            "name",
            format!(
                "a policy named `{}` exists: PUT /v1/policies/{} saves a new version",
                new.name, new.name
            ),
        ))),
        Saved::Raced => Err(ApiError::Conflict(
            "the policy was saved by someone else at the same moment: read it and try again"
                .to_owned(),
        )),
    }
}

pub async fn delete(
    client: &herald::db::Client,
    principal: &Principal,
    name: &str,
) -> Result<Response<Body>, ApiError> {
    if !policies::delete(client, principal.tenant_id, name).await? {
        return Err(ApiError::NotFound("policy"));
    }
    tracing::info!("policy deleted");
    Ok(no_content())
}
