//! Slack interactivity: the request signature Slack puts on every interaction and
//! event, the one kind of interaction Herald acts on (an Acknowledge or Resolve
//! button), and the Events API events it reads (Slack's URL check, revoked tokens).
//!
//! The signature is checked over the raw body BEFORE anything in it is read: v0,
//! HMAC-SHA256 with the app's signing secret over `v0:{timestamp}:{body}`, compared in
//! constant time, and only within five minutes of the request's timestamp.

use aws_lc_rs::hmac;
use serde::Deserialize;
use uuid::Uuid;

use super::Action;

/// How far a request's timestamp may be from now, either way.
pub const MAX_CLOCK_SKEW_SECS: i64 = 5 * 60;
/// The button ids Herald puts on its messages.
pub const ACKNOWLEDGE_ACTION_ID: &str = "herald_acknowledge";
pub const RESOLVE_ACTION_ID: &str = "herald_resolve";

/// Why a request is not Slack's (all answered 401, and nothing is read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Slack-Signature or X-Slack-Request-Timestamp header is missing")]
    Missing,
    #[error("X-Slack-Request-Timestamp is not a Unix time")]
    BadTimestamp,
    #[error("the request is more than five minutes old (or from the future)")]
    Stale,
    #[error("the signature does not match")]
    Mismatch,
}

/// Checks a request's `X-Slack-Signature` (`v0=<hex>`) and `X-Slack-Request-Timestamp`
/// against the raw `body`, at `now` (Unix seconds). Gives back the signature's bytes:
/// the request's identity, to refuse it if it comes again.
pub fn verify_signature(
    signing_secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<Vec<u8>, SignatureError> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(SignatureError::Missing);
    };
    let sent: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    if now.abs_diff(sent) > MAX_CLOCK_SKEW_SECS.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    let tag = signature
        .strip_prefix("v0=")
        .and_then(decode_hex)
        .ok_or(SignatureError::Mismatch)?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, signing_secret);
    let mut signed = Vec::with_capacity(body.len() + timestamp.len() + 4);
    signed.extend_from_slice(b"v0:");
    signed.extend_from_slice(timestamp.as_bytes());
    signed.push(b':');
    signed.extend_from_slice(body);
    // Constant time: aws-lc compares the whole tag whatever the first difference.
    hmac::verify(&key, &signed, &tag).map_err(|_| SignatureError::Mismatch)?;
    Ok(tag)
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != 64 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A verified interaction, as far as Herald cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interaction {
    /// Someone pressed Acknowledge or Resolve on a Herald message.
    Button {
        team_id: String,
        user_id: String,
        action: Action,
        escalation_id: Uuid,
        /// Where the clicked message is (`channel`, `ts`), to update it first.
        message: Option<(String, String)>,
    },
    /// Anything else (the Dashboard link button, another app's surface): answered 200
    /// and ignored.
    Other,
}

/// Why a signed body is not an interaction Herald can read (400: Slack sent something
/// this code does not understand; nothing is changed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a Slack interaction payload: {0}")]
pub struct PayloadError(pub &'static str);

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    team: Option<Id>,
    #[serde(default)]
    user: Option<User>,
    #[serde(default)]
    actions: Vec<PayloadAction>,
    #[serde(default)]
    container: Option<Container>,
}

#[derive(Deserialize)]
struct Id {
    id: String,
}

#[derive(Deserialize)]
struct User {
    id: String,
    #[serde(default)]
    team_id: Option<String>,
}

#[derive(Deserialize)]
struct PayloadAction {
    action_id: String,
    #[serde(default)]
    value: Option<String>,
}

#[derive(Deserialize)]
struct Container {
    #[serde(default)]
    channel_id: Option<String>,
    #[serde(default)]
    message_ts: Option<String>,
}

/// Reads an interaction from its (already verified) form body: `payload=<JSON>`.
pub fn parse_interaction(body: &[u8]) -> Result<Interaction, PayloadError> {
    let json = url::form_urlencoded::parse(body)
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v.into_owned())
        .ok_or(PayloadError("no payload field"))?;
    let payload: Payload = serde_json::from_str(&json)
        .map_err(|_| PayloadError("payload is not the JSON Slack documents"))?;
    if payload.kind != "block_actions" {
        return Ok(Interaction::Other);
    }
    let Some(pressed) = payload.actions.first() else {
        return Ok(Interaction::Other);
    };
    let action = match pressed.action_id.as_str() {
        ACKNOWLEDGE_ACTION_ID => Action::Acknowledge,
        RESOLVE_ACTION_ID => Action::Resolve,
        _ => return Ok(Interaction::Other),
    };
    let escalation_id = pressed
        .value
        .as_deref()
        .and_then(|v| Uuid::parse_str(v).ok())
        .ok_or(PayloadError("the button's value is not an escalation id"))?;
    let user = payload.user.ok_or(PayloadError("no user"))?;
    // An Enterprise Grid user acts for the workspace the message is in.
    let team_id = payload
        .team
        .map(|t| t.id)
        .or(user.team_id)
        .ok_or(PayloadError("no team"))?;
    let message = payload
        .container
        .and_then(|c| Some((c.channel_id?, c.message_ts?)));
    Ok(Interaction::Button {
        team_id,
        user_id: user.id,
        action,
        escalation_id,
        message,
    })
}

