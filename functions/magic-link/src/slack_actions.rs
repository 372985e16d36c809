//! `POST /slack/actions`: Slack's interaction requests. The signature is checked over
//! the raw body before anything else (see [`herald::slack::SlackApp::interaction`]);
//! Slack needs a 200 within 3 s (the answer is one SQS message away), and shows the
//! person nothing from its body: what they see is their message rewritten by the Slack
//! dispatcher.

use herald::actions::Outcome;
use herald::slack::{Answered, InteractionError};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use crate::Deps;

/// Larger bodies are not Slack's (413, unread).
const MAX_BODY_BYTES: usize = 256 * 1024;

pub async fn handle(deps: &Deps, req: &Request) -> Response<Body> {
    let answer = match &deps.slack {
        None => Err(InteractionError::NotConfigured),
        Some(slack) => {
            let body: &[u8] = match req.body() {
                Body::Text(t) => t.as_bytes(),
                Body::Binary(b) => b,
                _ => b"",
            };
            if body.len() > MAX_BODY_BYTES {
                return reply(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "too large",
                );
            }
            let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
            slack
                .interaction(
                    &deps.pool,
                    header("x-slack-request-timestamp"),
                    header("x-slack-signature"),
                    body,
                    chrono::Utc::now().timestamp(),
                )
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
        Err(e) => {
            let status = status_of(&e);
            if status.is_server_error() {
                tracing::error!(error.message = %herald::telemetry::describe(&e), "Slack interaction failed");
            }
            reply(status, code_of(&e), &e.to_string())
        }
    }
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
