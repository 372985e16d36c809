//! Acknowledge and resolve: the one path every actor takes (an API key, a magic link,
//! a Slack button, an SMS reply), so the rules live in one place: [`act`] decides what the action
//! does (through [`escalations::transition`]: the state change, who is recorded, the
//! pending deliveries it stops, the audit event), each caller only says who is acting.

use std::net::IpAddr;

use uuid::Uuid;

use crate::db::escalations::{self, EscalationState, Transition};
use crate::db::tokens::{self, TokenView};
use crate::db::{Actor, ActorKind, Client, Transaction};
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
    let action = token.action;
    Ok(
        match act(tx, token.tenant_id, token.escalation_id, action, &actor).await? {
            Transition::Applied(state) => LinkOutcome::Applied { action, state, who },
            Transition::AlreadyDone(state) => LinkOutcome::AlreadyDone(state),
            Transition::NotFound => LinkOutcome::Unusable(None),
        },
    )
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
    act(tx, tenant_id, escalation_id, action, actor).await
}

/// What pressing a Slack button or replying to an SMS did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The action was applied; `who` is the recipient as people know them.
    Applied {
        action: Action,
        state: EscalationState,
        who: String,
    },
    /// Someone else was first; nothing changed.
    AlreadyDone(EscalationState),
    /// Nothing changed, and why, in words for the person who pressed or replied.
    Refused(&'static str),
}

/// Applies an SMS reply's action for the number that sent it, inside the caller's
/// transaction (which records the inbound message in it, so the reply acts once): code
/// `code` of `phone` stands for one page, sent to one recipient of one tenant, and only
/// that page is acted on, as that recipient. A code the number was never given (or no
/// longer has: another tenant's, an expired one) is refused and changes nothing. The
/// caller commits.
#[tracing::instrument(name = "reply by sms", skip_all, fields(code = code, action = action.as_str()))]
pub async fn reply_by_sms(
    tx: &Transaction<'_>,
    phone: &str,
    code: i16,
    action: Action,
) -> anyhow::Result<Outcome> {
    let Some(owner) = crate::db::sms::code_owner(tx, phone, code).await? else {
        return Ok(Outcome::Refused("no open page has this code"));
    };
    let (actor, who) = recipient_actor(
        owner.external_id,
        owner.name,
        owner.recipient_id,
        "SMS reply",
    );
    let outcome =
        escalations::transition(tx, owner.tenant_id, owner.escalation_id, action, &actor).await?;
    Ok(outcome_of(outcome, action, who))
}

/// A recipient acting from a message, and their name as people know them.
fn recipient_actor(
    external_id: String,
    name: Option<String>,
    recipient_id: Uuid,
    user_agent: &str,
) -> (Actor, String) {
    let who = name.unwrap_or_else(|| external_id.clone());
    let actor = Actor {
        kind: ActorKind::Recipient,
        id: external_id,
        display: who.clone(),
        recipient_id: Some(recipient_id),
        ip: None,
        user_agent: Some(user_agent.to_owned()),
    };
    (actor, who)
}

fn outcome_of(transition: Transition, action: Action, who: String) -> Outcome {
    match transition {
        Transition::Applied(state) => Outcome::Applied { action, state, who },
        Transition::AlreadyDone(state) => Outcome::AlreadyDone(state),
        Transition::NotFound => Outcome::Refused("this escalation no longer exists"),
    }
}

/// Applies a Slack button's action for the Slack user who pressed it, as the recipient
/// Herald paged under that Slack id in the tenant that installed the workspace. Nobody
/// else may answer through Slack: not an unknown workspace or user, nor a colleague who
/// was not paged for this escalation.
#[tracing::instrument(name = "press slack button", skip_all, fields(escalation_id = %escalation_id, action = action.as_str()))]
pub async fn press_slack_button(
    client: &mut Client,
    slack_team_id: &str,
    slack_user_id: &str,
    escalation_id: Uuid,
    action: Action,
) -> anyhow::Result<Outcome> {
    let found =
        crate::db::slack::actor(client, slack_team_id, slack_user_id, escalation_id).await?;
    let Some(found) = found else {
        return Ok(Outcome::Refused(
            "this Slack workspace is not connected to Herald",
        ));
    };
    let Some(recipient) = found.recipient else {
        return Ok(Outcome::Refused(
            "Herald does not know your Slack account: ask an admin to add your Slack user id",
        ));
    };
    if !recipient.paged {
        return Ok(Outcome::Refused("you were not paged for this escalation"));
    }
    let (actor, who) =
        recipient_actor(recipient.external_id, recipient.name, recipient.id, "Slack");
    let tx = client.transaction().await?;
    let transition = act(tx, found.tenant_id, escalation_id, action, &actor).await?;
    Ok(outcome_of(transition, action, who))
}

/// The one place an action is applied, inside the caller's transaction (a magic link
/// has consumed its token in it): committed when it changed the escalation, rolled
/// back (with the token) when it did not.
async fn act(
    tx: Transaction<'_>,
    tenant_id: Uuid,
    escalation_id: Uuid,
    action: Action,
    actor: &Actor,
) -> anyhow::Result<Transition> {
    let outcome = escalations::transition(&tx, tenant_id, escalation_id, action, actor).await?;
    if let Transition::Applied(state) = &outcome {
        tx.commit().await?;
        tracing::info!(escalation_id = %state.id, action = action.as_str(), actor = actor.kind.as_str(), "applied");
    } else {
        tx.rollback().await?;
    }
    Ok(outcome)
}
