use herald::db::teams::WebhookOwner;
use herald::http::{ApiError, api_segments, segment};
use lambda_http::http::Method;
use lambda_http::{Body, Error, Request, RequestExt, Response};
use uuid::Uuid;

use crate::Deps;
use crate::handlers::{self, InboxRoute};
use crate::integrations;
use crate::opt_outs;
use crate::people;
use crate::policies;
use crate::stats;
use crate::suppressions;
use crate::system_events;
use crate::templates;

enum Route {
    /// The tenant's people, and one of them by the caller's id.
    ListRecipients,
    GetRecipient(String),
    PutRecipient(String),
    DeleteRecipient(String),
    /// Stored escalation policies, and one of them by name.
    ListPolicies,
    CreatePolicy,
    GetPolicy(String),
    PutPolicy(String),
    DeletePolicy(String),
    /// The caller's id for a recipient, and what to do with their inbox.
    Inbox(String, InboxRoute),
    PutWebhook(WebhookOwner),
    DeleteWebhook(WebhookOwner),
    Integrations,
    SlackInstall,
    /// Slack's redirect back: authenticated by its signed `state`, not an API key.
    SlackCallback,
    SlackUninstall,
    /// A person connects their own Slack account to their recipient (OAuth), or removes it.
    ConnectSlack(String),
    DisconnectSlack(String),
    /// A person connects their Microsoft Teams identity, or removes it.
    ConnectTeams(String),
    DisconnectTeams(String),
    /// Microsoft's redirect back: authenticated by its signed `state`.
    TeamsCallback,
    /// A person's opt-outs, and one of them by channel (or `all`).
    ListOptOuts(String),
    PutOptOut(String, String),
    DeleteOptOut(String, String),
    /// The tenant's suppression list, and one entry by channel and address.
    ListSuppressions,
    DeleteSuppression(String, String),
    /// The tenant's delivery figures per channel.
    DeliveryStats,
    /// The operators' list of system events, and resolving one.
    ListSystemEvents,
    ResolveSystemEvent(String),
    /// The tenant's message templates, and one by channel.
    ListTemplates,
    GetTemplate(String),
    PutTemplate(String),
    DeleteTemplate(String),
}

