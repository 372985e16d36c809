//! The HTML pages, and the headers that keep them private.

use std::sync::LazyLock;

use askama::Template;
use base64::Engine;
use chrono::{DateTime, Utc};
use herald::db::escalations::{EscalationState, Stamp};
use herald::domain::Action;
use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Response};
use sha2::{Digest, Sha256};

const STYLE: &str = "body{margin:0;padding:32px 16px;background:#f3f4f6;font:16px/1.5 -apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#111827}\
main{max-width:520px;margin:0 auto;background:#fff;border-radius:8px;padding:24px}\
h1{font-size:22px;margin:0 0 12px}.meta{color:#6b7280;font-size:14px}\
button{font:inherit;font-weight:600;padding:12px 24px;border:0;border-radius:6px;background:#111827;color:#fff;cursor:pointer}";

/// `style-src` allows exactly our one inline stylesheet, by hash; nothing else runs.
static CSP: LazyLock<String> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'"
    )
});

#[derive(Template)]
#[template(path = "page.html")]
pub struct Page {
    pub status: StatusCode,
    pub heading: String,
    pub message: String,
    pub escalation: Option<EscalationSummary>,
    /// The confirmation button, on the GET page only.
    pub button: Option<&'static str>,
    style: &'static str,
}

pub struct EscalationSummary {
    pub title: String,
    pub priority: &'static str,
    pub service: Option<String>,
    pub status: &'static str,
}

impl From<&EscalationState> for EscalationSummary {
    fn from(e: &EscalationState) -> Self {
        Self {
            title: e.title.clone(),
            priority: e.priority.label(),
            service: e.service.clone(),
            status: e.status.as_str(),
        }
    }
}

fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn by_whom(stamp: &Stamp) -> String {
    match &stamp.by {
        Some(by) => format!("by {by} at {}", when(stamp.at)),
        None => format!("at {}", when(stamp.at)),
    }
}

impl Page {
    fn new(status: StatusCode, heading: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            heading: heading.into(),
            message: message.into(),
            escalation: None,
            button: None,
            style: STYLE,
        }
    }

    fn about(mut self, e: &EscalationState) -> Self {
        self.escalation = Some(e.into());
        self
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Link not found",
            "This link is not valid. Check that it was copied completely.",
        )
    }

    pub fn confirm(action: Action, e: &EscalationState) -> Self {
        let (heading, button) = match action {
            Action::Acknowledge => ("Acknowledge this escalation?", "Acknowledge"),
            Action::Resolve => ("Resolve this escalation?", "Resolve"),
        };
        let mut page = Self::new(
            StatusCode::OK,
            heading,
            "Nothing changes until you press the button. The link works once.",
        )
        .about(e);
        page.button = Some(button);
        page
    }

    pub fn done(action: Action, e: &EscalationState, who: &str) -> Self {
        let message = match action {
            Action::Acknowledge => {
                format!("Acknowledged by {who}. Further notifications for it are stopped.")
            }
            Action::Resolve => {
                format!("Resolved by {who}. Further notifications for it are stopped.")
            }
        };
        Self::new(
            StatusCode::OK,
            format!("{} ✓", capitalise(action.past_tense())),
            message,
        )
        .about(e)
    }

    pub fn used(at: DateTime<Utc>, e: &EscalationState) -> Self {
        Self::new(
            StatusCode::GONE,
            "This link was already used",
            format!("It was used at {}. {}", when(at), state_sentence(e)),
        )
        .about(e)
    }

    pub fn expired(at: DateTime<Utc>, e: &EscalationState) -> Self {
        Self::new(
            StatusCode::GONE,
            "This link has expired",
            format!("It expired at {}. {}", when(at), state_sentence(e)),
        )
        .about(e)
    }

    /// The escalation is already past what this link does.
    pub fn moot(e: &EscalationState) -> Self {
        Self::new(StatusCode::GONE, "Nothing left to do", state_sentence(e)).about(e)
    }

    pub fn error() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "We could not complete this. Reload the page to see where the escalation stands.",
        )
    }

    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Please try again",
            "We could not reach our database just now. Nothing was changed: the link still works, try again in a moment.",
        )
    }

    pub fn into_response(self) -> Response<Body> {
        let status = self.status;
        let html = self
            .render()
            .unwrap_or_else(|_| "<!DOCTYPE html><title>Error</title>".to_owned());
        let mut builder = Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
            .header(header::CACHE_CONTROL, "no-store")
            .header(header::REFERRER_POLICY, "no-referrer")
            .header(header::CONTENT_SECURITY_POLICY, CSP.as_str())
            .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
            .header(header::X_FRAME_OPTIONS, "DENY")
            .header(header::STRICT_TRANSPORT_SECURITY, "max-age=63072000")
            .header("x-robots-tag", "noindex, nofollow");
        if status == StatusCode::SERVICE_UNAVAILABLE {
            builder = builder.header(header::RETRY_AFTER, "2");
        }
        builder
            .body(Body::Text(html))
            .expect("valid static headers")
    }
}

fn state_sentence(e: &EscalationState) -> String {
    match (&e.resolved, &e.acknowledged) {
        (Some(r), _) => format!("The escalation was resolved {}.", by_whom(r)),
        (None, Some(a)) => format!("The escalation was acknowledged {}.", by_whom(a)),
        _ => "The escalation is still open.".to_owned(),
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp_hash_matches_the_inline_style() {
        let page = Page::not_found().into_response();
        let csp = page.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("ascii");
        let expected =
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
        assert!(csp.contains(&expected));
        let Body::Text(html) = page.body() else {
            panic!("text body")
        };
        assert!(html.contains(&format!("<style>{STYLE}</style>")));
    }

    #[test]
    fn pages_are_private() {
        let page = Page::not_found().into_response();
        assert_eq!(page.status(), StatusCode::NOT_FOUND);
        assert_eq!(page.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(page.headers()[header::REFERRER_POLICY], "no-referrer");
    }
}
