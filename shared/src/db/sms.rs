//! SMS replies: which page a number's code stands for (codes are handed out by the SMS
//! claim, see [`super::notifications::claim`]), and every inbound message handled, so
//! none is acted on or answered twice.

use anyhow::Context;
use uuid::Uuid;

use super::Client;

/// Who a code was sent to, and for which escalation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeOwner {
    pub tenant_id: Uuid,
    pub escalation_id: Uuid,
    pub title: String,
    pub recipient_id: Uuid,
    pub external_id: String,
    pub name: Option<String>,
}

/// The page `phone`'s code `code` stands for, if it still stands for one.
#[tracing::instrument(name = "find sms reply code", skip_all)]
pub async fn code_owner(
    client: &Client,
    phone: &str,
    code: i16,
) -> anyhow::Result<Option<CodeOwner>> {
    let stmt = client
        .prepare_cached(
            r#"
            SELECT k.tenant_id, k.escalation_id, e.title, r.id AS recipient_id, r.external_id, r.name
            FROM sms_reply_codes k
            JOIN escalations e ON e.id = k.escalation_id AND e.tenant_id = k.tenant_id
            JOIN recipients r ON r.id = k.recipient_id AND r.tenant_id = k.tenant_id
            WHERE k.phone = $1 AND k.code = $2
            "#,
        )
        .await?;
    let row = client
        .query_opt(&stmt, &[&phone, &code])
        .await
        .context("finding an SMS reply code")?;
    Ok(row.map(|row| CodeOwner {
        tenant_id: row.get("tenant_id"),
        escalation_id: row.get("escalation_id"),
        title: row.get("title"),
        recipient_id: row.get("recipient_id"),
        external_id: row.get("external_id"),
        name: row.get("name"),
    }))
}

/// An inbound message handled before (SQS delivers at least once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    /// What Herald answers, if anything.
    pub answer: Option<String>,
    /// The answer went out.
    pub answered: bool,
}

/// How an inbound message was handled, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyOutcome {
    Applied,
    AlreadyDone,
    UnknownCode,
    Help,
    CarrierKeyword,
}

impl ReplyOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplyOutcome::Applied => "applied",
            ReplyOutcome::AlreadyDone => "already_done",
            ReplyOutcome::UnknownCode => "unknown_code",
            ReplyOutcome::Help => "help",
            ReplyOutcome::CarrierKeyword => "carrier_keyword",
        }
    }

    /// Help (for an unknown code or an unreadable reply) goes to a number at most once
    /// per [`HELP_EVERY_SECS`]: an auto-responder answering Herald must not start a loop.
    fn is_help(self) -> bool {
        matches!(self, ReplyOutcome::UnknownCode | ReplyOutcome::Help)
    }
}

/// At most one help text per number in this many seconds.
pub const HELP_EVERY_SECS: f64 = 600.0;

/// The inbound message `inbound_message_id`, if it was handled already.
pub async fn handled(client: &Client, inbound_message_id: &str) -> anyhow::Result<Option<Handled>> {
    let stmt = client
        .prepare_cached(
            "SELECT answer, answered_at IS NOT NULL AS answered FROM sms_replies WHERE inbound_message_id = $1",
        )
        .await?;
    let row = client
        .query_opt(&stmt, &[&inbound_message_id])
        .await
        .context("looking up an inbound SMS")?;
    Ok(row.map(|row| Handled {
        answer: row.get("answer"),
        answered: row.get("answered"),
    }))
}

/// Records how an inbound message was handled and what to answer. Help is dropped when
/// the number had help less than [`HELP_EVERY_SECS`] ago. `None` when another delivery
/// of the same message recorded it first (it answers); else the answer to send now.
#[tracing::instrument(name = "record sms reply", skip_all, fields(outcome = outcome.as_str()))]
pub async fn record(
    client: &Client,
    inbound_message_id: &str,
    phone: &str,
    outcome: ReplyOutcome,
    escalation_id: Option<Uuid>,
    answer: Option<&str>,
) -> anyhow::Result<Option<Handled>> {
    let stmt = client
        .prepare_cached(
            r#"
            INSERT INTO sms_replies (inbound_message_id, phone, outcome, escalation_id, answer)
            SELECT $1, $2, $3, $4,
                   CASE WHEN $6 AND EXISTS (
                            SELECT 1 FROM sms_replies h
                            WHERE h.phone = $2 AND h.outcome IN ('unknown_code', 'help')
                              AND h.answer IS NOT NULL
                              AND h.received_at > now() - make_interval(secs => $7))
                        THEN NULL ELSE $5 END
            ON CONFLICT (inbound_message_id) DO NOTHING
            RETURNING answer
            "#,
        )
        .await?;
    let row = client
        .query_opt(
            &stmt,
            &[
                &inbound_message_id,
                &phone,
                &outcome.as_str(),
                &escalation_id,
                &answer,
                &outcome.is_help(),
                &HELP_EVERY_SECS,
            ],
        )
        .await
        .context("recording an inbound SMS")?;
    Ok(row.map(|row| Handled {
        answer: row.get("answer"),
        answered: false,
    }))
}

/// The answer to `inbound_message_id` went out.
pub async fn mark_answered(client: &Client, inbound_message_id: &str) -> anyhow::Result<()> {
    let stmt = client
        .prepare_cached(
            "UPDATE sms_replies SET answered_at = now() WHERE inbound_message_id = $1 AND answered_at IS NULL",
        )
        .await?;
    client
        .execute(&stmt, &[&inbound_message_id])
        .await
        .context("marking an SMS answer sent")?;
    Ok(())
}
