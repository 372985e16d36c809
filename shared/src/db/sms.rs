//! SMS replies: which page a number's code stands for (codes are handed out by the SMS
//! claim, see [`super::notifications::claim`]), and every inbound message handled, so
//! none is acted on or answered twice.

use anyhow::Context;
use uuid::Uuid;

use super::{Client, Transaction};

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
    client: &Transaction<'_>,
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

/// How an inbound message was handled, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyOutcome {
    Applied,
    AlreadyDone,
    UnknownCode,
    Help,
    CarrierKeyword,
    /// It reached Herald too late to act on ([`crate::sms_reply::MAX_REPLY_AGE`]).
    TooLate,
}

impl ReplyOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplyOutcome::Applied => "applied",
            ReplyOutcome::AlreadyDone => "already_done",
            ReplyOutcome::UnknownCode => "unknown_code",
            ReplyOutcome::Help => "help",
            ReplyOutcome::CarrierKeyword => "carrier_keyword",
            ReplyOutcome::TooLate => "too_late",
        }
    }

    /// Help (for an unknown code or an unreadable reply) goes to a number at most once
    /// per [`HELP_EVERY`]: an auto-responder answering Herald must not start a loop.
    fn is_help(self) -> bool {
        matches!(
            self,
            ReplyOutcome::UnknownCode | ReplyOutcome::Help | ReplyOutcome::TooLate
        )
    }
}

/// At most one help text per number this often.
pub const HELP_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// Starts handling the inbound message `inbound_message_id` in `tx`: records it, after
/// waiting for any other transaction handling a message from the same number (so two
/// replies from one number are handled one after the other, and the help limit sees
/// the first). `false` when it was handled already: another delivery of the same
/// message (SQS delivers at least once) committed it first.
pub async fn begin(
    tx: &Transaction<'_>,
    inbound_message_id: &str,
    phone: &str,
) -> anyhow::Result<bool> {
    let stmt = tx
        .prepare_cached(
            r#"
            INSERT INTO sms_replies (inbound_message_id, phone)
            SELECT $1, $2 FROM pg_advisory_xact_lock(hashtextextended('sms_reply:' || $2, 0))
            ON CONFLICT (inbound_message_id) DO NOTHING
            "#,
        )
        .await?;
    let inserted = tx
        .execute(&stmt, &[&inbound_message_id, &phone])
        .await
        .context("recording an inbound SMS")?;
    Ok(inserted == 1)
}

/// Records, in the transaction [`begin`] started, how the message was handled and what
/// to answer. Help is dropped when the number had help less than [`HELP_EVERY`] ago.
#[tracing::instrument(name = "record sms reply", skip_all, fields(outcome = outcome.as_str()))]
pub async fn finish(
    tx: &Transaction<'_>,
    inbound_message_id: &str,
    outcome: ReplyOutcome,
    escalation_id: Option<Uuid>,
    answer: Option<&str>,
) -> anyhow::Result<()> {
    let stmt = tx
        .prepare_cached(
            r#"
            UPDATE sms_replies AS r SET
                outcome = $2, escalation_id = $3,
                answer = CASE WHEN $5 AND EXISTS (
                             SELECT 1 FROM sms_replies h
                             WHERE h.phone = r.phone AND h.inbound_message_id <> r.inbound_message_id
                               AND h.outcome IN ('unknown_code', 'help', 'too_late') AND h.answer IS NOT NULL
                               AND h.received_at > now() - make_interval(secs => $6))
                         THEN NULL ELSE $4 END
            WHERE r.inbound_message_id = $1
            "#,
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &inbound_message_id,
            &outcome.as_str(),
            &escalation_id,
            &answer,
            &outcome.is_help(),
            &HELP_EVERY.as_secs_f64(),
        ],
    )
    .await
    .context("recording how an inbound SMS was handled")?;
    Ok(())
}

/// An answer still to send, and the reply it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unanswered {
    pub answer: String,
    pub outcome: Option<ReplyOutcome>,
    pub escalation_id: Option<Uuid>,
}

/// How long one delivery of a message holds its answer before another may send it.
pub const ANSWER_LEASE: std::time::Duration = std::time::Duration::from_secs(30);

/// Takes the answer to `inbound_message_id` for sending, if it has one not sent yet and
/// no other delivery of the message is sending it (under a lease of [`ANSWER_LEASE`]).
pub async fn take_answer(
    client: &Client,
    inbound_message_id: &str,
) -> anyhow::Result<Option<Unanswered>> {
    let stmt = client
        .prepare_cached(
            r#"
            UPDATE sms_replies SET answering_until = now() + make_interval(secs => $2)
            WHERE inbound_message_id = $1 AND answer IS NOT NULL AND answered_at IS NULL
              AND (answering_until IS NULL OR answering_until < now())
            RETURNING answer, outcome, escalation_id
            "#,
        )
        .await?;
    let row = client
        .query_opt(&stmt, &[&inbound_message_id, &ANSWER_LEASE.as_secs_f64()])
        .await
        .context("taking an SMS answer")?;
    Ok(row.map(|row| Unanswered {
        answer: row.get("answer"),
        outcome: match row.get::<_, Option<&str>>("outcome") {
            Some("applied") => Some(ReplyOutcome::Applied),
            Some("already_done") => Some(ReplyOutcome::AlreadyDone),
            Some("unknown_code") => Some(ReplyOutcome::UnknownCode),
            Some("help") => Some(ReplyOutcome::Help),
            Some("carrier_keyword") => Some(ReplyOutcome::CarrierKeyword),
            Some("too_late") => Some(ReplyOutcome::TooLate),
            _ => None,
        },
        escalation_id: row.get("escalation_id"),
    }))
}

/// The answer to `inbound_message_id` went out (or will never go).
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
