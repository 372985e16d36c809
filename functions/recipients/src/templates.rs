//! The tenant's message templates: `GET /v1/templates`, and `GET` / `PUT` / `DELETE` of
//! `/v1/templates/{channel}` (email, sms, push, voice). Thin handlers over
//! `herald::db::templates`; the rules (fields per channel, variables, the SMS segment
//! budget) are in `herald::domain::template`.

use chrono::{DateTime, Utc};
use herald::db::templates::{self, Stored};
use herald::db::tenants::Principal;
use herald::domain::template::{Fields, TEMPLATED, Template, VARIABLES};
use herald::domain::{Channel, FieldError, parse_json};
use herald::http::{ApiError, json, json_body, no_content};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TemplateView<'a> {
    #[schema(value_type = herald::domain::Channel)]
    channel: &'static str,
    /// Email: the subject. Push: the title.
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a str>,
    text: &'a str,
    /// Email: the HTML part.
    #[serde(skip_serializing_if = "Option::is_none")]
    html: Option<&'a str>,
    updated_at: DateTime<Utc>,
    updated_by: &'a str,
}

impl<'a> TemplateView<'a> {
    fn new(s: &'a Stored) -> Self {
        Self {
            channel: s.channel.as_str(),
            subject: s.fields.subject.as_deref(),
            text: &s.fields.text,
            html: s.fields.html.as_deref(),
            updated_at: s.updated_at,
            updated_by: &s.updated_by,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Variable {
    name: &'static str,
    description: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TemplatesView<'a> {
    items: Vec<TemplateView<'a>>,
    /// What a template may use: the same list for every channel.
    variables: Vec<Variable>,
}

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::Validation(FieldError::new("invalid", field, message))
}

fn channel(raw: &str) -> Result<Channel, ApiError> {
    raw.parse::<Channel>()
        .ok()
        .filter(|c| TEMPLATED.contains(c))
        .ok_or_else(|| invalid("channel", "`channel` is one of email, sms, push, voice"))
}

pub async fn list(
    client: &herald::db::Client,
    principal: &Principal,
) -> Result<Response<Body>, ApiError> {
    let found = templates::list(client, principal.tenant_id).await?;
    Ok(json(
        StatusCode::OK,
        &TemplatesView {
            items: found.iter().map(TemplateView::new).collect(),
            variables: VARIABLES
                .iter()
                .map(|(name, description)| Variable { name, description })
                .collect(),
        },
    ))
}

pub async fn get(
    client: &herald::db::Client,
    principal: &Principal,
    raw_channel: &str,
) -> Result<Response<Body>, ApiError> {
    let channel = channel(raw_channel)?;
    let found = templates::get(client, principal.tenant_id, channel)
        .await?
        .ok_or(ApiError::NotFound("template"))?;
    Ok(json(StatusCode::OK, &TemplateView::new(&found)))
}

/// Checks and stores (or replaces) the template: 400 naming the field (and the unknown
/// variable, or the segments an SMS takes) when it is not one Herald can send.
pub async fn put(
    client: &herald::db::Client,
    principal: &Principal,
    req: &Request,
    raw_channel: &str,
) -> Result<Response<Body>, ApiError> {
    let channel = channel(raw_channel)?;
    let fields: Fields = parse_json(json_body(req)?).map_err(ApiError::Validation)?;
    let template = Template::parse(channel, fields).map_err(|e| invalid(e.field, e.message))?;
    let by = format!("API key {}…", principal.api_key_prefix);
    let stored = templates::put(client, principal.tenant_id, &template, &by).await?;
    tracing::info!(%channel, "template stored");
    Ok(json(StatusCode::OK, &TemplateView::new(&stored)))
}

/// Back to Herald's default message for the channel.
pub async fn delete(
    client: &herald::db::Client,
    principal: &Principal,
    raw_channel: &str,
) -> Result<Response<Body>, ApiError> {
    let channel = channel(raw_channel)?;
    if !templates::delete(client, principal.tenant_id, channel).await? {
        return Err(ApiError::NotFound("template"));
    }
    tracing::info!(%channel, "template removed");
    Ok(no_content())
}
