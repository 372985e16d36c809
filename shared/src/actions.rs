//! Acknowledge and resolve: the one path every actor takes (an API key, a magic link,
//! later a Slack button), so the rules live in one place.

use std::net::IpAddr;

use uuid::Uuid;

use crate::db::escalations::{self, EscalationState, Transition};
use crate::db::tokens::{self, TokenView};
use crate::db::{Actor, ActorKind, Client};
use crate::domain::Action;
use crate::magic_link::TokenHash;

/// What following (POSTing) a magic link did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkOutcome {
    /// The action was applied; `who` is the recipient as people know them.
    Applied {
        action: Action,
        state: EscalationState,
        who: String,
    },
    /// The escalation was already past this action (someone else was first). The token
    /// was NOT consumed.
    AlreadyDone(EscalationState),
    /// Nothing changed: the token is unknown (`None`), or used or expired (`Some`).
    Unusable(Option<TokenView>),
}

/// Consumes the token and applies its action in ONE transaction, recording the
/// recipient, IP and user agent. Concurrent callers serialise on the token row: exactly
/// one gets `Applied`.
#[tracing::instrument(name = "follow magic link", skip_all)]
pub async fn follow_link(
    client: &mut Client,
    hash: &TokenHash,
    ip: Option<IpAddr>,
    user_agent: Option<&str>,
) -> anyhow::Result<LinkOutcome> {
    let tx = client.transaction().await?;
    let Some(token) = tokens::consume(&tx, hash, ip, user_agent).await? else {
        tx.rollback().await?;
        // Same connection: taking a second one while holding this could exhaust the pool.
        return Ok(LinkOutcome::Unusable(tokens::inspect(client, hash).await?));
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
        user_agent: user_agent.map(str::to_owned),
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
            Ok(LinkOutcome::Applied {
                action: token.action,
                state,
                who,
            })
        }
        Transition::AlreadyDone(state) => {
            tx.rollback().await?;
            Ok(LinkOutcome::AlreadyDone(state))
        }
        Transition::NotFound => {
            tx.rollback().await?;
            Ok(LinkOutcome::Unusable(None))
        }
    }
}

/// Acknowledges or resolves on an API caller's behalf, in its own transaction.
#[tracing::instrument(name = "apply action", skip_all, fields(escalation_id = %escalation_id))]
pub async fn apply(
    client: &mut Client,
    tenant_id: Uuid,
    escalation_id: Uuid,
    action: Action,
    actor: &Actor,
) -> anyhow::Result<Transition> {
    let tx = client.transaction().await?;
    let outcome = escalations::transition(&tx, tenant_id, escalation_id, action, actor).await?;
    tx.commit().await?;
    Ok(outcome)
}
