//! A tenant's connections: its Slack installation ("Add to Slack", OAuth v2), the
//! people who connected their own Slack account (the same flow with a user scope), and
//! its Teams webhooks, listed without a secret; the installation or a person's
//! connection removed.

use chrono::{DateTime, Utc};
use herald::db::slack::{self, ConnectionInfo, InstallationInfo};
use herald::db::teams::{self, PersonConnectionInfo, WebhookOwner};
use herald::db::tenants::Principal;
use herald::domain::FieldError;
use herald::http::{ApiError, json, no_content};
use herald::slack::{Completed, InstallError};
use lambda_http::http::{Method, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::Deps;
use crate::handlers::WebhookView;

#[derive(Debug, Serialize, ToSchema)]
pub struct SlackView {
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

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionView {
    /// Your id for the recipient.
    recipient_id: String,
    slack_team_id: String,
    slack_user_id: String,
    scopes: String,
    /// The id of the key the user token is sealed with (the token is never shown).
    key_id: String,
    connected_at: DateTime<Utc>,
    /// `connected`, or `revoked` once Slack refused the person's token.
    status: &'static str,
    revoked_at: Option<DateTime<Utc>>,
    revoked_reason: Option<String>,
}

impl From<ConnectionInfo> for ConnectionView {
    fn from(c: ConnectionInfo) -> Self {
        Self {
            recipient_id: c.recipient_id,
            slack_team_id: c.slack_team_id,
            slack_user_id: c.slack_user_id,
            scopes: c.scopes,
            key_id: c.key_id,
            connected_at: c.connected_at,
            status: if c.revoked_at.is_some() {
                "revoked"
            } else {
                "connected"
            },
            revoked_at: c.revoked_at,
            revoked_reason: c.revoked_reason,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TeamsConnectionView {
    /// Your id for the recipient.
    recipient_id: String,
    /// Their Entra ID directory and object id: who they are in Teams.
    aad_tenant_id: uuid::Uuid,
    aad_object_id: uuid::Uuid,
    display_name: Option<String>,
    username: Option<String>,
    scopes: String,
    key_id: String,
    connected_at: DateTime<Utc>,
    /// Until when the kept token works unused.
    expires_at: DateTime<Utc>,
    /// `connected`; `expired` once the token lapsed, `revoked` once refused: connect again.
    status: &'static str,
    revoked_at: Option<DateTime<Utc>>,
    revoked_reason: Option<String>,
}

impl TeamsConnectionView {
    fn new(c: PersonConnectionInfo, now: DateTime<Utc>) -> Self {
        let status = if c.revoked_at.is_some() {
            "revoked"
        } else if c.expires_at <= now {
            "expired"
        } else {
            "connected"
        };
        Self {
            recipient_id: c.recipient_id,
            aad_tenant_id: c.aad_tenant_id,
            aad_object_id: c.aad_object_id,
            display_name: c.display_name,
            username: c.username,
            scopes: c.scopes,
            key_id: c.key_id,
            connected_at: c.connected_at,
            expires_at: c.expires_at,
            status,
            revoked_at: c.revoked_at,
            revoked_reason: c.revoked_reason,
        }
    }
}

/// `GET /v1/integrations`: what the tenant has connected, no secret in it.
pub async fn list(
    client: &herald::db::Client,
    principal: &Principal,
) -> Result<Response<Body>, ApiError> {
    let installation = slack::installation(client, principal.tenant_id).await?;
    let connections: Vec<ConnectionView> = slack::connections(client, principal.tenant_id)
        .await?
        .into_iter()
        .map(ConnectionView::from)
        .collect();
    let now = Utc::now();
    let teams_connections: Vec<TeamsConnectionView> =
        teams::person_connections(client, principal.tenant_id)
            .await?
            .into_iter()
            .map(|c| TeamsConnectionView::new(c, now))
            .collect();
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
        &IntegrationsView {
            slack: installation.map(SlackView::from),
            slack_connections: connections,
            teams_connections,
            teams_webhooks: webhooks,
        },
    ))
}

/// `GET /v1/integrations`.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationsView {
    /// The tenant's Slack installation; null before "Add to Slack".
    slack: Option<SlackView>,
    /// People who connected their own Slack account.
    slack_connections: Vec<ConnectionView>,
    /// People who connected their Microsoft Teams identity.
    teams_connections: Vec<TeamsConnectionView>,
    teams_webhooks: Vec<WebhookView>,
}

/// The answer of a redirect to a provider's consent page (`Location`), the URL in the
/// body too.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorizeView<'a> {
    authorize_url: &'a str,
    /// Seconds the link's `state` works for.
    expires_in: i64,
}

/// `POST /v1/integrations/slack/callback`: what was connected.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum SlackConnected {
    /// "Add to Slack": the tenant's workspace.
    Installed {
        installed: bool,
        slack_team_id: String,
        team_name: Option<String>,
        message: &'static str,
    },
    /// A person's own Slack account.
    Connected {
        connected: bool,
        slack_team_id: String,
        slack_user_id: String,
        message: &'static str,
    },
}

