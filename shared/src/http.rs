//! What the HTTP functions need to know about the caller of an API Gateway HTTP API
//! (payload v2) request.

use std::net::IpAddr;

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

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