/// A verified Events API request, as far as Herald cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Slack checks the Request URL: answer its challenge.
    UrlVerification { challenge: String },
    /// Tokens of workspace `team_id` Slack revoked: people's (`users`, their user ids)
    /// and the bot's (`bots`, bot user ids).
    TokensRevoked {
        team_id: String,
        users: Vec<String>,
        bots: Vec<String>,
    },
    /// The app was removed from workspace `team_id`: every token of it is dead.
    AppUninstalled { team_id: String },
    /// Anything else: acknowledged and ignored.
    Other,
}

#[derive(Deserialize)]
struct EventEnvelope {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    challenge: Option<String>,
    #[serde(default)]
    team_id: Option<String>,
    #[serde(default)]
    event: Option<InnerEvent>,
}

#[derive(Deserialize)]
struct InnerEvent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    tokens: RevokedTokens,
}

#[derive(Deserialize, Default)]
struct RevokedTokens {
    #[serde(default)]
    oauth: Vec<String>,
    #[serde(default)]
    bot: Vec<String>,
}

/// Reads a signed Events API body (JSON), after [`verify_signature`].
pub fn parse_event(body: &[u8]) -> Result<Event, PayloadError> {
    let envelope: EventEnvelope = serde_json::from_slice(body)
        .map_err(|_| PayloadError("not the Events API JSON Slack documents"))?;
    match envelope.kind.as_str() {
        "url_verification" => {
            let challenge = envelope
                .challenge
                .filter(|c| !c.is_empty() && c.len() <= 200)
                .ok_or(PayloadError("a URL check without a challenge"))?;
            Ok(Event::UrlVerification { challenge })
        }
        "event_callback" => {
            let Some(event) = envelope.event else {
                return Err(PayloadError("an event callback without an event"));
            };
            let team_id = || envelope.team_id.clone().ok_or(PayloadError("no team"));
            match event.kind.as_str() {
                "tokens_revoked" => Ok(Event::TokensRevoked {
                    team_id: team_id()?,
                    users: event.tokens.oauth,
                    bots: event.tokens.bot,
                }),
                "app_uninstalled" => Ok(Event::AppUninstalled {
                    team_id: team_id()?,
                }),
                _ => Ok(Event::Other),
            }
        }
        _ => Ok(Event::Other),
    }
}

/// Signs `body` as Slack would (for the local demo, the tests and the bench).
pub fn sign(signing_secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, signing_secret);
    let mut signed = format!("v0:{timestamp}:").into_bytes();
    signed.extend_from_slice(body);
    let tag = hmac::sign(&key, &signed);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("v0={hex}")
}

/// The form body Slack posts when `user_id` of `team_id` presses `action_id` on the
/// message `(channel, ts)` (for the local demo, the tests and the bench).
pub fn button_click_body(
    team_id: &str,
    user_id: &str,
    action_id: &str,
    escalation_id: Uuid,
    message: (&str, &str),
) -> Vec<u8> {
    let payload = serde_json::json!({
        "type": "block_actions",
        "team": { "id": team_id, "domain": "herald-demo" },
        "user": { "id": user_id, "team_id": team_id, "name": "someone" },
        "api_app_id": "A0HERALD01",
        "container": { "type": "message", "channel_id": message.0, "message_ts": message.1 },
        "trigger_id": "1790000000.1.herald",
        "response_url": "https://hooks.slack.com/actions/T0/1/x",
        "actions": [{
            "type": "button", "action_id": action_id, "block_id": "herald_actions",
            "value": escalation_id.to_string(), "action_ts": "1790000001.000100"
        }]
    });
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish()
        .into_bytes()
}

