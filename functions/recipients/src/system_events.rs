//! The operators' list: `GET /v1/system-events` (the tenant's and Herald's own, newest
//! first; `?severity=`, `?unresolved=true`, `?tenant_scoped=true|false`, keyset pages) and
//! `POST /v1/system-events/{id}/resolve`. What raises each kind is in
//! `herald::domain::system_events`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::DateTime;
use herald::db::system_events::{self, Filter, SystemEvent};
use herald::db::tenants::Principal;
use herald::domain::system_events::Severity;
use herald::http::{ApiError, json};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use uuid::Uuid;

use crate::handlers::{Page, invalid, page_limit, query};

fn encode(e: &SystemEvent) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{}", e.last_seen_at.timestamp_micros(), e.id))
}

fn decode(raw: &str) -> Option<(DateTime<chrono::Utc>, Uuid)> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).ok()?).ok()?;
    let (at, id) = text.split_once('|')?;
    Some((
        DateTime::from_timestamp_micros(at.parse().ok()?)?,
        id.parse().ok()?,
    ))
}

pub async fn list(
    client: &herald::db::Client,
    principal: &Principal,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let severity = query(req, "severity")
        .map(|s| {
            s.parse::<Severity>()
                .map_err(|why| invalid("severity", &why))
        })
        .transpose()?;
    let unresolved = match query(req, "unresolved").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(invalid("unresolved", "`unresolved` is true or false")),
    };
    // `true`: the tenant's own events only; `false`: Herald's own only; absent: both.
    let tenant_scoped = match query(req, "tenant_scoped").as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(invalid("tenant_scoped", "`tenant_scoped` is true or false")),
    };
    let limit = page_limit(req)?;
    let before = query(req, "cursor")
        .map(|raw| {
            decode(&raw).ok_or_else(|| invalid("cursor", "`cursor` is not one this API gave"))
        })
        .transpose()?;
    let filter = Filter {
        severity: severity.map(Severity::as_str),
        unresolved,
        tenant_scoped,
        before,
    };
    // One more than asked: whether there is a next page, without a count.
    let items = system_events::list(client, principal.tenant_id, &filter, limit + 1).await?;
    Ok(json(StatusCode::OK, &Page::of(items, limit, encode)))
}

pub async fn resolve(
    client: &herald::db::Client,
    principal: &Principal,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound("system event"))?;
    let by = format!("API key {}…", principal.api_key_prefix);
    let resolved = system_events::resolve(client, principal.tenant_id, id, &by)
        .await?
        .ok_or(ApiError::NotFound("open system event"))?;
    tracing::info!(kind = %resolved.kind, "system event resolved");
    Ok(json(StatusCode::OK, &resolved))
}
