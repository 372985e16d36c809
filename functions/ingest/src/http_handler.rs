use herald::db::escalations::{self, Created, Transition};
use herald::db::tenants::Principal;
use herald::db::{self, Actor, ActorKind};
use herald::domain::Action;
use herald::http::{ApiError, Caller, api_segments, json, json_body};
use lambda_http::http::{Method, StatusCode, header};
use lambda_http::{Body, Error, Request, RequestExt, Response};
use uuid::Uuid;

use crate::Deps;
use crate::api::{EscalationCreated, EscalationView, TransitionView};

enum Route {
    /// The API's OpenAPI document (no API key needed).
    Document,
    Create,
    Get(Uuid),
    /// The escalation's audit log, in order, with who did what.
    Timeline(Uuid),
    Transition(Uuid, Action),
}

/// Routes the API (see the README). Works with or without a stage or custom-domain
/// prefix in front of `/v1`. The recipients' routes belong to the `recipients` function.
fn route(method: &Method, path: &str) -> Result<Route, ApiError> {
    let segments = api_segments(path);
    let id = |s: &str| Uuid::parse_str(s).map_err(|_| ApiError::NotFound("escalation"));
    match (segments.as_slice(), method) {
        (["v1", "openapi.json"], &Method::GET) => Ok(Route::Document),
        (["v1", "openapi.json"], _) => Err(ApiError::MethodNotAllowed("GET")),
        (["v1", "escalations"], &Method::POST) => Ok(Route::Create),
        (["v1", "escalations"], _) => Err(ApiError::MethodNotAllowed("POST")),
        (["v1", "escalations", raw], &Method::GET) => Ok(Route::Get(id(raw)?)),
        (["v1", "escalations", _], _) => Err(ApiError::MethodNotAllowed("GET")),
        (["v1", "escalations", raw, "timeline"], &Method::GET) => Ok(Route::Timeline(id(raw)?)),
        (["v1", "escalations", _, "timeline"], _) => Err(ApiError::MethodNotAllowed("GET")),
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
    Ok(herald::http::answer(&req, async |caller| handle(deps, &req, caller).await).await)
}

async fn handle(deps: &Deps, req: &Request, caller: &Caller) -> Result<Response<Body>, ApiError> {
    let route = route(req.method(), req.raw_http_path())?;
    if let Route::Document = route {
        return Ok(document());
    }
    let (client, principal) = herald::http::authenticated(&deps.pool, &deps.keys, req).await?;
    match route {
        Route::Create => create(deps, &client, &principal, req, caller).await,
        Route::Get(id) => {
            let detail = escalations::detail(&client, principal.tenant_id, id)
                .await?
                .ok_or(ApiError::NotFound("escalation"))?;
            Ok(json(StatusCode::OK, &EscalationView::from(&detail)))
        }
        Route::Transition(id, action) => {
            transition(deps, client, &principal, caller, id, action).await
        }
        Route::Timeline(id) => timeline(&client, &principal, req, id).await,
        Route::Document => Ok(document()),
    }
}

/// The API's OpenAPI document, as checked in (`herald-local openapi --write` makes it
/// from the code; a test fails when the two disagree).
pub const OPENAPI_JSON: &str = include_str!("../../../shared/openapi.json");

fn document() -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "public, max-age=300")
        .body(Body::Text(OPENAPI_JSON.to_owned()))
        .expect("static headers")
}

/// Entries per timeline page unless `?limit=` says otherwise (at most [`MAX_TIMELINE`]).
const DEFAULT_TIMELINE: i64 = 200;
const MAX_TIMELINE: i64 = 1000;

async fn timeline(
    client: &db::Client,
    principal: &Principal,
    req: &Request,
    id: Uuid,
) -> Result<Response<Body>, ApiError> {
    let query = req.query_string_parameters_ref();
    let number = |name: &str, range: std::ops::RangeInclusive<i64>, default: i64| match query
        .and_then(|q| q.first(name))
    {
        None => Ok(default),
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| {
                ApiError::Validation(herald::domain::FieldError::new(
                    "invalid",
                    name,
                    format!(
                        "`{name}` is a number from {} to {}",
                        range.start(),
                        range.end()
                    ),
                ))
            }),
    };
    let limit = number("limit", 1..=MAX_TIMELINE, DEFAULT_TIMELINE)?;
    let after = number("after", 0..=i64::MAX, 0)?;
    // One more than asked: whether there is a next page, without a count.
    let mut events =
        escalations::timeline(client, principal.tenant_id, id, after, limit + 1).await?;
    if events.is_empty() && after == 0 {
        return Err(ApiError::NotFound("escalation"));
    }
    let next_after = if events.len() as i64 > limit {
        events.truncate(limit as usize);
        events.last().map(|e| e.seq)
    } else {
        None
    };
    Ok(json(
        StatusCode::OK,
        &crate::api::TimelineView {
            escalation_id: id,
            events,
            next_after,
        },
    ))
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
        &deps.channels,
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
    deps: &Deps,
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
        Transition::Applied(state) => {
            // The Slack dispatcher rewrites the escalation's Slack messages.
            drop(client);
            deps.queues.announce_answer(state.id).await;
            Ok(json(StatusCode::OK, &TransitionView::new(&state, true)))
        }
        Transition::AlreadyDone(state) => {
            Ok(json(StatusCode::OK, &TransitionView::new(&state, false)))
        }
        Transition::NotFound => Err(ApiError::NotFound("escalation")),
    }
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
