//! The tenant's suppression list: `GET /v1/suppressions` (newest first, `?channel=`,
//! keyset pages) and `DELETE /v1/suppressions/{channel}/{address}`. Entries are written
//! by the `feedback` function from provider receipts (see `herald::domain::receipt`);
//! removing one lets the address be paged again.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use herald::db::receipts::{self, Suppression, SuppressionCursor};
use herald::db::tenants::Principal;
use herald::domain::Channel;
use herald::domain::receipt::suppression_key;
use herald::http::{ApiError, json, no_content};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

use crate::handlers::{Page, invalid, page_limit, query};

/// Only channels whose addresses a provider can report bad.
fn channel(raw: &str) -> Result<Channel, ApiError> {
    raw.parse::<Channel>()
        .ok()
        .filter(|c| {
            matches!(
                c,
                Channel::Email | Channel::Sms | Channel::Push | Channel::Voice
            )
        })
        .ok_or_else(|| invalid("channel", "`channel` is one of email, sms, push, voice"))
}

fn encode(s: &Suppression) -> String {
    let raw = format!(
        "{}|{}|{}",
        s.created_at.timestamp_micros(),
        s.channel.as_str(),
        s.address
    );
    URL_SAFE_NO_PAD.encode(raw)
}

fn decode(raw: &str) -> Option<SuppressionCursor> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).ok()?).ok()?;
    let mut parts = text.splitn(3, '|');
    let at = DateTime::<Utc>::from_timestamp_micros(parts.next()?.parse().ok()?)?;
    let channel = parts.next()?.to_owned();
    let address = parts.next()?.to_owned();
    Some((at, channel, address))
}

pub async fn list(
    client: &herald::db::Client,
    principal: &Principal,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let channel = query(req, "channel").map(|c| channel(&c)).transpose()?;
    let limit = page_limit(req)?;
    let after = query(req, "cursor")
        .map(|raw| {
            decode(&raw).ok_or_else(|| invalid("cursor", "`cursor` is not one this API gave"))
        })
        .transpose()?;
    // One more than asked: whether there is a next page, without a count.
    let items = receipts::list_suppressions(
        client,
        principal.tenant_id,
        channel,
        after.as_ref(),
        limit + 1,
    )
    .await?;
    Ok(json(StatusCode::OK, &Page::of(items, limit, encode)))
}

pub async fn delete(
    client: &herald::db::Client,
    principal: &Principal,
    channel_raw: &str,
    address: &str,
) -> Result<Response<Body>, ApiError> {
    let channel = channel(channel_raw)?;
    let address = suppression_key(channel, address);
    if !receipts::remove_suppression(client, principal.tenant_id, channel, &address).await? {
        return Err(ApiError::NotFound("suppression"));
    }
    tracing::info!(channel = %channel, "suppression removed");
    Ok(no_content())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_read_back_what_they_wrote() {
        let s = Suppression {
            channel: Channel::Email,
            address: "a|b@example.com".into(),
            reason: "bounced".into(),
            detail: None,
            provider_message_id: None,
            created_at: DateTime::from_timestamp_micros(1_796_612_401_123_456).expect("time"),
        };
        assert_eq!(
            decode(&encode(&s)),
            Some((s.created_at, "email".into(), "a|b@example.com".into()))
        );
        assert_eq!(decode("not a cursor"), None);
    }
}
