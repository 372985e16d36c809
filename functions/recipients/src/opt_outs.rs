//! A person's opt-outs: `GET /v1/recipients/{id}/opt-outs`, and `PUT` / `DELETE` of
//! `/v1/recipients/{id}/opt-outs/{channel}` (`channel` is one Herald pages on, or `all`).
//! Thin handlers over `herald::db::opt_outs`; the rules are in `herald::domain::opt_out`.

use chrono::{DateTime, Utc};
use herald::db::opt_outs::{self, OptOut};
use herald::db::tenants::Principal;
use herald::domain::opt_out::{self as rules, NewOptOut, OptOutRequest, OptOutScope};
use herald::domain::{FieldError, parse_json};
use herald::http::{ApiError, json, json_body, no_content};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct OptOutView {
    pub channel: String,
    pub reason: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether it holds now (false once `expires_at` has passed).
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl OptOutView {
    fn new(o: &OptOut, now: DateTime<Utc>) -> Self {
        Self {
            channel: o.scope.as_str().to_owned(),
            reason: o.reason.clone(),
            expires_at: o.expires_at,
            active: rules::holds(o.expires_at, now),
            created_at: o.created_at,
            updated_at: o.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OptOutsView {
    recipient_id: String,
    opt_outs: Vec<OptOutView>,
}

fn recipient_id(raw: &str) -> Result<&str, ApiError> {
    if raw.is_empty() || raw.chars().count() > 128 {
        return Err(ApiError::Validation(FieldError::new(
            "invalid",
            "id",
            "a recipient id is 1 to 128 characters",
        )));
    }
    Ok(raw)
}

fn scope(raw: &str) -> Result<OptOutScope, ApiError> {
    OptOutScope::parse(raw).map_err(ApiError::Validation)
}

pub async fn list(
    client: &herald::db::Client,
    principal: &Principal,
    recipient: &str,
) -> Result<Response<Body>, ApiError> {
    let found = opt_outs::list(client, principal.tenant_id, recipient_id(recipient)?)
        .await?
        .ok_or(ApiError::NotFound("recipient"))?;
    let now = Utc::now();
    Ok(json(
        StatusCode::OK,
        &OptOutsView {
            recipient_id: recipient.to_owned(),
            opt_outs: found.iter().map(|o| OptOutView::new(o, now)).collect(),
        },
    ))
}

/// Stores (or replaces) the opt-out. The body is optional: none means "until removed,
/// no reason given".
pub async fn put(
    client: &herald::db::Client,
    principal: &Principal,
    req: &Request,
    recipient: &str,
    channel: &str,
) -> Result<Response<Body>, ApiError> {
    let recipient = recipient_id(recipient)?;
    let scope = scope(channel)?;
    let empty = match req.body() {
        Body::Empty => true,
        Body::Text(t) => t.trim().is_empty(),
        Body::Binary(b) => b.is_empty(),
        _ => true,
    };
    let request: OptOutRequest = if empty {
        OptOutRequest::default()
    } else {
        parse_json(json_body(req)?).map_err(ApiError::Validation)?
    };
    let now = Utc::now();
    let new = NewOptOut::parse(scope, request, now).map_err(ApiError::Validation)?;
    let stored = opt_outs::put(client, principal.tenant_id, recipient, &new).await?;
    tracing::info!(channel = %stored.scope, expires = stored.expires_at.is_some(), "opt-out stored");
    Ok(json(StatusCode::OK, &OptOutView::new(&stored, now)))
}

pub async fn delete(
    client: &herald::db::Client,
    principal: &Principal,
    recipient: &str,
    channel: &str,
) -> Result<Response<Body>, ApiError> {
    let recipient = recipient_id(recipient)?;
    let scope = scope(channel)?;
    if !opt_outs::delete(client, principal.tenant_id, recipient, scope).await? {
        return Err(ApiError::NotFound("opt-out"));
    }
    Ok(no_content())
}