/// Routes the API (see the README). Works with or without a stage or custom-domain
/// prefix in front of `/v1`.
fn route(method: &Method, path: &str) -> Result<Route, ApiError> {
    let segments = api_segments(path);
    let nid = |s: &str| Uuid::parse_str(s).map_err(|_| ApiError::NotFound("notification"));
    match (segments.as_slice(), method) {
        (["v1", "policies"], m) => match *m {
            Method::GET => Ok(Route::ListPolicies),
            Method::POST => Ok(Route::CreatePolicy),
            _ => Err(ApiError::MethodNotAllowed("GET, POST")),
        },
        (["v1", "policies", p], m) => match *m {
            Method::GET => Ok(Route::GetPolicy(segment(p)?)),
            Method::PUT => Ok(Route::PutPolicy(segment(p)?)),
            Method::DELETE => Ok(Route::DeletePolicy(segment(p)?)),
            _ => Err(ApiError::MethodNotAllowed("GET, PUT, DELETE")),
        },
        (["v1", "system-events"], &Method::GET) => Ok(Route::ListSystemEvents),
        (["v1", "system-events"], _) => Err(ApiError::MethodNotAllowed("GET")),
        (["v1", "system-events", id, "resolve"], &Method::POST) => {
            Ok(Route::ResolveSystemEvent(segment(id)?))
        }
        (["v1", "system-events", _, "resolve"], _) => Err(ApiError::MethodNotAllowed("POST")),
        (["v1", "templates"], &Method::GET) => Ok(Route::ListTemplates),
        (["v1", "templates"], _) => Err(ApiError::MethodNotAllowed("GET")),
        (["v1", "templates", c], m) => match *m {
            Method::GET => Ok(Route::GetTemplate(segment(c)?)),
            Method::PUT => Ok(Route::PutTemplate(segment(c)?)),
            Method::DELETE => Ok(Route::DeleteTemplate(segment(c)?)),
            _ => Err(ApiError::MethodNotAllowed("GET, PUT, DELETE")),
        },
        (["v1", "stats", "deliveries"], &Method::GET) => Ok(Route::DeliveryStats),
        (["v1", "stats", "deliveries"], _) => Err(ApiError::MethodNotAllowed("GET")),
        (["v1", "suppressions"], &Method::GET) => Ok(Route::ListSuppressions),
        (["v1", "suppressions"], _) => Err(ApiError::MethodNotAllowed("GET")),
        (["v1", "suppressions", c, a], &Method::DELETE) => {
            Ok(Route::DeleteSuppression(segment(c)?, segment(a)?))
        }
        (["v1", "suppressions", _, _], _) => Err(ApiError::MethodNotAllowed("DELETE")),
        (["v1", "recipients"], &Method::GET) => Ok(Route::ListRecipients),
        (["v1", "recipients"], _) => Err(ApiError::MethodNotAllowed("GET")),
        (["v1", "recipients", r], m) => match *m {
            Method::GET => Ok(Route::GetRecipient(segment(r)?)),
            Method::PUT => Ok(Route::PutRecipient(segment(r)?)),
            Method::DELETE => Ok(Route::DeleteRecipient(segment(r)?)),
            _ => Err(ApiError::MethodNotAllowed("GET, PUT, DELETE")),
        },
        (["v1", "recipients", r, "notifications"], &Method::GET) => {
            Ok(Route::Inbox(segment(r)?, InboxRoute::List))
        }
        (["v1", "recipients", r, "notifications", "unread-count"], &Method::GET) => {
            Ok(Route::Inbox(segment(r)?, InboxRoute::UnreadCount))
        }
        (["v1", "recipients", r, "notifications", "read-all"], &Method::POST) => {
            Ok(Route::Inbox(segment(r)?, InboxRoute::ReadAll))
        }
        (["v1", "recipients", r, "notifications", n, "read"], &Method::POST) => {
            Ok(Route::Inbox(segment(r)?, InboxRoute::Read(nid(n)?)))
        }
        (["v1", "recipients", r, "notifications", n], &Method::DELETE) => {
            Ok(Route::Inbox(segment(r)?, InboxRoute::Delete(nid(n)?)))
        }
        (["v1", "recipients", _, "notifications"], _)
        | (["v1", "recipients", _, "notifications", "unread-count"], _) => {
            Err(ApiError::MethodNotAllowed("GET"))
        }
        (["v1", "recipients", _, "notifications", "read-all"], _)
        | (["v1", "recipients", _, "notifications", _, "read"], _) => {
            Err(ApiError::MethodNotAllowed("POST"))
        }
        (["v1", "recipients", _, "notifications", _], _) => {
            Err(ApiError::MethodNotAllowed("DELETE"))
        }
        (
            [
                "v1",
                kind @ ("recipients" | "teams"),
                owner,
                "teams-webhook",
            ],
            m,
        ) => {
            let owner = if *kind == "recipients" {
                WebhookOwner::Recipient(segment(owner)?)
            } else {
                WebhookOwner::Team(segment(owner)?)
            };
            match *m {
                Method::PUT => Ok(Route::PutWebhook(owner)),
                Method::DELETE => Ok(Route::DeleteWebhook(owner)),
                _ => Err(ApiError::MethodNotAllowed("PUT, DELETE")),
            }
        }
        (["v1", "recipients", r, "opt-outs"], m) => match *m {
            Method::GET => Ok(Route::ListOptOuts(segment(r)?)),
            _ => Err(ApiError::MethodNotAllowed("GET")),
        },
        (["v1", "recipients", r, "opt-outs", c], m) => match *m {
            Method::PUT => Ok(Route::PutOptOut(segment(r)?, segment(c)?)),
            Method::DELETE => Ok(Route::DeleteOptOut(segment(r)?, segment(c)?)),
            _ => Err(ApiError::MethodNotAllowed("PUT, DELETE")),
        },
        (["v1", "recipients", r, "connections", "slack"], m) => match *m {
            Method::GET => Ok(Route::ConnectSlack(segment(r)?)),
            Method::DELETE => Ok(Route::DisconnectSlack(segment(r)?)),
            _ => Err(ApiError::MethodNotAllowed("GET, DELETE")),
        },
        (["v1", "recipients", r, "connections", "teams"], m) => match *m {
            Method::GET => Ok(Route::ConnectTeams(segment(r)?)),
            Method::DELETE => Ok(Route::DisconnectTeams(segment(r)?)),
            _ => Err(ApiError::MethodNotAllowed("GET, DELETE")),
        },
        (["v1", "integrations", "teams", "callback"], &Method::GET | &Method::POST) => {
            Ok(Route::TeamsCallback)
        }
        (["v1", "integrations", "teams", "callback"], _) => {
            Err(ApiError::MethodNotAllowed("GET, POST"))
        }
        (["v1", "integrations"], &Method::GET) => Ok(Route::Integrations),
        (["v1", "integrations"], _) => Err(ApiError::MethodNotAllowed("GET")),
        (["v1", "integrations", "slack"], &Method::DELETE) => Ok(Route::SlackUninstall),
        (["v1", "integrations", "slack"], _) => Err(ApiError::MethodNotAllowed("DELETE")),
        (["v1", "integrations", "slack", "install"], &Method::GET) => Ok(Route::SlackInstall),
        (["v1", "integrations", "slack", "callback"], &Method::GET | &Method::POST) => {
            Ok(Route::SlackCallback)
        }
        (["v1", "integrations", "slack", "callback"], _) => {
            Err(ApiError::MethodNotAllowed("GET, POST"))
        }
        (["v1", "integrations", "slack", "install"], _) => Err(ApiError::MethodNotAllowed("GET")),
        _ => Err(ApiError::NoRoute),
    }
}