/// `POST /v1/integrations/teams/callback`: whose Microsoft identity was connected.
#[derive(Debug, Serialize, ToSchema)]
pub struct TeamsConnected {
    connected: bool,
    aad_tenant_id: uuid::Uuid,
    aad_object_id: uuid::Uuid,
    display_name: Option<String>,
    message: &'static str,
}

/// `GET /v1/integrations/slack/install` (`recipient: None`) and
/// `GET /v1/recipients/{id}/connections/slack`: a redirect to Slack's consent page, with
/// a `state` that names the tenant (and the flow), works once and expires in ten
/// minutes.
pub async fn install(
    deps: &Deps,
    client: &herald::db::Client,
    principal: &Principal,
    recipient: Option<&str>,
) -> Result<Response<Body>, ApiError> {
    let installer = deps
        .slack_installer
        .as_ref()
        .ok_or(InstallError::NotConfigured)?;
    let recipient = match recipient {
        None => None,
        Some(external_id) => {
            check_recipient_id(external_id)?;
            // A person connects an account of the workspace the tenant installed.
            if slack::installation(client, principal.tenant_id)
                .await?
                .is_none()
            {
                return Err(ApiError::Conflict(
                    slack::ConnectRefused::NotInstalled.to_string(),
                ));
            }
            Some(teams::ensure_recipient(client, principal.tenant_id, external_id).await?)
        }
    };
    let url = installer
        .authorize_url(
            client,
            principal.tenant_id,
            recipient,
            Utc::now().timestamp(),
        )
        .await?;
    redirect(&url)
}

/// `GET /v1/integrations/slack/callback?code=…&state=…`: where Slack sends the admin
/// (or the person) back. No API key: the signed `state` says which tenant started it.
/// The GET changes nothing: it shows which Herald account (and recipient) this would
/// connect, with a button that POSTs the code and state back; the POST finishes. So
/// someone handed another account's install link sees whose it is before anything is
/// stored, and a link scanner fetching the URL uses nothing.
pub async fn callback(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let installer = deps
        .slack_installer
        .as_ref()
        .ok_or(InstallError::NotConfigured)?;
    if let Some(error) = req.query_string_parameters().first("error") {
        return Err(InstallError::Denied(herald::channels::redact(error)).into());
    }
    let (code, state) = code_and_state(req)?;
    if req.method() != Method::POST {
        let pending = installer
            .preview(&deps.pool, &state, Utc::now().timestamp())
            .await?;
        let (heading, message) = match &pending.recipient {
            None => (
                "Connect this Slack workspace to Herald?",
                "Pages of this Herald account will reach your workspace's members. Nothing is stored until you press the button.",
            ),
            Some(_) => (
                "Connect your Slack account to Herald?",
                "Pages for this recipient will reach you in Slack, and your clicks on them will act for them. Nothing is stored until you press the button.",
            ),
        };
        return confirm_page(&Confirm {
            heading,
            tenant: &pending.tenant_name,
            recipient: pending.recipient.as_deref(),
            message,
            code: &code,
            state: &state,
            button: "Connect",
        });
    }
    let (code, state) = (code.as_str(), state.as_str());
    let body = match installer
        .complete(&deps.pool, code, state, Utc::now().timestamp())
        .await?
    {
        Completed::Installed(installed) => SlackConnected::Installed {
            installed: true,
            slack_team_id: installed.slack_team_id,
            team_name: installed.team_name,
            message: "Slack is connected to Herald: pages can reach this workspace. You can close this tab.",
        },
        Completed::Connected(connected) => SlackConnected::Connected {
            connected: true,
            slack_team_id: connected.slack_team_id,
            slack_user_id: connected.slack_user_id,
            message: "Your Slack account is connected to Herald: pages reach you there, and your clicks on them act for you. You can close this tab.",
        },
    };
    Ok(json(StatusCode::OK, &body))
}

