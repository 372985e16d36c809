use herald::db::escalations::{self, Transition};
use herald::db::tokens;
use herald::db::{Actor, ActorKind};
use herald::magic_link;
use lambda_http::http::Method;
use lambda_http::{Body, Error, Request, RequestExt, Response};

use crate::Deps;
use crate::pages::Page;

/// The token is the last path segment (`/l/{token}`), whatever prefix a stage or custom
/// domain adds. It is never logged.
fn token_of(req: &Request) -> Option<String> {
    req.path_parameters()
        .first("token")
        .map(str::to_owned)
        .or_else(|| req.raw_http_path().rsplit('/').next().map(str::to_owned))
}

#[tracing::instrument(name = "magic link", skip_all, fields(method = %req.method()))]
pub async fn function_handler(deps: &Deps, req: Request) -> Result<Response<Body>, Error> {
    let page = match handle(deps, &req).await {
        Ok(page) => page,
        Err(e) => {
            tracing::error!(error.message = %herald::telemetry::describe(e.as_ref()), "magic link failed");
            Page::unavailable()
        }
    };
    tracing::info!(status = page.status.as_u16(), "answered");
    Ok(page.into_response())
}

async fn handle(deps: &Deps, req: &Request) -> anyhow::Result<Page> {
    let Some(token) = token_of(req).filter(|t| magic_link::is_well_formed(t)) else {
        return Ok(Page::not_found());
    };
    let hash = magic_link::hash(&token);
    match *req.method() {
        Method::GET | Method::HEAD => show(&deps.pool.get().await?, &hash).await,
        Method::POST => consume(deps, req, &hash).await,
        _ => Ok(Page::not_found()),
    }
}

/// Read-only: what the link would do, or why it no longer can.
async fn show(client: &herald::db::Client, hash: &magic_link::TokenHash) -> anyhow::Result<Page> {
    let Some(view) = tokens::inspect(client, hash).await? else {
        return Ok(Page::not_found());
    };
    Ok(if let Some(used_at) = view.used_at {
        Page::used(used_at, &view.escalation)
    } else if view.expired {
        Page::expired(view.expires_at, &view.escalation)
    } else if !view.action.applies_to(view.escalation.status) {
        Page::moot(&view.escalation)
    } else {
        Page::confirm(view.action, &view.escalation)
    })
}

/// Consumes the token and applies its action in one transaction. When the escalation is
/// already past the action (someone else acknowledged first), the transaction is rolled
/// back: the token stays unused and the page says who got there first.
async fn consume(deps: &Deps, req: &Request, hash: &magic_link::TokenHash) -> anyhow::Result<Page> {
    let herald::http::Caller { ip, user_agent, .. } = herald::http::caller(req);
    let mut client = deps.pool.get().await?;
    let tx = client.transaction().await?;
    let Some(token) = tokens::consume(&tx, hash, ip, user_agent.as_deref()).await? else {
        tx.rollback().await?;
        // Unknown, used or expired: the read-only page explains which, on the same
        // connection (taking a second one while holding this could exhaust the pool).
        return show(&client, hash).await;
    };
    let who = token
        .recipient_name
        .clone()
        .unwrap_or_else(|| token.recipient_external_id.clone());
    let actor = Actor {
        kind: ActorKind::Recipient,
        id: token.recipient_external_id.clone(),
        display: who.clone(),
        recipient_id: Some(token.recipient_id),
        ip,
        user_agent,
    };
    match escalations::transition(
        &tx,
        token.tenant_id,
        token.escalation_id,
        token.action,
        &actor,
    )
    .await?
    {
        Transition::Applied(state) => {
            tx.commit().await?;
            tracing::info!(escalation_id = %state.id, action = token.action.as_str(), "applied by magic link");
            Ok(Page::done(token.action, &state, &who))
        }
        Transition::AlreadyDone(state) => {
            tx.rollback().await?;
            Ok(Page::moot(&state))
        }
        Transition::NotFound => {
            tx.rollback().await?;
            Ok(Page::not_found())
        }
    }
}
