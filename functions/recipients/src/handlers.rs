//! A recipient's in-app inbox and Teams webhooks (a team's too): thin handlers over
//! `herald::db::inbox` and `herald::db::teams`.

use chrono::{DateTime, Utc};
use herald::db::inbox::{self, Cursor, InboxItem};
use herald::db::teams::{self, WebhookInfo, WebhookOwner};
use herald::db::tenants::Principal;
use herald::domain::webhook::TeamsWebhookUrl;
use herald::domain::{FieldError, parse_json};
use herald::secrets::Owner;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use herald::http::{ApiError, json, json_body, no_content};

use crate::Deps;

pub enum InboxRoute {
    List,
    UnreadCount,
    Read(Uuid),
    ReadAll,
    Delete(Uuid),
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InboxItemView {
    pub id: Uuid,
    pub escalation_id: Option<Uuid>,
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub message: String,
    pub priority: Option<String>,
    pub is_read: bool,
    pub read_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl From<&InboxItem> for InboxItemView {
    fn from(i: &InboxItem) -> Self {
        Self {
            id: i.id,
            escalation_id: i.escalation_id,
            kind: i.kind.clone(),
            title: i.title.clone(),
            message: i.message.clone(),
            priority: i.priority.clone(),
            is_read: i.is_read,
            read_at: i.read_at,
            created_at: i.created_at,
            expires_at: i.expires_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InboxPageView {
    items: Vec<InboxItemView>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    next_cursor: Option<String>,
}

/// `GET /v1/recipients/{id}/notifications/unread-count`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UnreadCount {
    unread: i64,
}

/// `POST /v1/recipients/{id}/notifications/read-all`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MarkedRead {
    /// How many were unread.
    marked_read: i64,
}

/// The first value of query parameter `name`.
pub(crate) fn query(req: &Request, name: &str) -> Option<String> {
    req.query_string_parameters_ref()
        .and_then(|q| q.first(name))
        .map(str::to_owned)
}

pub(crate) fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::Validation(FieldError::new("invalid", field, message))
}

/// `?limit=` of a keyset listing: 1 to [`crate::people::MAX_LIMIT`], by default
/// [`crate::people::DEFAULT_LIMIT`].
pub(crate) fn page_limit(req: &Request) -> Result<i64, ApiError> {
    use crate::people::{DEFAULT_LIMIT, MAX_LIMIT};
    match query(req, "limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| invalid("limit", "`limit` is a number from 1 to 200")),
    }
}

/// One page of a keyset listing: the store was asked for one more than `limit`, which
/// says whether there is a next page without a count; `cursor` names the last item kept.
#[derive(Debug, serde::Serialize, ToSchema)]
pub(crate) struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    pub(crate) fn of(mut items: Vec<T>, limit: i64, cursor: impl Fn(&T) -> String) -> Self {
        let next_cursor = if items.len() as i64 > limit {
            items.truncate(usize::try_from(limit).unwrap_or(0));
            items.last().map(cursor)
        } else {
            None
        };
        Self { items, next_cursor }
    }
}

pub async fn inbox(
    client: &herald::db::Client,
    principal: &Principal,
    req: &Request,
    recipient: &str,
    what: InboxRoute,
) -> Result<Response<Body>, ApiError> {
    let tenant = principal.tenant_id;
    let not_found = || ApiError::NotFound("recipient");
    match what {
        InboxRoute::List => {
            let unread = match query(req, "unread").as_deref() {
                None | Some("false") => false,
                Some("true") => true,
                Some(_) => return Err(invalid("unread", "`unread` is `true` or `false`")),
            };
            let limit = match query(req, "limit") {
                None => inbox::DEFAULT_LIMIT,
                Some(raw) => raw
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (1..=inbox::MAX_LIMIT).contains(n))
                    .ok_or_else(|| invalid("limit", "`limit` is a number from 1 to 100"))?,
            };
            let cursor = match query(req, "cursor") {
                None => None,
                Some(raw) => Some(
                    Cursor::decode(&raw)
                        .ok_or_else(|| invalid("cursor", "`cursor` is not one this API gave"))?,
                ),
            };
            let page = inbox::list(client, tenant, recipient, unread, limit, cursor)
                .await?
                .ok_or_else(not_found)?;
            Ok(json(
                StatusCode::OK,
                &InboxPageView {
                    items: page.items.iter().map(InboxItemView::from).collect(),
                    next_cursor: page.next.map(|c| c.encode()),
                },
            ))
        }
        InboxRoute::UnreadCount => {
            let unread = inbox::unread_count(client, tenant, recipient)
                .await?
                .ok_or_else(not_found)?;
            Ok(json(StatusCode::OK, &UnreadCount { unread }))
        }
        InboxRoute::Read(id) => {
            let item = inbox::mark_read(client, tenant, recipient, id)
                .await?
                .ok_or(ApiError::NotFound("notification"))?;
            Ok(json(StatusCode::OK, &InboxItemView::from(&item)))
        }
        InboxRoute::ReadAll => {
            let changed = inbox::mark_all_read(client, tenant, recipient)
                .await?
                .ok_or_else(not_found)?;
            Ok(json(
                StatusCode::OK,
                &MarkedRead {
                    marked_read: changed,
                },
            ))
        }
        InboxRoute::Delete(id) => {
            if !inbox::delete(client, tenant, recipient, id).await? {
                return Err(ApiError::NotFound("notification"));
            }
            Ok(no_content())
        }
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://prod-01.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=…"}))]
pub(crate) struct WebhookRequest {
    url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    #[serde(skip_serializing_if = "Option::is_none")]
    recipient_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    team: Option<String>,
    /// The URL itself is write-only: only its host is shown.
    host: String,
    key_id: String,
    updated_at: DateTime<Utc>,
    /// Set once Teams refused the webhook as deleted: register a new one.
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked_reason: Option<String>,
}

impl WebhookView {
    pub fn new(recipient_id: Option<String>, team: Option<String>, info: WebhookInfo) -> Self {
        Self {
            recipient_id,
            team,
            host: info.host,
            key_id: info.key_id,
            updated_at: info.updated_at,
            revoked_at: info.revoked_at,
            revoked_reason: info.revoked_reason,
        }
    }
}

/// Registers (or replaces) a Teams webhook. The URL is sealed before it is stored and
/// never shown again.
pub async fn put_webhook(
    deps: &Deps,
    client: &herald::db::Client,
    principal: &Principal,
    req: &Request,
    owner: &WebhookOwner,
) -> Result<Response<Body>, ApiError> {
    let request: WebhookRequest = parse_json(json_body(req)?).map_err(ApiError::Validation)?;
    let raw = request.url.ok_or_else(|| {
        ApiError::Validation(FieldError::new("required", "url", "`url` is required"))
    })?;
    let url = TeamsWebhookUrl::parse(&raw, &deps.teams_webhook_hosts)
        .map_err(|why| invalid("url", &format!("`url` {why}")))?;
    let keyring = deps
        .keyring
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("HERALD_SECRET_KEYS / HERALD_SECRET_KEYS_ARN is not set"))?
        .get()
        .await?;
    let tenant = principal.tenant_id;
    let info: WebhookInfo = match owner {
        WebhookOwner::Recipient(external_id) => {
            if external_id.is_empty() || external_id.chars().count() > 128 {
                return Err(invalid("id", "a recipient id is 1 to 128 characters"));
            }
            let recipient = teams::ensure_recipient(client, tenant, external_id).await?;
            let sealed = keyring.seal(&url.url, &Owner::teams_webhook(tenant, recipient));
            teams::upsert(client, tenant, Some(recipient), None, &sealed, &url.host).await?
        }
        WebhookOwner::Team(team) => {
            if team.is_empty() || team.chars().count() > 128 {
                return Err(invalid("team", "a team name is 1 to 128 characters"));
            }
            let sealed = keyring.seal(&url.url, &Owner::teams_team_webhook(tenant, team));
            teams::upsert(client, tenant, None, Some(team), &sealed, &url.host).await?
        }
    };
    tracing::info!(host = %info.host, key_id = %info.key_id, "teams webhook registered");
    let (recipient_id, team) = match owner {
        WebhookOwner::Recipient(r) => (Some(r.clone()), None),
        WebhookOwner::Team(t) => (None, Some(t.clone())),
    };
    Ok(json(
        StatusCode::OK,
        &WebhookView::new(recipient_id, team, info),
    ))
}

pub async fn delete_webhook(
    client: &herald::db::Client,
    principal: &Principal,
    owner: &WebhookOwner,
) -> Result<Response<Body>, ApiError> {
    if !teams::delete(client, principal.tenant_id, owner).await? {
        return Err(ApiError::NotFound("teams webhook"));
    }
    Ok(no_content())
}