/// `DELETE /v1/recipients/{id}/connections/slack`: the person's connection and token are
/// deleted.
pub async fn disconnect(
    client: &herald::db::Client,
    principal: &Principal,
    recipient: &str,
) -> Result<Response<Body>, ApiError> {
    if !slack::disconnect(client, principal.tenant_id, recipient).await? {
        return Err(ApiError::NotFound("Slack connection"));
    }
    tracing::info!("Slack connection removed");
    Ok(no_content())
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

fn check_recipient_id(external_id: &str) -> Result<(), ApiError> {
    if external_id.is_empty() || external_id.chars().count() > 128 {
        return Err(ApiError::Validation(FieldError::new(
            "invalid",
            "id",
            "a recipient id is 1 to 128 characters",
        )));
    }
    Ok(())
}

/// A redirect to a provider's consent page, with the URL in the body too.
fn redirect(url: &str) -> Result<Response<Body>, ApiError> {
    let body = AuthorizeView {
        authorize_url: url,
        expires_in: herald::domain::oauth::STATE_TTL_SECS,
    };
    let mut response = json(StatusCode::FOUND, &body);
    response.headers_mut().insert(
        header::LOCATION,
        url.parse()
            .map_err(|_| anyhow::anyhow!("the authorize URL is not a header value"))?,
    );
    Ok(response)
}

/// The `code` and `state` of a provider's redirect back: in the query of the GET the
/// provider sends the browser to, or in the confirmation form's POST body.
fn code_and_state(req: &Request) -> Result<(String, String), ApiError> {
    let pairs: Vec<(String, String)> = if req.method() == Method::POST {
        let body: &[u8] = match req.body() {
            Body::Text(t) => t.as_bytes(),
            Body::Binary(b) => b,
            _ => b"",
        };
        url::form_urlencoded::parse(body).into_owned().collect()
    } else {
        let query = req.query_string_parameters();
        ["code", "state"]
            .iter()
            .filter_map(|name| {
                query
                    .first(name)
                    .map(|v| ((*name).to_owned(), v.to_owned()))
            })
            .collect()
    };
    let required = |name: &'static str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty() && v.len() <= 4096)
            .ok_or_else(|| {
                ApiError::Validation(FieldError::new(
                    "required",
                    name,
                    format!("`{name}` is required"),
                ))
            })
    };
    Ok((required("code")?, required("state")?))
}

/// The page a provider's redirect lands on: whose account this connects, and a button.
#[derive(askama::Template)]
#[template(path = "confirm.html")]
struct Confirm<'a> {
    heading: &'a str,
    tenant: &'a str,
    recipient: Option<&'a str>,
    message: &'a str,
    code: &'a str,
    state: &'a str,
    button: &'a str,
}

fn confirm_page(page: &Confirm<'_>) -> Result<Response<Body>, ApiError> {
    use askama::Template;
    let html = page
        .render()
        .map_err(|e| anyhow::anyhow!("rendering the confirmation page: {e}"))?;
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .header(
            "content-security-policy",
            "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        )
        .header("referrer-policy", "no-referrer")
        .header("x-content-type-options", "nosniff")
        .body(Body::Text(html))
        .map_err(|e| anyhow::anyhow!("building the confirmation page: {e}"))?)
}

/// `GET /v1/recipients/{id}/connections/teams`: a redirect to Microsoft's sign-in page
/// for that person, with a `state` that works once and expires in ten minutes.
pub async fn connect_teams(
    deps: &Deps,
    client: &herald::db::Client,
    principal: &Principal,
    external_id: &str,
) -> Result<Response<Body>, ApiError> {
    let connector = deps
        .teams_connector
        .as_ref()
        .ok_or(herald::teams_identity::ConnectError::NotConfigured)?;
    check_recipient_id(external_id)?;
    let recipient = teams::ensure_recipient(client, principal.tenant_id, external_id).await?;
    let url = connector
        .authorize_url(
            client,
            principal.tenant_id,
            recipient,
            Utc::now().timestamp(),
        )
        .await?;
    redirect(&url)
}

/// `GET /v1/integrations/teams/callback?code=…&state=…`: where Microsoft sends the
/// person back. No API key: the signed, single-use `state` says who started it.
pub async fn teams_callback(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    use herald::teams_identity::ConnectError;
    let connector = deps
        .teams_connector
        .as_ref()
        .ok_or(ConnectError::NotConfigured)?;
    if let Some(error) = req.query_string_parameters().first("error") {
        return Err(ConnectError::Denied(herald::channels::redact(error)).into());
    }
    let (code, state) = code_and_state(req)?;
    if req.method() != Method::POST {
        let pending = connector
            .preview(&deps.pool, &state, Utc::now().timestamp())
            .await?;
        return confirm_page(&Confirm {
            heading: "Connect your Microsoft Teams identity to Herald?",
            tenant: &pending.tenant_name,
            recipient: pending.recipient.as_deref(),
            message: "Herald will know you by your Microsoft account when you act on a page. Nothing is stored until you press the button.",
            code: &code,
            state: &state,
            button: "Connect",
        });
    }
    let connected = connector
        .complete(&deps.pool, &code, &state, Utc::now().timestamp())
        .await?;
    Ok(json(
        StatusCode::OK,
        &TeamsConnected {
            connected: true,
            aad_tenant_id: connected.claims.tenant_id,
            aad_object_id: connected.claims.object_id,
            display_name: connected.claims.name,
            message: "Your Microsoft Teams identity is connected to Herald. You can close this tab.",
        },
    ))
}

/// `DELETE /v1/recipients/{id}/connections/teams`: the connection and its token deleted.
pub async fn disconnect_teams(
    client: &herald::db::Client,
    principal: &Principal,
    external_id: &str,
) -> Result<Response<Body>, ApiError> {
    if !teams::disconnect_person(client, principal.tenant_id, external_id).await? {
        return Err(ApiError::NotFound("Teams connection"));
    }
    tracing::info!("Teams connection removed");
    Ok(no_content())
}
