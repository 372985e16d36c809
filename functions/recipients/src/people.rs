//! Recipients as a resource: `PUT`, `GET` and `DELETE /v1/recipients/{id}`, and
//! `GET /v1/recipients`. Thin handlers over `herald::db::recipients`; a person is parsed
//! by the same rules as an escalation's `recipients[i]` (`herald::domain::escalation`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use herald::db::recipients::{self, Erased, Put, Recipient};
use herald::db::tenants::Principal;
use herald::db::{Actor, ActorKind};
use herald::domain::escalation::{RecipientRequest, recipient, recipient_id};
use herald::domain::quiet_hours::{QuietHours, WindowSpec};
use herald::domain::{FieldError, parse_json};
use herald::http::{ApiError, json, json_body};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::handlers::{invalid, query};

/// At most this many people per page of `GET /v1/recipients`.
pub const MAX_LIMIT: i64 = 200;
pub const DEFAULT_LIMIT: i64 = 50;

#[derive(Debug, Serialize, ToSchema)]
pub struct RecipientView {
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub slack_user_id: Option<String>,
    pub push_endpoint_arn: Option<String>,
    pub timezone: Option<String>,
    pub quiet_hours: Vec<WindowSpec>,
    /// When the quiet stretch they are in now ends; null when they are not in one.
    pub quiet_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl RecipientView {
    fn new(r: &Recipient, now: DateTime<Utc>) -> Self {
        let quiet_until = QuietHours::from_stored(r.timezone.as_deref(), &r.quiet_hours)
            .and_then(|q| q.ends_after(now));
        Self {
            id: r.external_id.clone(),
            name: r.name.clone(),
            email: r.email.clone(),
            phone: r.phone.clone(),
            slack_user_id: r.slack_user_id.clone(),
            push_endpoint_arn: r.push_endpoint_arn.clone(),
            timezone: r.timezone.clone(),
            quiet_hours: r.quiet_hours.clone(),
            quiet_until,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RecipientPage {
    items: Vec<RecipientView>,
    /// Pass as `cursor` for the next page; null on the last one.
    next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErasedView {
    id: String,
    erased_at: DateTime<Utc>,
    suppressed_deliveries: i64,
    removed: RemovedView,
    audit_events_scrubbed: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RemovedView {
    opt_outs: i64,
    connections: i64,
    credentials: i64,
    inbox_entries: i64,
    links: i64,
    sms_reply_codes: i64,
}

impl ErasedView {
    fn new(id: &str, e: &Erased) -> Self {
        Self {
            id: id.to_owned(),
            erased_at: e.erased_at,
            suppressed_deliveries: e.suppressed_deliveries,
            removed: RemovedView {
                opt_outs: e.opt_outs,
                connections: e.connections,
                credentials: e.credentials,
                inbox_entries: e.inbox_entries,
                links: e.links,
                sms_reply_codes: e.sms_reply_codes,
            },
            audit_events_scrubbed: e.audit_events_scrubbed,
        }
    }
}

fn valid_id(raw: &str) -> Result<String, ApiError> {
    recipient_id(Some(raw.to_owned()), "id").map_err(ApiError::Validation)
}

pub async fn list(
    client: &herald::db::Client,
    principal: &Principal,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let limit = crate::handlers::page_limit(req)?;
    let after = match query(req, "cursor") {
        None => String::new(),
        Some(raw) => URL_SAFE_NO_PAD
            .decode(raw)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .filter(|id| !id.is_empty())
            .ok_or_else(|| invalid("cursor", "`cursor` is not one this API gave"))?,
    };
    // One more than asked: whether there is a next page, without a count.
    let mut found = recipients::list(client, principal.tenant_id, &after, limit + 1).await?;
    let next_cursor = if found.len() as i64 > limit {
        found.truncate(limit as usize);
        found.last().map(|r| URL_SAFE_NO_PAD.encode(&r.external_id))
    } else {
        None
    };
    let now = Utc::now();
    Ok(json(
        StatusCode::OK,
        &RecipientPage {
            items: found.iter().map(|r| RecipientView::new(r, now)).collect(),
            next_cursor,
        },
    ))
}

pub async fn get(
    client: &herald::db::Client,
    principal: &Principal,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    let found = recipients::get(client, principal.tenant_id, &valid_id(id)?)
        .await?
        .ok_or(ApiError::NotFound("recipient"))?;
    Ok(json(
        StatusCode::OK,
        &RecipientView::new(&found, Utc::now()),
    ))
}

/// Creates (`201`) or replaces (`200`) the person: every field, one left out is cleared.
pub async fn put(
    client: &herald::db::Client,
    principal: &Principal,
    req: &Request,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    let id = valid_id(id)?;
    let mut body: RecipientRequest = parse_json(json_body(req)?).map_err(ApiError::Validation)?;
    if let Some(named) = body.id.take()
        && named != id
    {
        return Err(invalid(
            "id",
            "the body's `id` must be the one in the path (or left out)",
        ));
    }
    let person =
        recipient(id, body, &|field: &str| field.to_owned()).map_err(ApiError::Validation)?;
    match recipients::put(client, principal.tenant_id, &person).await? {
        Put::Stored { recipient, created } => {
            tracing::info!(created, "recipient stored");
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(json(status, &RecipientView::new(&recipient, Utc::now())))
        }
        Put::SlackIdTaken => Err(ApiError::FieldConflict(FieldError::new(
            "conflict",
            "slack_user_id",
            "this Slack user connected their account to another recipient",
        ))),
    }
}

/// Erases the person (see [`recipients::erase`]); answers what was removed.
pub async fn delete(
    client: &herald::db::Client,
    principal: &Principal,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    let id = valid_id(id)?;
    let actor = Actor {
        kind: ActorKind::ApiKey,
        id: principal.api_key_id.to_string(),
        display: format!("API key {}…", principal.api_key_prefix),
        recipient_id: None,
        ip: None,
        user_agent: None,
    };
    let erased = recipients::erase(client, principal.tenant_id, &id, &actor)
        .await?
        .ok_or(ApiError::NotFound("recipient"))?;
    tracing::info!(
        suppressed_deliveries = erased.suppressed_deliveries,
        "recipient erased"
    );
    Ok(json(StatusCode::OK, &ErasedView::new(&id, &erased)))
}
