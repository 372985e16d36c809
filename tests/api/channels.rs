//! Every channel through the same claim -> send -> record path: the message read back
//! from the emulator (or the local provider), its content, how provider errors are
//! classified, and that a redelivered SQS message sends once.

use herald::domain::Channel;
use herald::queue::Envelope;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{PUBLIC_BASE_URL, TestApp, magic_tokens, unique_phone};

/// A title with HTML, JSON and SSML metacharacters: every channel must carry it intact
/// (or escaped for its format), never break on it.
pub const NASTY_TITLE: &str = r#"DB <primary> & "replica" 'down' ]]> \ é"#;

pub fn escalation_on(channels: &[&str], recipient: Value) -> Value {
    json!({
        "dedup_key": format!("dk-{}", Uuid::new_v4()),
        "title": NASTY_TITLE,
        "body": "p99 latency 2.3 s; connections saturating.",
        "priority": "critical",
        "service": "orders-db",
        "recipients": [recipient],
        "channels": { "primary": channels }
    })
}

/// The id of the `channel` notification in an ingest response.
pub fn notification_of(created: &Value, channel: Channel) -> Uuid {
    created["notifications"]
        .as_array()
        .expect("notifications")
        .iter()
        .find(|n| n["channel"] == channel.as_str())
        .and_then(|n| n["id"].as_str())
        .unwrap_or_else(|| panic!("no {channel} notification in {created}"))
        .parse()
        .expect("uuid")
}

/// The delivery row of `id`: status, reason, error, retryable, provider message id.
pub async fn row(app: &TestApp, id: Uuid) -> Value {
    let client = app.pool.get().await.expect("conn");
    let r = client
        .query_one(
            "SELECT status, suppressed_reason, error, retryable, provider_message_id, attempt_count \
             FROM notification_log WHERE id = $1",
            &[&id],
        )
        .await
        .expect("row");
    json!({
        "status": r.get::<_, String>(0),
        "reason": r.get::<_, Option<String>>(1),
        "error": r.get::<_, Option<String>>(2),
        "retryable": r.get::<_, Option<bool>>(3),
        "provider_message_id": r.get::<_, Option<String>>(4),
        "attempt_count": r.get::<_, i32>(5),
    })
}

/// The delivery row of the recipient `external_id` in the escalation ingest answered
/// with: status, retryable, error, and the seconds until its next attempt.
pub async fn row_of(app: &TestApp, created: &Value, external_id: &str) -> tokio_postgres::Row {
    app.pool
        .get()
        .await
        .expect("conn")
        .query_one(
            "SELECT n.status, n.retryable, n.error, \
                    extract(epoch FROM n.next_attempt_at - now())::float8 AS wait \
             FROM notification_log n JOIN recipients r ON r.id = n.recipient_id \
             WHERE n.escalation_id = $1::text::uuid AND r.external_id = $2",
            &[&created["id"].as_str().expect("id"), &external_id],
        )
        .await
        .expect("row")
}

/// Sends the envelope of `id` to its channel's queue twice more and dispatches: SQS is
/// at-least-once, and the claim must make the duplicates no-ops.
pub async fn redeliver_twice(app: &TestApp, channel: Channel, id: Uuid) {
    let body = serde_json::to_string(&Envelope {
        notification_id: id,
        trace_id: None,
    })
    .expect("json");
    for _ in 0..2 {
        app.sqs
            .send_message()
            .queue_url(&app.queues[&channel].url)
            .message_body(&body)
            .send()
            .await
            .expect("send");
    }
    assert_eq!(app.dispatch_channel(channel).await, 2);
}

