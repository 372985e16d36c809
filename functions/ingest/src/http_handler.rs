use herald::db::escalations::{self, Created, Transition};
use herald::db::tenants::{self, Principal};
use herald::db::{Actor, ActorKind};
use herald::domain::Action;
use herald::http::Caller;
use herald::{api_key, db};
use lambda_http::http::{Method, StatusCode, header};
use lambda_http::{Body, Error, Request, RequestExt, Response};
use serde::Serialize;
use uuid::Uuid;

use crate::Deps;
use crate::api::{EscalationCreated, EscalationView, TransitionView};
use crate::error::ApiError;
use crate::recipients::InboxRoute;
use herald::db::teams::WebhookOwner;

/// Largest request body accepted (413 above). The escalation `body` field itself is
/// limited to 64 KiB (400 above).
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;

enum Route {
    Create,
    Get(Uuid),
    Transition(Uuid, Action),
    /// The caller's id for a recipient, and what to do with their inbox.
    Inbox(String, InboxRoute),
    PutWebhook(WebhookOwner),
    DeleteWebhook(WebhookOwner),
}

/// A path segment, percent-decoded (recipient ids and team names are the caller's).
fn segment(raw: &str) -> Result<String, ApiError> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| ApiError::NoRoute)
}

/// Routes the API (see the README). Works with or without a stage or custom-domain
/// prefix in front of `/v1`.
fn route(method: &Method, path: &str) -> Result<Route, ApiError> {
    let path = path.find("/v1/").map_or(path, |i| &path[i..]);
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let id = |s: &str| Uuid::parse_str(s).map_err(|_| ApiError::NotFound("escalation"));
    let nid = |s: &str| Uuid::parse_str(s).map_err(|_| ApiError::NotFound("notification"));
    match (segments.as_slice(), method) {
        (["v1", "recipients", r, "notifications"], &Method::GET) => {
            Ok(Route::Inbox(segment(r)?, InboxRoute::List))
        }
        (["v1", "recipients", r, "notifications", "unread-count"], &Method::GET) => {
            Ok(Route::Inbox(segment(r)?, InboxRoute::UnreadCount))
        }
        (["v1", "recipients", r, "notifications", "read-all"], &Method::POST) => {
            Ok(Route::Inbox(segment(r)?, InboxRoute::ReadAll))
        }
        (["v1", "recipients", r, "notifications", n, "read"], &Method::POST) => {
            Ok(Route::Inbox(segment(r)?, InboxRoute::Read(nid(n)?)))
        }
        (["v1", "recipients", r, "notifications", n], &Method::DELETE) => {
            Ok(Route::Inbox(segment(r)?, InboxRoute::Delete(nid(n)?)))
        }
        (["v1", "recipients", _, "notifications"], _)
        | (["v1", "recipients", _, "notifications", "unread-count"], _) => {
            Err(ApiError::MethodNotAllowed("GET"))
        }
        (["v1", "recipients", _, "notifications", "read-all"], _)
        | (["v1", "recipients", _, "notifications", _, "read"], _) => {
            Err(ApiError::MethodNotAllowed("POST"))
        }
        (["v1", "recipients", _, "notifications", _], _) => {
            Err(ApiError::MethodNotAllowed("DELETE"))
        }
        (
            [
                "v1",
                kind @ ("recipients" | "teams"),
                owner,
                "teams-webhook",
            ],
            m,
        ) => {
            let owner = if *kind == "recipients" {
                WebhookOwner::Recipient(segment(owner)?)
            } else {
                WebhookOwner::Team(segment(owner)?)
            };
            match *m {
                Method::PUT => Ok(Route::PutWebhook(owner)),
                Method::DELETE => Ok(Route::DeleteWebhook(owner)),
                _ => Err(ApiError::MethodNotAllowed("PUT, DELETE")),
            }
        }
        (["v1", "escalations"], &Method::POST) => Ok(Route::Create),
        (["v1", "escalations"], _) => Err(ApiError::MethodNotAllowed("POST")),
        (["v1", "escalations", raw], &Method::GET) => Ok(Route::Get(id(raw)?)),
        (["v1", "escalations", _], _) => Err(ApiError::MethodNotAllowed("GET")),
        (
            [
                "v1",
                "escalations",
                raw,
                action @ ("acknowledge" | "resolve"),
            ],
            &Method::POST,
        ) => {
            let action = if *action == "acknowledge" {
                Action::Acknowledge
            } else {
                Action::Resolve
            };
            Ok(Route::Transition(id(raw)?, action))
        }
        (["v1", "escalations", _, "acknowledge" | "resolve"], _) => {
            Err(ApiError::MethodNotAllowed("POST"))
        }
        _ => Err(ApiError::NoRoute),
    }
}

#[tracing::instrument(name = "ingest request", skip_all, fields(method = %req.method(), request_id))]
pub async fn function_handler(deps: &Deps, req: Request) -> Result<Response<Body>, Error> {
    let caller = herald::http::caller(&req);
    tracing::Span::current().record("request_id", caller.request_id.as_str());
    let response = match handle(deps, &req, &caller).await {
        Ok(response) => response,
        Err(e) => e.into_response(&caller.request_id),
    };
    tracing::info!(status = response.status().as_u16(), "answered");
    Ok(response)
}

