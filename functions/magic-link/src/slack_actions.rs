//! `POST /slack/actions`: Slack's interaction requests; `POST /slack/events`: its Events
//! API (the URL check, and tokens it revoked), signed the same way. The signature is checked over
//! the raw body before anything else (see [`herald::slack::SlackApp::interaction`]);
//! Slack needs a 200 within 3 s (the answer is one SQS message away), and shows the
//! person nothing from its body: what they see is their message rewritten by the Slack
//! dispatcher.

use herald::actions::Outcome;
use herald::slack::{Answered, EventAnswer, InteractionError};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use crate::Deps;

/// Larger bodies are not Slack's (413, unread).
const MAX_BODY_BYTES: usize = 256 * 1024;

/// The raw body (unparsed: the signature is over these bytes); `None` when it is too
/// large to be Slack's.
fn raw_body(req: &Request) -> Option<&[u8]> {
    let body: &[u8] = match req.body() {
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => b"",
    };
    (body.len() <= MAX_BODY_BYTES).then_some(body)
}

fn too_large() -> Response<Body> {
    reply(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "too large",
    )
}

fn header<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

pub async fn handle(deps: &Deps, req: &Request) -> Response<Body> {
    let Some(body) = raw_body(req) else {
        return too_large();
    };
    let (timestamp, signature) = (
        header(req, "x-slack-request-timestamp"),
        header(req, "x-slack-signature"),
    );
    let now = chrono::Utc::now().timestamp();
    let answer = match &deps.slack {
        None => Err(InteractionError::NotConfigured),
        Some(slack) => {
            slack
                .interaction(&deps.pool, timestamp, signature, body, now)
                .await
        }
    };
    match answer {
        Ok(Answered::Ignored) => reply(StatusCode::OK, "ignored", "not a Herald button"),
        Ok(Answered::Button(outcome)) => {
            if let Outcome::Applied { state, .. } = &outcome {
                deps.announce_answer(state.id).await;
            }
            let (outcome, message) = match &outcome {
                Outcome::Applied { action, who, .. } => {
                    ("applied", format!("{} by {who}", action.past_tense()))
                }
                Outcome::AlreadyDone(state) => {
                    ("already_done", format!("already {}", state.status.as_str()))
                }
                Outcome::Refused(why) => ("refused", (*why).to_owned()),
            };
            reply(StatusCode::OK, outcome, &message)
        }
        Err(e) => failed(&e, "Slack interaction failed"),
    }
}

/// `POST /slack/events`: Slack's URL check gets its challenge back; a revocation is
/// marked; anything else is 200 and ignored (Slack retries what is not 2xx).
pub async fn handle_event(deps: &Deps, req: &Request) -> Response<Body> {
    let Some(body) = raw_body(req) else {
        return too_large();
    };
    let (timestamp, signature) = (
        header(req, "x-slack-request-timestamp"),
        header(req, "x-slack-signature"),
    );
    let now = chrono::Utc::now().timestamp();
    let answer = match &deps.slack {
        None => Err(InteractionError::NotConfigured),
        Some(slack) => {
            slack
                .event(&deps.pool, timestamp, signature, body, now)
                .await
        }
    };
    match answer {
        Ok(EventAnswer::Challenge(challenge)) => Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/json")
            .body(Body::Text(json!({ "challenge": challenge }).to_string()))
            .expect("static headers"),
        Ok(EventAnswer::Marked(n)) => reply(
            StatusCode::OK,
            "marked",
            &format!("{n} credential(s) marked revoked"),
        ),
        Ok(EventAnswer::Ignored) => reply(StatusCode::OK, "ignored", "not an event Herald reads"),
        Err(e) => failed(&e, "Slack event failed"),
    }
}

/// An error's answer; a server error is logged (`what` says which route), a refusal
/// is the caller's.
fn failed(e: &InteractionError, what: &'static str) -> Response<Body> {
    let status = status_of(e);
    if status.is_server_error() {
        tracing::error!(error.message = %herald::telemetry::describe(e), "{what}");
    }
    reply(status, code_of(e), &e.to_string())
}

/// The one place this route's errors become statuses.
fn status_of(e: &InteractionError) -> StatusCode {
    match e {
        InteractionError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        InteractionError::Payload(_) => StatusCode::BAD_REQUEST,
        InteractionError::NotConfigured => StatusCode::NOT_FOUND,
        InteractionError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        InteractionError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn code_of(e: &InteractionError) -> &'static str {
    match e {
        InteractionError::Unauthorized(_) => "unauthorized",
        InteractionError::Payload(_) => "invalid_payload",
        InteractionError::NotConfigured => "not_configured",
        InteractionError::Unavailable(_) => "unavailable",
        InteractionError::Unexpected(_) => "internal",
    }
}

fn reply(status: StatusCode, outcome: &str, message: &str) -> Response<Body> {
    // 5xx say nothing about internals.
    let message = if status.is_server_error() {
        "try again"
    } else {
        message
    };
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(Body::Text(
            json!({ "outcome": outcome, "message": message }).to_string(),
        ))
        .expect("static headers")
}