#[tracing::instrument(name = "recipients request", skip_all, fields(method = %req.method(), request_id))]
pub async fn function_handler(deps: &Deps, req: Request) -> Result<Response<Body>, Error> {
    Ok(herald::http::answer(&req, async |_| handle(deps, &req).await).await)
}

async fn handle(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let route = route(req.method(), req.raw_http_path())?;
    // Provider redirects carry no API key: their signed, single-use state authenticates.
    match route {
        Route::SlackCallback => return integrations::callback(deps, req).await,
        Route::TeamsCallback => return integrations::teams_callback(deps, req).await,
        _ => {}
    }
    let (client, principal) = herald::http::authenticated(&deps.pool, &deps.keys, req).await?;
    match route {
        Route::ListRecipients => people::list(&client, &principal, req).await,
        Route::GetRecipient(id) => people::get(&client, &principal, &id).await,
        Route::PutRecipient(id) => people::put(&client, &principal, req, &id).await,
        Route::DeleteRecipient(id) => people::delete(&client, &principal, &id).await,
        Route::ListPolicies => policies::list(&client, &principal).await,
        Route::CreatePolicy => policies::save(&client, &principal, req, None).await,
        Route::GetPolicy(name) => policies::get(&client, &principal, req, &name).await,
        Route::PutPolicy(name) => policies::save(&client, &principal, req, Some(&name)).await,
        Route::DeletePolicy(name) => policies::delete(&client, &principal, &name).await,
        Route::Inbox(recipient, what) => {
            handlers::inbox(&client, &principal, req, &recipient, what).await
        }
        Route::PutWebhook(owner) => {
            handlers::put_webhook(deps, &client, &principal, req, &owner).await
        }
        Route::DeleteWebhook(owner) => handlers::delete_webhook(&client, &principal, &owner).await,
        Route::Integrations => integrations::list(&client, &principal).await,
        Route::SlackInstall => integrations::install(deps, &client, &principal, None).await,
        Route::ConnectSlack(recipient) => {
            integrations::install(deps, &client, &principal, Some(&recipient)).await
        }
        Route::DisconnectSlack(recipient) => {
            integrations::disconnect(&client, &principal, &recipient).await
        }
        Route::SlackUninstall => integrations::uninstall(&client, &principal).await,
        Route::ConnectTeams(recipient) => {
            integrations::connect_teams(deps, &client, &principal, &recipient).await
        }
        Route::DisconnectTeams(recipient) => {
            integrations::disconnect_teams(&client, &principal, &recipient).await
        }
        Route::ListOptOuts(recipient) => opt_outs::list(&client, &principal, &recipient).await,
        Route::PutOptOut(recipient, channel) => {
            opt_outs::put(&client, &principal, req, &recipient, &channel).await
        }
        Route::DeleteOptOut(recipient, channel) => {
            opt_outs::delete(&client, &principal, &recipient, &channel).await
        }
        Route::ListSuppressions => suppressions::list(&client, &principal, req).await,
        Route::DeliveryStats => stats::deliveries(&client, &principal, req).await,
        Route::ListSystemEvents => system_events::list(&client, &principal, req).await,
        Route::ResolveSystemEvent(id) => system_events::resolve(&client, &principal, &id).await,
        Route::ListTemplates => templates::list(&client, &principal).await,
        Route::GetTemplate(channel) => templates::get(&client, &principal, &channel).await,
        Route::PutTemplate(channel) => templates::put(&client, &principal, req, &channel).await,
        Route::DeleteTemplate(channel) => templates::delete(&client, &principal, &channel).await,
        Route::DeleteSuppression(channel, address) => {
            suppressions::delete(&client, &principal, &channel, &address).await
        }
        // Answered above, before authentication.
        Route::SlackCallback | Route::TeamsCallback => Err(ApiError::NoRoute),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipient_routes_decode_their_ids() {
        let n = Uuid::new_v4();
        assert!(matches!(
            route(&Method::GET, "/v1/recipients/u%20alice/notifications"),
            Ok(Route::Inbox(r, InboxRoute::List)) if r == "u alice"
        ));
        assert!(matches!(
            route(&Method::POST, &format!("/prod/v1/recipients/u1/notifications/{n}/read")),
            Ok(Route::Inbox(_, InboxRoute::Read(x))) if x == n
        ));
        assert!(matches!(
            route(&Method::DELETE, &format!("/v1/recipients/u1/notifications/{n}")),
            Ok(Route::Inbox(_, InboxRoute::Delete(x))) if x == n
        ));
        assert!(matches!(
            route(&Method::GET, "/v1/recipients/u%2Fbo/connections/slack"),
            Ok(Route::ConnectSlack(r)) if r == "u/bo"
        ));
        assert!(matches!(
            route(&Method::DELETE, "/v1/recipients/bo/connections/slack"),
            Ok(Route::DisconnectSlack(r)) if r == "bo"
        ));
        assert!(matches!(
            route(&Method::PUT, "/v1/teams/platform/teams-webhook"),
            Ok(Route::PutWebhook(WebhookOwner::Team(t))) if t == "platform"
        ));
        assert!(matches!(
            route(&Method::PUT, "/v1/recipients/u%2Fbo/opt-outs/sms"),
            Ok(Route::PutOptOut(r, c)) if r == "u/bo" && c == "sms"
        ));
        assert!(matches!(
            route(&Method::GET, "/v1/recipients/bo/opt-outs"),
            Ok(Route::ListOptOuts(r)) if r == "bo"
        ));
        assert!(matches!(
            route(&Method::POST, "/v1/recipients/bo/opt-outs/all"),
            Err(ApiError::MethodNotAllowed("PUT, DELETE"))
        ));
        assert!(matches!(
            route(&Method::GET, "/prod/v1/recipients"),
            Ok(Route::ListRecipients)
        ));
        assert!(matches!(
            route(&Method::PUT, "/v1/recipients/u%2Fbo"),
            Ok(Route::PutRecipient(r)) if r == "u/bo"
        ));
        assert!(matches!(
            route(&Method::DELETE, "/v1/recipients/bo"),
            Ok(Route::DeleteRecipient(r)) if r == "bo"
        ));
        assert!(matches!(
            route(&Method::POST, "/v1/recipients/bo"),
            Err(ApiError::MethodNotAllowed("GET, PUT, DELETE"))
        ));
        assert!(matches!(
            route(&Method::POST, "/v1/policies"),
            Ok(Route::CreatePolicy)
        ));
        assert!(matches!(
            route(&Method::PUT, "/v1/policies/platform-oncall"),
            Ok(Route::PutPolicy(p)) if p == "platform-oncall"
        ));
        assert!(matches!(
            route(&Method::PATCH, "/v1/policies/x"),
            Err(ApiError::MethodNotAllowed("GET, PUT, DELETE"))
        ));
    }

    #[test]
    fn wrong_methods_are_405_and_other_paths_404() {
        assert!(matches!(
            route(&Method::GET, "/v1/recipients/u1/teams-webhook"),
            Err(ApiError::MethodNotAllowed(_))
        ));
        assert!(matches!(
            route(&Method::POST, "/v1/recipients/u1/notifications"),
            Err(ApiError::MethodNotAllowed("GET"))
        ));
        assert!(matches!(
            route(&Method::GET, "/v1/recipients/u1/notifications/nope"),
            Err(ApiError::MethodNotAllowed("DELETE"))
        ));
        assert!(matches!(
            route(&Method::POST, "/v1/escalations"),
            Err(ApiError::NoRoute)
        ));
    }
}
