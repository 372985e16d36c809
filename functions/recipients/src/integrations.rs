//! A tenant's connections: its Slack installation ("Add to Slack", OAuth v2) and its
//! Teams webhooks, listed without a secret, and the Slack installation removed.

use chrono::{DateTime, Utc};
use herald::db::slack::{self, InstallationInfo};
use herald::db::teams::{self, WebhookOwner};
use herald::db::tenants::Principal;
use herald::domain::FieldError;
use herald::http::{ApiError, json, no_content};
use herald::slack::InstallError;
use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde_json::json as value;

use crate::Deps;
use crate::handlers::WebhookView;

#[derive(Debug, Serialize)]
struct SlackView {
    slack_team_id: String,
    bot_user_id: Option<String>,
    /// The id of the key the bot token is sealed with (the token itself is never shown).
    key_id: Option<String>,
    installed_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// `connected`, or `revoked` once Slack refused the bot token: install again.
    status: &'static str,
    revoked_at: Option<DateTime<Utc>>,
    revoked_reason: Option<String>,
}

impl From<InstallationInfo> for SlackView {
    fn from(i: InstallationInfo) -> Self {
        Self {
            slack_team_id: i.slack_team_id,
            bot_user_id: i.bot_user_id,
            key_id: i.key_id,
            installed_at: i.installed_at,
            updated_at: i.updated_at,
            status: if i.revoked_at.is_some() {
                "revoked"
            } else {
                "connected"
            },
            revoked_at: i.revoked_at,
            revoked_reason: i.revoked_reason,
        }
    }
}

/// `GET /v1/integrations`: what the tenant has connected, no secret in it.
pub async fn list(
    client: &herald::db::Client,
    principal: &Principal,
) -> Result<Response<Body>, ApiError> {
    let installation = slack::installation(client, principal.tenant_id).await?;
    let webhooks: Vec<WebhookView> = teams::list(client, principal.tenant_id)
        .await?
        .into_iter()
        .map(|w| {
            let (recipient_id, team) = match w.owner {
                WebhookOwner::Recipient(r) => (Some(r), None),
                WebhookOwner::Team(t) => (None, Some(t)),
            };
            WebhookView::new(recipient_id, team, w.info)
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        &value!({
            "slack": installation.map(SlackView::from),
            "teams_webhooks": webhooks,
        }),
    ))
}

/// `GET /v1/integrations/slack/install`: a redirect to Slack's consent page, with a
/// `state` that names the tenant and expires in ten minutes.
pub async fn install(deps: &Deps, principal: &Principal) -> Result<Response<Body>, ApiError> {
    let installer = deps
        .slack_installer
        .as_ref()
        .ok_or(InstallError::NotConfigured)?;
    let url = installer
        .authorize_url(principal.tenant_id, Utc::now().timestamp())
        .await?;
    let body = value!({
        "authorize_url": url,
        "expires_in": herald::domain::oauth::STATE_TTL_SECS,
    });
    let mut response = json(StatusCode::FOUND, &body);
    response.headers_mut().insert(
        header::LOCATION,
        url.parse()
            .map_err(|_| anyhow::anyhow!("the authorize URL is not a header value"))?,
    );
    Ok(response)
}

/// `GET /v1/integrations/slack/callback?code=…&state=…`: where Slack sends the admin
/// back. No API key: the signed `state` says which tenant started the install.
pub async fn callback(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let installer = deps
        .slack_installer
        .as_ref()
        .ok_or(InstallError::NotConfigured)?;
    let query = req.query_string_parameters();
    if let Some(error) = query.first("error") {
        return Err(InstallError::Denied(herald::channels::redact(error)).into());
    }
    let required = |name: &'static str| {
        query
            .first(name)
            .filter(|v| !v.is_empty() && v.len() <= 1024)
            .ok_or_else(|| {
                ApiError::Validation(FieldError::new(
                    "required",
                    name,
                    format!("`{name}` is required"),
                ))
            })
    };
    let (code, state) = (required("code")?, required("state")?);
    let installed = installer
        .complete(&deps.pool, code, state, Utc::now().timestamp())
        .await?;
    Ok(json(
        StatusCode::OK,
        &value!({
            "installed": true,
            "slack_team_id": installed.slack_team_id,
            "team_name": installed.team_name,
            "message": "Slack is connected to Herald: pages can reach this workspace. You can close this tab.",
        }),
    ))
}

/// `DELETE /v1/integrations/slack`: the installation and its bot token are deleted;
/// Slack pages are `suppressed` / `channel_not_connected` from then on.
pub async fn uninstall(
    client: &herald::db::Client,
    principal: &Principal,
) -> Result<Response<Body>, ApiError> {
    if !slack::uninstall(client, principal.tenant_id).await? {
        return Err(ApiError::NotFound("Slack installation"));
    }
    tracing::info!("Slack installation removed");
    Ok(no_content())
}
