//! The HTTP API's error type and its one mapping to HTTP, for every function behind
//! the API (ingest, recipients).

use crate::domain::FieldError;
use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Response};

#[derive(thiserror::Error)]
pub enum ApiError {
    #[error("{}", .0.message)]
    Validation(FieldError),
    #[error("missing or unknown API key")]
    Unauthorized,
    /// The thing asked for does not exist in the caller's tenant.
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("no such route")]
    NoRoute,
    #[error("method not allowed")]
    MethodNotAllowed(&'static str),
    #[error("the request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// The request conflicts with what another tenant holds (a Slack workspace).
    #[error("{0}")]
    Conflict(String),
    /// A field's value is another record's (a Slack id another person connected).
    #[error("{}", .0.message)]
    FieldConflict(FieldError),
    /// A provider Herald called on the caller's behalf failed (Slack's OAuth exchange).
    #[error("{0}")]
    Upstream(String),
    /// The database could not be reached in time; the caller should retry.
    #[error("the store is unavailable, retry shortly")]
    Unavailable(#[source] anyhow::Error),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// The error and its causes, with database details redacted (see
/// [`crate::telemetry::describe`]).
impl std::fmt::Debug for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::telemetry::describe(self))
    }
}

impl From<crate::ingest::IngestError> for ApiError {
    fn from(e: crate::ingest::IngestError) -> Self {
        match e {
            crate::ingest::IngestError::Invalid(field) => ApiError::Validation(field),
            crate::ingest::IngestError::Unexpected(e) => ApiError::Unexpected(e),
        }
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) | ApiError::NoRoute => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Conflict(_) | ApiError::FieldConflict(_) => StatusCode::CONFLICT,
            ApiError::Upstream(_) => StatusCode::BAD_GATEWAY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::Validation(e) | ApiError::FieldConflict(e) => e.code,
            ApiError::Unauthorized => "unauthorized",
            ApiError::NotFound(_) => "not_found",
            ApiError::NoRoute => "no_route",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::Conflict(_) => "conflict",
            ApiError::Upstream(_) => "upstream_failed",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Unexpected(_) => "internal",
        }
    }

    /// The one place errors become responses. 5xx bodies say nothing about internals;
    /// the request id ties them to the logs.
    pub fn into_response(self, request_id: &str) -> Response<Body> {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error.message = ?self, request_id, "request failed");
        }
        let field = match &self {
            ApiError::Validation(e) | ApiError::FieldConflict(e) => Some(e.field.clone()),
            _ => None,
        };
        let message = match &self {
            ApiError::Unexpected(_) => "internal error".to_owned(),
            other => other.to_string(),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                field,
                message,
                request_id,
            },
        };
        let mut builder = Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CACHE_CONTROL, "no-store");
        match &self {
            ApiError::Unauthorized => builder = builder.header(header::WWW_AUTHENTICATE, "Bearer"),
            ApiError::MethodNotAllowed(allow) => builder = builder.header(header::ALLOW, *allow),
            ApiError::Unavailable(_) => builder = builder.header(header::RETRY_AFTER, "1"),
            _ => {}
        }
        builder
            .body(Body::Text(
                serde_json::to_string(&body).expect("an error body serializes"),
            ))
            .expect("a static set of valid headers")
    }
}

/// Every error answer's body.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    pub error: ErrorDetail<'a>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail<'a> {
    /// What went wrong, for programs: `invalid`, `required`, `unknown_field`,
    /// `invalid_type`, `invalid_json`, `unauthorized`, `not_found`, `no_route`,
    /// `method_not_allowed`, `conflict`, `unavailable`, `internal`...
    pub code: &'static str,
    /// The request's field at fault (a JSON path such as `recipients[0].email`, or a
    /// query or path parameter's name); null when the error is not about one field.
    pub field: Option<String>,
    /// What went wrong, for people.
    pub message: String,
    /// Ties the answer to Herald's logs.
    pub request_id: &'a str,
}

impl From<crate::slack::InstallError> for ApiError {
    fn from(e: crate::slack::InstallError) -> Self {
        use crate::slack::InstallError as E;
        match e {
            E::NotConfigured => ApiError::NotFound("Slack app (set HERALD_SLACK_CLIENT_ID)"),
            E::State(_) => {
                ApiError::Validation(FieldError::new("invalid_state", "state", e.to_string()))
            }
            E::Denied(_) => {
                ApiError::Validation(FieldError::new("slack_denied", "code", e.to_string()))
            }
            E::BadAnswer(_) | E::Upstream(_) => ApiError::Upstream(e.to_string()),
            E::Conflict(_) => ApiError::Conflict(e.to_string()),
            E::Unexpected(e) => ApiError::Unexpected(e),
        }
    }
}

impl From<crate::teams_identity::ConnectError> for ApiError {
    fn from(e: crate::teams_identity::ConnectError) -> Self {
        use crate::teams_identity::ConnectError as E;
        match e {
            E::NotConfigured => {
                ApiError::NotFound("Teams sign-in app (set HERALD_TEAMS_CLIENT_ID)")
            }
            E::State(_) => {
                ApiError::Validation(FieldError::new("invalid_state", "state", e.to_string()))
            }
            E::Denied(_) => {
                ApiError::Validation(FieldError::new("microsoft_denied", "code", e.to_string()))
            }
            E::BadAnswer(_) | E::Upstream(_) => ApiError::Upstream(e.to_string()),
            E::Conflict(_) => ApiError::Conflict(e.to_string()),
            E::Unexpected(e) => ApiError::Unexpected(e),
        }
    }
}