async fn handle(deps: &Deps, req: &Request, caller: &Caller) -> Result<Response<Body>, ApiError> {
    let route = route(req.method(), req.raw_http_path())?;
    // A missing or malformed key is refused before any database work.
    let key_hash = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(api_key::from_authorization)
        .map(api_key::hash)
        .ok_or(ApiError::Unauthorized)?;
    let client = deps
        .pool
        .get()
        .await
        .map_err(|e| ApiError::Unavailable(e.into()))?;
    let principal = authenticate(deps, &client, key_hash).await?;
    match route {
        Route::Create => create(deps, &client, &principal, req, caller).await,
        Route::Get(id) => {
            let detail = escalations::detail(&client, principal.tenant_id, id)
                .await?
                .ok_or(ApiError::NotFound("escalation"))?;
            Ok(json(StatusCode::OK, &EscalationView::from(&detail)))
        }
        Route::Transition(id, action) => transition(client, &principal, caller, id, action).await,
        Route::Inbox(recipient, what) => {
            crate::recipients::inbox(&client, &principal, req, &recipient, what).await
        }
        Route::PutWebhook(owner) => {
            crate::recipients::put_webhook(deps, &client, &principal, req, &owner).await
        }
        Route::DeleteWebhook(owner) => {
            crate::recipients::delete_webhook(&client, &principal, &owner).await
        }
    }
}

async fn authenticate(
    deps: &Deps,
    client: &db::Client,
    hash: [u8; 32],
) -> Result<Principal, ApiError> {
    if let Some(principal) = deps.keys.get(&hash) {
        return Ok(principal);
    }
    let principal = tenants::authenticate(client, &hash)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    deps.keys.insert(hash, principal.clone());
    Ok(principal)
}

async fn create(
    deps: &Deps,
    client: &db::Client,
    principal: &Principal,
    req: &Request,
    caller: &Caller,
) -> Result<Response<Body>, ApiError> {
    let body = json_body(req)?;
    let actor = api_actor(principal, caller);
    let created = herald::ingest::create_escalation(
        client,
        &deps.queues,
        &deps.enabled,
        principal.tenant_id,
        body,
        &actor,
        &caller.request_id,
    )
    .await?;
    match created {
        Created::New(summary) => {
            let mut response = json(StatusCode::ACCEPTED, &EscalationCreated::from(&summary));
            if let Ok(location) = format!("/v1/escalations/{}", summary.id).parse() {
                response.headers_mut().insert(header::LOCATION, location);
            }
            Ok(response)
        }
        Created::Duplicate(summary) => Ok(json(StatusCode::OK, &EscalationCreated::from(&summary))),
    }
}

async fn transition(
    mut client: db::Client,
    principal: &Principal,
    caller: &Caller,
    id: Uuid,
    action: Action,
) -> Result<Response<Body>, ApiError> {
    let actor = api_actor(principal, caller);
    let outcome =
        herald::actions::apply(&mut client, principal.tenant_id, id, action, &actor).await?;
    match outcome {
        Transition::Applied(state) => Ok(json(StatusCode::OK, &TransitionView::new(&state, true))),
        Transition::AlreadyDone(state) => {
            Ok(json(StatusCode::OK, &TransitionView::new(&state, false)))
        }
        Transition::NotFound => Err(ApiError::NotFound("escalation")),
    }
}

/// The JSON body, after the size and media-type checks.
pub(crate) fn json_body(req: &Request) -> Result<&[u8], ApiError> {
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

fn api_actor(principal: &Principal, caller: &Caller) -> Actor {
    Actor {
        kind: ActorKind::ApiKey,
        id: principal.api_key_id.to_string(),
        display: format!("API key {}…", principal.api_key_prefix),
        recipient_id: None,
        ip: caller.ip,
        user_agent: caller.user_agent.clone(),
    }
}

pub(crate) fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::Text(
            serde_json::to_string(value).expect("API views serialize"),
        ))
        .expect("valid static headers")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_with_and_without_a_stage_prefix() {
        assert!(matches!(
            route(&Method::POST, "/v1/escalations"),
            Ok(Route::Create)
        ));
        assert!(matches!(
            route(&Method::POST, "/prod/v1/escalations/"),
            Ok(Route::Create)
        ));
        let id = Uuid::new_v4();
        assert!(
            matches!(route(&Method::GET, &format!("/v1/escalations/{id}")), Ok(Route::Get(x)) if x == id)
        );
        assert!(matches!(
            route(&Method::POST, &format!("/v1/escalations/{id}/resolve")),
            Ok(Route::Transition(x, Action::Resolve)) if x == id
        ));
    }

    #[test]
    fn malformed_ids_are_not_found() {
        assert!(matches!(
            route(&Method::GET, "/v1/escalations/123"),
            Err(ApiError::NotFound("escalation"))
        ));
    }

    #[test]
    fn recipient_routes_decode_their_ids() {
        let n = Uuid::new_v4();
        assert!(matches!(
            route(&Method::GET, "/v1/recipients/u%20alice/notifications"),
            Ok(Route::Inbox(r, InboxRoute::List)) if r == "u alice"
        ));
        assert!(matches!(
            route(&Method::POST, &format!("/v1/recipients/u1/notifications/{n}/read")),
            Ok(Route::Inbox(_, InboxRoute::Read(x))) if x == n
        ));
        assert!(matches!(
            route(&Method::DELETE, &format!("/v1/recipients/u1/notifications/{n}")),
            Ok(Route::Inbox(_, InboxRoute::Delete(x))) if x == n
        ));
        assert!(matches!(
            route(&Method::PUT, "/v1/teams/platform/teams-webhook"),
            Ok(Route::PutWebhook(WebhookOwner::Team(t))) if t == "platform"
        ));
        assert!(matches!(
            route(&Method::GET, "/v1/recipients/u1/teams-webhook"),
            Err(ApiError::MethodNotAllowed(_))
        ));
    }

    #[test]
    fn wrong_methods_are_405() {
        assert!(matches!(
            route(&Method::GET, "/v1/escalations"),
            Err(ApiError::MethodNotAllowed("POST"))
        ));
        assert!(matches!(
            route(&Method::DELETE, "/nope"),
            Err(ApiError::NoRoute)
        ));
    }
}