#[tokio::test]
async fn sms_is_one_transactional_segment_with_an_acknowledge_link_and_sent_once() {
    let app = TestApp::spawn().await;
    let phone = unique_phone();
    let created = app
        .post_escalation(&escalation_on(
            &["sms"],
            json!({ "id": "u-bob", "name": "Bob", "phone": phone }),
        ))
        .await;
    assert_eq!(created.status, 202, "{}", created.text);
    let created = created.json();
    let id = notification_of(&created, Channel::Sms);
    assert_eq!(app.dispatch_channel(Channel::Sms).await, 1);

    let sms = app.sms_to(&phone).await;
    assert_eq!(sms.len(), 1, "{sms:?}");
    let text = &sms[0];
    assert!(
        text.starts_with(&format!(
            "[CRITICAL] {NASTY_TITLE} Ack: {PUBLIC_BASE_URL}/l/"
        )),
        "{text}"
    );
    let (encoding, units) = herald::domain::sms::measure(text);
    assert_eq!(herald::domain::sms::segments(encoding, units), 1, "{text}");
    let tokens = magic_tokens(text);
    assert_eq!(tokens.len(), 1, "only an acknowledge link: {text}");
    assert_eq!(
        app.scalar_i64(&format!(
            "SELECT count(*) FROM magic_link_tokens WHERE notification_id = '{id}'"
        ))
        .await,
        1,
        "a token is minted only for the action the SMS offers"
    );
    let r = row(&app, id).await;
    assert_eq!(r["status"], "sent");
    assert!(
        r["provider_message_id"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );

    redeliver_twice(&app, Channel::Sms, id).await;
    assert_eq!(app.sms_to(&phone).await.len(), 1, "sent once");

    // The link in the SMS acknowledges.
    assert_eq!(app.magic("POST", &tokens[0]).await.status, 200);
    let escalation = created["id"].as_str().expect("id");
    let detail = app
        .api("GET", &format!("/v1/escalations/{escalation}"), None)
        .await
        .json();
    assert_eq!(detail["status"], "acknowledged");
    assert_eq!(detail["acknowledged"]["by"], "Bob");
}

#[tokio::test]
async fn a_number_opted_out_at_the_carrier_is_suppressed_not_failed() {
    let app = TestApp::spawn().await;
    // The emulator says numbers ending in 99 opted out.
    let phone = format!("{}99", &unique_phone()[..10]);
    let created = app
        .post_escalation(&escalation_on(
            &["sms"],
            json!({ "id": "u-carol", "phone": phone }),
        ))
        .await
        .json();
    let id = notification_of(&created, Channel::Sms);
    app.dispatch_channel(Channel::Sms).await;

    assert!(app.sms_to(&phone).await.is_empty());
    let r = row(&app, id).await;
    assert_eq!(r["status"], "suppressed", "{r}");
    assert_eq!(r["reason"], "opted_out_at_carrier");
    assert_eq!(app.retry_once().await.requeued_failed, 0, "never retried");
}

#[tokio::test]
async fn push_carries_one_payload_per_platform_with_the_escalation_and_its_link() {
    let app = TestApp::spawn().await;
    let endpoint = app.push_endpoint().await;
    let created = app
        .post_escalation(&escalation_on(
            &["push"],
            json!({ "id": "u-dan", "push_endpoint_arn": endpoint }),
        ))
        .await;
    assert_eq!(created.status, 202, "{}", created.text);
    let created = created.json();
    let id = notification_of(&created, Channel::Push);
    assert_eq!(app.dispatch_channel(Channel::Push).await, 1);

    let messages = app.push_messages(&endpoint).await;
    assert_eq!(messages.len(), 1);
    let message: Value = serde_json::from_str(&messages[0]).expect("MessageStructure=json");
    let apns: Value = serde_json::from_str(message["APNS"].as_str().expect("APNS")).expect("json");
    let gcm: Value = serde_json::from_str(message["GCM"].as_str().expect("GCM")).expect("json");
    let title = format!("[CRITICAL] {NASTY_TITLE}");
    assert_eq!(apns["aps"]["alert"]["title"], title.as_str());
    assert_eq!(apns["aps"]["interruption-level"], "critical");
    assert_eq!(apns["escalation_id"], created["id"]);
    let fcm = &gcm["fcmV1Message"]["message"];
    assert_eq!(fcm["notification"]["title"], title.as_str());
    assert_eq!(fcm["android"]["priority"], "high");
    let link = fcm["data"]["acknowledge_url"].as_str().expect("link");
    assert_eq!(apns["acknowledge_url"], link);
    let tokens = magic_tokens(link);
    assert_eq!(tokens.len(), 1);
    assert_eq!(row(&app, id).await["status"], "sent");

    redeliver_twice(&app, Channel::Push, id).await;
    assert_eq!(app.push_messages(&endpoint).await.len(), 1, "sent once");
    assert_eq!(app.magic("POST", &tokens[0]).await.status, 200);
}

#[tokio::test]
async fn a_disabled_or_deleted_push_endpoint_fails_for_good() {
    let app = TestApp::spawn().await;
    let sns = herald::aws_sdk_sns::Client::new(&crate::helpers::sdk_config().await);
    let disabled = app.push_endpoint().await;
    sns.set_endpoint_attributes()
        .endpoint_arn(&disabled)
        .attributes("Enabled", "false")
        .send()
        .await
        .expect("disable");
    let deleted = app.push_endpoint().await;
    sns.delete_endpoint()
        .endpoint_arn(&deleted)
        .send()
        .await
        .expect("delete");

    for (endpoint, code) in [(disabled, "EndpointDisabled"), (deleted, "NotFound")] {
        let created = app
            .post_escalation(&escalation_on(
                &["push"],
                json!({ "id": format!("u-{code}"), "push_endpoint_arn": endpoint }),
            ))
            .await
            .json();
        let id = notification_of(&created, Channel::Push);
        app.dispatch_channel(Channel::Push).await;
        let r = row(&app, id).await;
        assert_eq!(r["status"], "failed", "{r}");
        assert_eq!(r["retryable"], false, "{r}");
        assert!(
            r["error"].as_str().is_some_and(|e| e.starts_with(code)),
            "{r}"
        );
    }
    assert_eq!(app.retry_once().await.requeued_failed, 0, "never retried");
}

#[tokio::test]
async fn a_channel_without_a_queue_is_recorded_as_not_enabled() {
    // A deployment that gives Slack no queue.
    let app = TestApp::spawn_with(crate::helpers::Options {
        tune: Box::new(|config| {
            config.channels.remove(&Channel::Slack);
        }),
        ..Default::default()
    })
    .await;
    let created = app
        .post_escalation(&escalation_on(
            &["email", "slack"],
            json!({ "id": "u-erin", "email": "erin@example.com", "slack_user_id": "U024BE7LH" }),
        ))
        .await
        .json();
    let slack = created["notifications"]
        .as_array()
        .expect("notifications")
        .iter()
        .find(|n| n["channel"] == "slack")
        .cloned()
        .expect("slack row");
    assert_eq!(slack["status"], "suppressed");
    assert_eq!(slack["reason"], "channel_not_enabled");
}

#[tokio::test]
async fn a_voice_call_reads_an_escaped_script_through_end_user_messaging() {
    let app = TestApp::spawn().await;
    let phone = unique_phone();
    let created = app
        .post_escalation(&escalation_on(
            &["voice"],
            json!({ "id": "u-vic", "phone": phone }),
        ))
        .await
        .json();
    let id = notification_of(&created, Channel::Voice);
    assert_eq!(app.dispatch_channel(Channel::Voice).await, 1);

    let calls: Vec<_> = app
        .fakes
        .voice_calls()
        .await
        .into_iter()
        .filter(|c| c.body["DestinationPhoneNumber"] == phone.as_str())
        .collect();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(
        call.header("content-type"),
        Some("application/x-amz-json-1.0")
    );
    assert_eq!(
        call.header("x-amz-target"),
        Some("PinpointSMSVoiceV2.SendVoiceMessage")
    );
    assert!(
        call.header("authorization")
            .is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256"))
    );
    assert_eq!(call.body["MessageBodyTextType"], "SSML");
    assert_eq!(call.body["VoiceId"], "JOANNA");
    assert_eq!(
        call.body["OriginationIdentity"],
        herald_local::stack::LOCAL_VOICE_NUMBER
    );
    let ssml = call.body["MessageBody"].as_str().expect("script");
    let escaped = "DB &lt;primary&gt; &amp; &quot;replica&quot; &apos;down&apos; ]]&gt; \\ é";
    assert_eq!(ssml.matches(escaped).count(), 2, "{ssml}");
    assert!(ssml.starts_with("<speak>") && ssml.ends_with("</speak>"));
    let r = row(&app, id).await;
    assert_eq!(r["status"], "sent", "{r}");
    assert!(r["provider_message_id"].as_str().is_some());
    assert_eq!(
        app.scalar_i64(&format!(
            "SELECT count(*) FROM magic_link_tokens WHERE notification_id = '{id}'"
        ))
        .await,
        0,
        "a call offers no link, so no token is minted"
    );
    redeliver_twice(&app, Channel::Voice, id).await;
    let again = app.fakes.voice_calls().await;
    assert_eq!(
        again
            .iter()
            .filter(|c| c.body["DestinationPhoneNumber"] == phone.as_str())
            .count(),
        1,
        "one call"
    );
}

#[tokio::test]
async fn voice_provider_errors_are_classified() {
    use wiremock::matchers::{body_partial_json, header};
    use wiremock::{Mock, ResponseTemplate};
    let app = TestApp::spawn().await;
    // End User Messaging's error shapes: `Message`, and a `Reason` field on conflicts
    // and validation errors (the text decides nothing).
    let cases = [
        ("ThrottlingException", None, "failed", Some(true)),
        (
            "ConflictException",
            Some("DESTINATION_PHONE_NUMBER_OPTED_OUT"),
            "suppressed",
            None,
        ),
        (
            "ValidationException",
            Some("DESTINATION_COUNTRY_BLOCKED"),
            "failed",
            Some(false),
        ),
        ("AccessDeniedException", None, "failed", Some(false)),
    ];
    let mut recipients = Vec::new();
    let mut phones = Vec::new();
    for (code, reason, _, _) in cases {
        let phone = unique_phone();
        Mock::given(header(
            "x-amz-target",
            "PinpointSMSVoiceV2.SendVoiceMessage",
        ))
        .and(body_partial_json(
            json!({ "DestinationPhoneNumber": phone }),
        ))
        .respond_with(
            ResponseTemplate::new(400)
                .insert_header("content-type", "application/x-amz-json-1.0")
                .insert_header("x-amzn-errortype", code)
                .set_body_json(json!({
                    "__type": code,
                    "Message": "refused by the fake",
                    "Reason": reason,
                    "ResourceType": "phone-number",
                    "ResourceId": phone,
                })),
        )
        .mount(&app.fakes.voice)
        .await;
        recipients.push(json!({ "id": format!("u-{code}"), "phone": phone }));
        phones.push(phone);
    }
    let mut body = escalation_on(&["voice"], recipients[0].clone());
    body["recipients"] = json!(recipients);
    app.post_escalation(&body).await;
    app.dispatch_channel(Channel::Voice).await;

    let client = app.pool.get().await.expect("conn");
    for ((code, _, status, retryable), phone) in cases.iter().zip(&phones) {
        let r = client
            .query_one(
                "SELECT n.status, n.retryable, n.error, n.suppressed_reason                  FROM notification_log n JOIN recipients r ON r.id = n.recipient_id                  WHERE r.phone = $1",
                &[phone],
            )
            .await
            .expect("row");
        assert_eq!(r.get::<_, String>("status"), *status, "{code}");
        assert_eq!(r.get::<_, Option<bool>>("retryable"), *retryable, "{code}");
        if *status == "suppressed" {
            assert_eq!(
                r.get::<_, Option<String>>("suppressed_reason").as_deref(),
                Some("opted_out_at_carrier")
            );
        } else {
            assert!(r.get::<_, String>("error").starts_with(code), "{code}");
        }
    }
}
