use herald::actions::{self, LinkOutcome};
use herald::db::tokens::{self, TokenView};
use herald::magic_link;
use lambda_http::http::Method;
use lambda_http::{Body, Error, Request, RequestExt, Response};

use crate::Deps;
use crate::pages::Page;

/// The magic-link boundary's failures: the store could not be reached (try again), or
/// something unexpected happened.
#[derive(thiserror::Error)]
pub enum LinkError {
    #[error("the store is unavailable")]
    Unavailable(#[source] herald::db::PoolError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl std::fmt::Debug for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&herald::telemetry::describe(self))
    }
}

impl LinkError {
    /// The one place errors become pages.
    fn page(&self) -> Page {
        match self {
            LinkError::Unavailable(_) => Page::unavailable(),
            LinkError::Unexpected(_) => Page::error(),
        }
    }
}

/// The token is the last path segment (`/l/{token}`), whatever prefix a stage or custom
/// domain adds. It is never logged.
fn token_of(req: &Request) -> Option<String> {
    req.path_parameters()
        .first("token")
        .map(str::to_owned)
        .or_else(|| req.raw_http_path().rsplit('/').next().map(str::to_owned))
}

/// Slack's two Request URLs: Interactivity, and Event Subscriptions.
#[derive(Clone, Copy)]
enum SlackRoute {
    Actions,
    Events,
}

#[tracing::instrument(name = "magic link", skip_all, fields(method = %req.method()))]
pub async fn function_handler(deps: &Deps, req: Request) -> Result<Response<Body>, Error> {
    let path = req.raw_http_path();
    let path = path.trim_end_matches('/');
    let slack = if path.ends_with("/slack/actions") {
        Some(SlackRoute::Actions)
    } else if path.ends_with("/slack/events") {
        Some(SlackRoute::Events)
    } else {
        None
    };
    if let Some(route) = slack {
        let response = match (req.method() == Method::POST, route) {
            (true, SlackRoute::Actions) => crate::slack_actions::handle(deps, &req).await,
            (true, SlackRoute::Events) => crate::slack_actions::handle_event(deps, &req).await,
            (false, _) => Page::not_found().into_response(),
        };
        tracing::info!(status = response.status().as_u16(), "answered");
        herald::metrics::response(response.status().as_u16());
        return Ok(response);
    }
    let page = match handle(deps, &req).await {
        Ok(page) => page,
        Err(e) => {
            tracing::error!(error.message = ?e, "magic link failed");
            e.page()
        }
    };
    tracing::info!(status = page.status.as_u16(), "answered");
    herald::metrics::response(page.status.as_u16());
    Ok(page.into_response())
}

async fn handle(deps: &Deps, req: &Request) -> Result<Page, LinkError> {
    let Some(token) = token_of(req).filter(|t| magic_link::is_well_formed(t)) else {
        return Ok(Page::not_found());
    };
    let hash = magic_link::hash(&token);
    let mut client = deps.pool.get().await.map_err(LinkError::Unavailable)?;
    match *req.method() {
        // Read-only: what the link would do, or why it no longer can.
        Method::GET | Method::HEAD => Ok(explain(tokens::inspect(&client, &hash).await?.as_ref())),
        Method::POST => {
            let caller = herald::http::caller(req);
            let outcome =
                actions::follow_link(&mut client, &hash, caller.ip, caller.user_agent.as_deref())
                    .await?;
            Ok(match outcome {
                LinkOutcome::Applied { action, state, who } => {
                    deps.announce_answer(state.id).await;
                    Page::done(action, &state, &who)
                }
                LinkOutcome::AlreadyDone(state) => Page::moot(&state),
                LinkOutcome::Unusable(view) => explain(view.as_ref()),
            })
        }
        _ => Ok(Page::not_found()),
    }
}

/// The page for a token as it stands: unknown, used, expired, moot, or ready to confirm.
fn explain(view: Option<&TokenView>) -> Page {
    let Some(view) = view else {
        return Page::not_found();
    };
    if let Some(used_at) = view.used_at {
        Page::used(used_at, &view.escalation)
    } else if view.expired {
        Page::expired(view.expires_at, &view.escalation)
    } else if !view.action.applies_to(view.escalation.status) {
        Page::moot(&view.escalation)
    } else {
        Page::confirm(view.action, &view.escalation)
    }
}