#[cfg(test)]
mod tests {
    #[test]
    fn events_herald_reads_and_the_rest_ignored() {
        let check = br#"{"token":"t","challenge":"abc123","type":"url_verification"}"#;
        assert_eq!(
            parse_event(check),
            Ok(Event::UrlVerification {
                challenge: "abc123".into()
            })
        );
        let revoked = br#"{"token":"t","team_id":"T0A","api_app_id":"A0B","type":"event_callback",
            "event":{"type":"tokens_revoked","tokens":{"oauth":["U0X"],"bot":["U0BOT"]}},
            "event_id":"Ev1","event_time":1}"#;
        assert_eq!(
            parse_event(revoked),
            Ok(Event::TokensRevoked {
                team_id: "T0A".into(),
                users: vec!["U0X".into()],
                bots: vec!["U0BOT".into()],
            })
        );
        let only_bot = br#"{"team_id":"T0A","type":"event_callback",
            "event":{"type":"tokens_revoked","tokens":{"bot":["U0BOT"]}}}"#;
        assert!(matches!(
            parse_event(only_bot),
            Ok(Event::TokensRevoked { users, .. }) if users.is_empty()
        ));
        let gone =
            br#"{"team_id":"T0A","type":"event_callback","event":{"type":"app_uninstalled"}}"#;
        assert_eq!(
            parse_event(gone),
            Ok(Event::AppUninstalled {
                team_id: "T0A".into()
            })
        );
        let mention =
            br#"{"team_id":"T0A","type":"event_callback","event":{"type":"app_mention"}}"#;
        assert_eq!(parse_event(mention), Ok(Event::Other));
        assert!(parse_event(b"payload=%7B%7D").is_err());
        assert!(parse_event(br#"{"type":"url_verification"}"#).is_err());
        assert!(
            parse_event(br#"{"type":"event_callback","event":{"type":"app_uninstalled"}}"#)
                .is_err()
        );
    }

    use super::*;

    // Slack's documented example ("Verifying requests from Slack").
    const SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";
    const TIMESTAMP: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    const THEN: i64 = 1_531_420_618;

    fn check(
        ts: Option<&str>,
        sig: Option<&str>,
        body: &str,
        now: i64,
    ) -> Result<(), SignatureError> {
        verify_signature(SECRET, ts, sig, body.as_bytes(), now).map(|_| ())
    }

    #[test]
    fn slacks_documented_vector_verifies() {
        assert_eq!(
            check(Some(TIMESTAMP), Some(SIGNATURE), BODY, THEN + 10),
            Ok(())
        );
        assert_eq!(sign(SECRET, THEN, BODY.as_bytes()), SIGNATURE);
    }

    #[test]
    fn any_change_to_body_timestamp_or_secret_fails() {
        let mut body = BODY.to_owned();
        body.push('x');
        assert_eq!(
            check(Some(TIMESTAMP), Some(SIGNATURE), &body, THEN),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check(Some("1531420619"), Some(SIGNATURE), BODY, THEN),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(
                b"another secret",
                Some(TIMESTAMP),
                Some(SIGNATURE),
                BODY.as_bytes(),
                THEN
            )
            .map(|_| ()),
            Err(SignatureError::Mismatch)
        );
        let upper = SIGNATURE.replace("v0=", "v1=");
        assert_eq!(
            check(Some(TIMESTAMP), Some(&upper), BODY, THEN),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check(Some(TIMESTAMP), Some("v0=zz"), BODY, THEN),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn requests_older_or_newer_than_five_minutes_are_stale() {
        assert_eq!(
            check(Some(TIMESTAMP), Some(SIGNATURE), BODY, THEN + 300),
            Ok(())
        );
        assert_eq!(
            check(Some(TIMESTAMP), Some(SIGNATURE), BODY, THEN + 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            check(Some(TIMESTAMP), Some(SIGNATURE), BODY, THEN - 301),
            Err(SignatureError::Stale)
        );
    }

    #[test]
    fn missing_headers_or_a_bad_timestamp_are_refused() {
        assert_eq!(
            check(None, Some(SIGNATURE), BODY, THEN),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            check(Some(TIMESTAMP), None, BODY, THEN),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            check(Some("yesterday"), Some(SIGNATURE), BODY, THEN),
            Err(SignatureError::BadTimestamp)
        );
        // No overflow on absurd timestamps: simply stale.
        for absurd in [i64::MIN, i64::MAX] {
            assert_eq!(
                check(Some(&absurd.to_string()), Some(SIGNATURE), BODY, THEN),
                Err(SignatureError::Stale)
            );
        }
    }

    #[test]
    fn a_button_click_is_read() {
        let id = Uuid::new_v4();
        let body = button_click_body(
            "T0AAA1",
            "U0BBB2",
            ACKNOWLEDGE_ACTION_ID,
            id,
            ("D0C", "1.2"),
        );
        assert_eq!(
            parse_interaction(&body),
            Ok(Interaction::Button {
                team_id: "T0AAA1".into(),
                user_id: "U0BBB2".into(),
                action: Action::Acknowledge,
                escalation_id: id,
                message: Some(("D0C".into(), "1.2".into())),
            })
        );
        let body = button_click_body("T0AAA1", "U0BBB2", RESOLVE_ACTION_ID, id, ("D0C", "1.2"));
        assert!(matches!(
            parse_interaction(&body),
            Ok(Interaction::Button {
                action: Action::Resolve,
                ..
            })
        ));
    }

    #[test]
    fn other_interactions_are_ignored_and_garbage_refused() {
        let id = Uuid::new_v4();
        let body = button_click_body("T0AAA1", "U0BBB2", "herald_dashboard", id, ("D0C", "1.2"));
        assert_eq!(parse_interaction(&body), Ok(Interaction::Other));
        let view = b"payload=%7B%22type%22%3A%22view_submission%22%7D";
        assert_eq!(parse_interaction(view), Ok(Interaction::Other));
        assert!(parse_interaction(b"token=x").is_err());
        assert!(parse_interaction(b"payload=not-json").is_err());
        let bad_value = String::from_utf8(button_click_body(
            "T0AAA1",
            "U0BBB2",
            ACKNOWLEDGE_ACTION_ID,
            id,
            ("D", "1"),
        ))
        .expect("utf-8")
        .replace(&id.to_string(), "DROP");
        assert!(parse_interaction(bad_value.as_bytes()).is_err());
    }
}
