//! What the HTTP functions share: who the caller of an API Gateway HTTP API (payload v2)
//! request is, the API's error type and its mapping to HTTP, API-key authentication,
//! and the JSON request/response plumbing.

mod error;
pub mod openapi;

use std::net::IpAddr;

use lambda_http::http::{StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

pub use error::{ApiError, ErrorBody, ErrorDetail};

use crate::api_key::{self, KeyCache};
use crate::db::tenants::{self, Principal};

/// Who is calling, as API Gateway saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub ip: Option<IpAddr>,
    /// At most 512 characters: it is stored in `event_log`.
    pub user_agent: Option<String>,
    /// API Gateway's request id (a fresh one when there is none), to tie answers to logs.
    pub request_id: String,
}

pub fn caller(req: &Request) -> Caller {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => Caller {
            ip: ctx.http.source_ip.as_deref().and_then(|ip| ip.parse().ok()),
            user_agent: ctx
                .http
                .user_agent
                .as_ref()
                .map(|ua| ua.chars().take(512).collect()),
            request_id: ctx
                .request_id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        },
        _ => Caller {
            ip: None,
            user_agent: None,
            request_id: uuid::Uuid::new_v4().to_string(),
        },
    }
}

/// Largest request body accepted (413 above). The escalation `body` field itself is
/// limited to 64 KiB (400 above).
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// Answers `req` with what `handle` decides, errors turned into their JSON answer in the
/// one place ([`ApiError::into_response`]), the caller's request id on the current span
/// and one `answered` line per request. Every HTTP API function's handler is this.
pub async fn answer(
    req: &Request,
    handle: impl AsyncFnOnce(&Caller) -> Result<Response<Body>, ApiError>,
) -> Response<Body> {
    let caller = caller(req);
    tracing::Span::current().record("request_id", caller.request_id.as_str());
    let response = match handle(&caller).await {
        Ok(response) => response,
        Err(e) => e.into_response(&caller.request_id),
    };
    tracing::info!(status = response.status().as_u16(), "answered");
    crate::metrics::response(response.status().as_u16());
    response
}

/// A database connection and the tenant behind the request's key: the key is checked
/// for shape before a connection is taken, then looked up (or found in `keys`).
pub async fn authenticated(
    pool: &crate::db::Pool,
    keys: &KeyCache<Principal>,
    req: &Request,
) -> Result<(crate::db::Client, Principal), ApiError> {
    let hash = key_hash(req)?;
    let client = pool
        .get()
        .await
        .map_err(|e| ApiError::Unavailable(e.into()))?;
    let principal = authenticate(keys, &client, hash).await?;
    Ok((client, principal))
}

/// The SHA-256 of the request's `Authorization: Bearer` key: a missing or malformed key
/// is refused here, before any database work.
fn key_hash(req: &Request) -> Result<[u8; 32], ApiError> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(api_key::from_authorization)
        .map(api_key::hash)
        .ok_or(ApiError::Unauthorized)
}

/// The tenant whose key hashes to `hash`. A key verified recently on this instance is
/// not looked up again (see [`KeyCache`]).
async fn authenticate(
    keys: &KeyCache<Principal>,
    client: &crate::db::Client,
    hash: [u8; 32],
) -> Result<Principal, ApiError> {
    if let Some(principal) = keys.get(&hash) {
        return Ok(principal);
    }
    let principal = tenants::authenticate(client, &hash)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    keys.insert(hash, principal.clone());
    Ok(principal)
}

/// A path segment, percent-decoded (recipient ids and team names are the caller's).
pub fn segment(raw: &str) -> Result<String, ApiError> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| ApiError::NoRoute)
}

/// The path from `/v1/` on: routes work with or without a stage or custom-domain prefix.
pub fn api_segments(path: &str) -> Vec<&str> {
    let path = path.find("/v1/").map_or(path, |i| &path[i..]);
    path.trim_matches('/').split('/').collect()
}

/// The JSON body, after the size and media-type checks.
pub fn json_body(req: &Request) -> Result<&[u8], ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence != "application/json"
        && !(essence.starts_with("application/") && essence.ends_with("+json"))
    {
        return Err(ApiError::UnsupportedMediaType);
    }
    let body: &[u8] = match req.body() {
        Body::Empty => b"",
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => b"",
    };
    if body.len() > MAX_REQUEST_BYTES {
        return Err(ApiError::PayloadTooLarge(MAX_REQUEST_BYTES));
    }
    Ok(body)
}

/// A JSON answer, never cached.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::Text(
            serde_json::to_string(value).expect("API views serialize"),
        ))
        .expect("valid static headers")
}

/// 204, never cached.
pub fn no_content() -> Response<Body> {
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::Empty)
        .expect("static response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_segments_skip_a_stage_prefix() {
        assert_eq!(api_segments("/v1/escalations"), ["v1", "escalations"]);
        assert_eq!(api_segments("/prod/v1/escalations/"), ["v1", "escalations"]);
    }

    #[test]
    fn segments_are_percent_decoded() {
        assert_eq!(segment("u%20alice").ok().as_deref(), Some("u alice"));
        assert!(matches!(segment("%FF"), Err(ApiError::NoRoute)));
    }
}
