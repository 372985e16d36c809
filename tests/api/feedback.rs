//! Delivery receipts: SES events and End User Messaging events, in AWS's documented shapes
//! (`events/feedback/`), published to the feedback topic and handed to the `feedback`
//! function through its SQS queue, as on AWS. `delivered` becomes a status; a bounce
//! fails the row, suppresses the address for the tenant and starts the person's next
//! tier at once; latest state wins whatever order receipts come in; receipts for rows
//! Herald does not have are acknowledged and counted.

use chrono::{DateTime, TimeDelta, Utc};
use herald::domain::Channel;
use herald::feedback::Feedback;
use herald_local::poller::{PollStats, QueuePoller};
use herald_local::stack::{self, TopicQueue};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, unique_email, unique_phone};

struct Receipts {
    feedback: Feedback,
    topic: TopicQueue,
    poller: QueuePoller,
}

impl Receipts {
    async fn new(app: &TestApp) -> Self {
        let prefix = format!("fb-{}", Uuid::new_v4().simple());
        let topic = stack::ensure_feedback(&app.sqs, &app.sns, &prefix, 1, 3)
            .await
            .expect("feedback topic and queue");
        let poller = QueuePoller {
            sqs: app.sqs.clone(),
            queue_url: topic.queue.url.clone(),
            queue_arn: topic.queue.arn.clone(),
            wait_seconds: 0,
        };
        let feedback = Feedback::new(&app.config).await.expect("feedback deps");
        Self {
            feedback,
            topic,
            poller,
        }
    }

    /// Publishes each event as the provider does, then one poll hands them to the
    /// function (the queue holds at most ten a batch, as Lambda's event source does).
    async fn deliver(&self, app: &TestApp, events: &[Value]) -> PollStats {
        for event in events {
            app.sns
                .publish()
                .topic_arn(&self.topic.topic_arn)
                .message(event.to_string())
                .send()
                .await
                .expect("publish to the feedback topic");
        }
        self.poller
            .poll_once(|event| herald_feedback::function_handler(&self.feedback, event))
            .await
            .expect("poll")
    }
}

/// A documented event with Herald's message id and times around `sent`.
fn fixture(name: &str, message_id: &str, sent: DateTime<Utc>) -> Value {
    let text = std::fs::read_to_string(format!(
        "{}/../events/feedback/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture");
    let mut event: Value = serde_json::from_str(&text).expect("fixture JSON");
    let stamp = |t: DateTime<Utc>| json!(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    if event.get("mail").is_some() {
        event["mail"]["messageId"] = json!(message_id);
        event["mail"]["timestamp"] = stamp(sent);
        for part in ["bounce", "delivery", "complaint", "deliveryDelay"] {
            if event.get(part).is_some() {
                event[part]["timestamp"] = stamp(sent + TimeDelta::seconds(2));
            }
        }
    } else {
        event["messageId"] = json!(message_id);
        event["messageRequestTimestamp"] = json!(sent.timestamp_millis());
        event["eventTimestamp"] = json!((sent + TimeDelta::seconds(2)).timestamp_millis());
    }
    event
}

fn bounce_for(message_id: &str, email: &str, sent: DateTime<Utc>) -> Value {
    let mut event = fixture("ses-bounce", message_id, sent);
    event["bounce"]["bouncedRecipients"][0]["emailAddress"] = json!(email);
    event
}

/// (status, receipt, error) of the escalation's row on `channel`.
async fn row(
    app: &TestApp,
    escalation: &str,
    channel: &str,
) -> (String, Option<String>, Option<String>) {
    let client = app.pool.get().await.expect("conn");
    let r = client
        .query_one(
            "SELECT status, receipt, error FROM notification_log \
             WHERE escalation_id = $1::text::uuid AND channel = $2 ORDER BY queued_at DESC LIMIT 1",
            &[&escalation, &channel],
        )
        .await
        .expect("row");
    (r.get(0), r.get(1), r.get(2))
}

async fn message_id(app: &TestApp, escalation: &str, channel: &str) -> String {
    let client = app.pool.get().await.expect("conn");
    client
        .query_one(
            "SELECT provider_message_id FROM notification_log \
             WHERE escalation_id = $1::text::uuid AND channel = $2",
            &[&escalation, &channel],
        )
        .await
        .expect("row")
        .get::<_, Option<String>>(0)
        .expect("sent with a provider id")
}

/// Email first, SMS 5 minutes later unless someone answers.
fn email_then_sms(email: &str, phone: &str) -> Value {
    json!({
        "title": "Checkout error rate above 5%", "priority": "high",
        "recipients": [{ "id": "ines", "email": email, "phone": phone }],
        "channels": { "primary": ["email"], "secondary": ["sms"] }
    })
}

async fn post(app: &TestApp, body: &Value) -> String {
    let created = app.post_escalation(body).await;
    assert_eq!(created.status, 202, "{}", created.text);
    created.json()["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn a_bounce_fails_the_email_suppresses_the_address_and_starts_the_next_tier_now() {
    let app = TestApp::spawn().await;
    let receipts = Receipts::new(&app).await;
    let (email, phone) = (unique_email("ines"), unique_phone());
    let id = post(&app, &email_then_sms(&email, &phone)).await;
    assert_eq!(app.dispatch_channel(Channel::Email).await, 1);
    let sent = Utc::now();
    let ses_id = message_id(&app, &id, "email").await;

    // Nothing is due before the 5-minute wait.
    assert_eq!(app.escalate_at(Utc::now()).await.tiers_started, 0);

    // The mailbox does not exist (SES reports the address as it was sent, any case).
    let polled = receipts
        .deliver(&app, &[bounce_for(&ses_id, &email.to_uppercase(), sent)])
        .await;
    assert_eq!((polled.received, polled.deleted), (1, 1), "{polled:?}");
    let (status, receipt, error) = row(&app, &id, "email").await;
    assert_eq!(
        (status.as_str(), receipt.as_deref()),
        ("failed", Some("bounced"))
    );
    assert!(
        error.as_deref().is_some_and(|e| e.contains("5.1.1")),
        "{error:?}"
    );
    let listed = app
        .scalar_i64(&format!(
            "SELECT count(*) FROM suppressions WHERE tenant_id = '{}' AND channel = 'email' \
             AND address = '{}' AND reason = 'bounced'",
            app.tenant_id,
            email.to_lowercase()
        ))
        .await;
    assert_eq!(listed, 1);
    let audited = app
        .scalar_i64(&format!(
            "SELECT count(*) FROM event_log WHERE escalation_id = '{id}' \
             AND event_type = 'notification.bounced' AND actor_id = 'feedback-email'"
        ))
        .await;
    assert_eq!(audited, 1);

    // The next sweep starts her SMS now, not at minute 5.
    let run = app.escalate_at(Utc::now()).await;
    assert_eq!(run.tiers_started, 1, "{run:?}");
    assert_eq!(app.dispatch_channel(Channel::Sms).await, 1);
    assert_eq!(app.sms_to(&phone).await.len(), 1);

    // A later page to the same address is suppressed without calling SES; her SMS
    // still goes.
    let later = post(
        &app,
        &json!({
            "title": "Checkout error rate above 5% again", "priority": "high",
            "recipients": [{ "id": "ines", "email": email, "phone": phone }],
            "channels": { "primary": ["email", "sms"] }
        }),
    )
    .await;
    app.dispatch_channel(Channel::Email).await;
    let detail = app
        .api("GET", &format!("/v1/escalations/{later}"), None)
        .await
        .json();
    let email_row = detail["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .find(|d| d["channel"] == "email")
        .expect("email row")
        .clone();
    assert_eq!(email_row["status"], "suppressed", "{email_row}");
    assert_eq!(email_row["reason"], "address_suppressed");
    assert_eq!(app.emails_to(&email).await.len(), 1, "only the first page");
}

#[tokio::test]
async fn latest_state_wins_whatever_order_receipts_come_in() {
    let app = TestApp::spawn().await;
    let receipts = Receipts::new(&app).await;
    let (a, b) = (unique_email("jon"), unique_email("kim"));
    let first = post(&app, &email_then_sms(&a, &unique_phone())).await;
    let second = post(&app, &email_then_sms(&b, &unique_phone())).await;
    assert_eq!(app.dispatch_channel(Channel::Email).await, 2);
    let sent = Utc::now();
    let (id_a, id_b) = (
        message_id(&app, &first, "email").await,
        message_id(&app, &second, "email").await,
    );

    // A delay is not a bounce; a delivery is a status.
    receipts
        .deliver(&app, &[fixture("ses-delivery-delay", &id_a, sent)])
        .await;
    assert_eq!(row(&app, &first, "email").await.0, "sent");
    receipts
        .deliver(&app, &[fixture("ses-delivery", &id_a, sent)])
        .await;
    assert_eq!(
        row(&app, &first, "email").await,
        ("delivered".into(), Some("delivered".into()), None)
    );
    let delivered_at = app
        .scalar_i64(&format!(
            "SELECT count(*) FROM notification_log WHERE escalation_id = '{first}' \
             AND delivered_at IS NOT NULL AND delivered_at >= sent_at - interval '5 seconds'"
        ))
        .await;
    assert_eq!(delivered_at, 1);

    // A bounce after delivered wins; a late, repeated delivery does not undo it.
    receipts.deliver(&app, &[bounce_for(&id_a, &a, sent)]).await;
    receipts
        .deliver(&app, &[fixture("ses-delivery", &id_a, sent)])
        .await;
    assert_eq!(
        row(&app, &first, "email").await.1.as_deref(),
        Some("bounced")
    );

    // The same in one batch, the bounce first.
    receipts
        .deliver(
            &app,
            &[
                bounce_for(&id_b, &b, sent),
                fixture("ses-delivery", &id_b, sent),
                fixture("ses-delivery", &id_b, sent),
            ],
        )
        .await;
    let (status, receipt, _) = row(&app, &second, "email").await;
    assert_eq!(
        (status.as_str(), receipt.as_deref()),
        ("failed", Some("bounced"))
    );
    // One audit entry per bounce, however often it is told.
    let audited = app
        .scalar_i64(&format!(
            "SELECT count(*) FROM event_log WHERE escalation_id IN ('{first}', '{second}') \
             AND event_type = 'notification.bounced'"
        ))
        .await;
    assert_eq!(audited, 2);
}

#[tokio::test]
async fn unknown_receipts_are_acknowledged_and_young_ones_tried_again() {
    let app = TestApp::spawn().await;
    let receipts = Receipts::new(&app).await;
    // A receipt for a message sent an hour ago that Herald has no row for (deleted by
    // retention, or another system's mail): acknowledged, never retried.
    let old = Utc::now() - TimeDelta::hours(1);
    let polled = receipts
        .deliver(&app, &[fixture("ses-delivery", "not-ours-0001", old)])
        .await;
    assert_eq!((polled.deleted, polled.returned), (1, 0), "{polled:?}");
    // Unreadable messages too; events that say nothing about arrival are read as nothing.
    let mut send = fixture("ses-delivery", "not-ours-0002", old);
    send["eventType"] = json!("Send");
    let polled = receipts
        .deliver(&app, &[json!({ "hello": "world" }), send])
        .await;
    assert_eq!((polled.deleted, polled.returned), (2, 0), "{polled:?}");
    // A young one may have overtaken the dispatcher's record of the send: SQS gets it
    // back, and it is acknowledged once it is past the window.
    let polled = receipts
        .deliver(
            &app,
            &[fixture("eum-sms-delivered", "not-yet-0003", Utc::now())],
        )
        .await;
    assert_eq!((polled.deleted, polled.returned), (0, 1), "{polled:?}");
}

#[tokio::test]
async fn the_suppression_list_is_per_tenant_listed_and_removable() {
    let app = TestApp::spawn().await;
    let receipts = Receipts::new(&app).await;
    let (email, phone) = (unique_email("lea"), unique_phone());
    let id = post(&app, &email_then_sms(&email, &phone)).await;
    assert_eq!(app.dispatch_channel(Channel::Email).await, 1);
    let ses_id = message_id(&app, &id, "email").await;
    let mut complaint = fixture("ses-complaint", &ses_id, Utc::now());
    complaint["complaint"]["complainedRecipients"][0]["emailAddress"] = json!(email);
    receipts.deliver(&app, &[complaint]).await;
    // A complaint means it arrived.
    assert_eq!(row(&app, &id, "email").await.0, "delivered");

    let listed = app.api("GET", "/v1/suppressions", None).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let items = listed.json()["items"].clone();
    assert_eq!(items.as_array().map(Vec::len), Some(1), "{items}");
    assert_eq!(items[0]["channel"], "email");
    assert_eq!(items[0]["address"], email.to_lowercase());
    assert_eq!(items[0]["reason"], "complained");
    let sms_only = app.api("GET", "/v1/suppressions?channel=sms", None).await;
    assert_eq!(sms_only.json()["items"], json!([]));
    let bad = app
        .api("GET", "/v1/suppressions?channel=pigeon", None)
        .await;
    assert_eq!(
        (bad.status, bad.json()["error"]["field"].clone()),
        (400, json!("channel"))
    );

    // Another tenant neither sees nor removes it.
    let (_, other) = stack::create_tenant(&app.pool.get().await.expect("conn"), "Other")
        .await
        .expect("tenant");
    let auth = format!("Bearer {}", other.expose_secret());
    let auth = [("authorization", auth.as_str())];
    let path = format!("/v1/suppressions/email/{}", email.to_lowercase());
    let theirs = app.request("GET", "/v1/suppressions", &auth, b"").await;
    assert_eq!(theirs.json()["items"], json!([]));
    assert_eq!(app.request("DELETE", &path, &auth, b"").await.status, 404);

    // Removed, the address is paged again (any case in the path).
    let removed = app
        .api(
            "DELETE",
            &format!("/v1/suppressions/email/{}", email.to_uppercase()),
            None,
        )
        .await;
    assert_eq!(removed.status, 204, "{}", removed.text);
    assert_eq!(app.api("DELETE", &path, None).await.status, 404);
    post(&app, &email_then_sms(&email, &phone)).await;
    assert_eq!(app.dispatch_channel(Channel::Email).await, 1);
    assert_eq!(app.emails_to(&email).await.len(), 2);
}

/// Email and SMS providers have 2 minutes to confirm a send.
async fn spawn_with_windows() -> TestApp {
    TestApp::spawn_with(crate::helpers::Options {
        tune: Box::new(|config| {
            for channel in [Channel::Email, Channel::Sms] {
                config
                    .receipt_windows
                    .insert(channel, TimeDelta::minutes(2));
            }
        }),
        ..crate::helpers::Options::default()
    })
    .await
}

#[tokio::test]
async fn an_email_no_receipt_confirms_within_its_window_moves_on_a_confirmed_one_waits() {
    let app = spawn_with_windows().await;
    let receipts = Receipts::new(&app).await;
    let (quiet, heard) = (unique_email("max"), unique_email("noa"));
    let unconfirmed = post(&app, &email_then_sms(&quiet, &unique_phone())).await;
    let confirmed = post(&app, &email_then_sms(&heard, &unique_phone())).await;
    assert_eq!(app.dispatch_channel(Channel::Email).await, 2);
    let sent = Utc::now();
    let heard_id = message_id(&app, &confirmed, "email").await;
    receipts
        .deliver(&app, &[fixture("ses-delivery", &heard_id, sent)])
        .await;
    // Within the window: nothing.
    let run = app.escalate_at(sent + TimeDelta::seconds(60)).await;
    assert_eq!(run.tiers_started, 0, "{run:?}");
    // Past it (minute 3, before the secondary's minute 5): only the unconfirmed email's
    // person gets her SMS.
    let run = app.escalate_at(sent + TimeDelta::minutes(3)).await;
    assert_eq!(run.tiers_started, 1, "{run:?}");
    let sms_rows = |id: &str| {
        format!(
            "SELECT count(*) FROM notification_log WHERE escalation_id = '{id}' AND channel = 'sms'"
        )
    };
    assert_eq!(app.scalar_i64(&sms_rows(&unconfirmed)).await, 1);
    assert_eq!(app.scalar_i64(&sms_rows(&confirmed)).await, 0);
    // The confirmed one waits out its 5 minutes.
    let run = app.escalate_at(sent + TimeDelta::minutes(6)).await;
    assert_eq!(run.tiers_started, 1, "{run:?}");
    assert_eq!(app.scalar_i64(&sms_rows(&confirmed)).await, 1);
}

#[tokio::test]
async fn delivery_figures_per_channel_count_what_receipts_said() {
    let app = TestApp::spawn().await;
    let receipts = Receipts::new(&app).await;
    let (a, b, c) = (
        unique_email("pia"),
        unique_email("quin"),
        unique_email("rui"),
    );
    let mut ids = Vec::new();
    for email in [&a, &b, &c] {
        ids.push(post(&app, &email_then_sms(email, &unique_phone())).await);
    }
    assert_eq!(app.dispatch_channel(Channel::Email).await, 3);
    let sent = Utc::now();
    let (first, second) = (
        message_id(&app, &ids[0], "email").await,
        message_id(&app, &ids[1], "email").await,
    );
    receipts
        .deliver(
            &app,
            &[
                fixture("ses-delivery", &first, sent),
                bounce_for(&second, &b, sent),
            ],
        )
        .await;

    let got = app.api("GET", "/v1/stats/deliveries?window=1h", None).await;
    assert_eq!(got.status, 200, "{}", got.text);
    let stats = got.json();
    assert_eq!(stats["window"], "1h");
    let channels = stats["channels"].as_array().expect("channels");
    let email = channels
        .iter()
        .find(|c| c["channel"] == "email")
        .expect("email figures");
    assert_eq!(
        (
            email["total"].as_i64(),
            email["sent"].as_i64(),
            email["delivered"].as_i64(),
            email["bounced"].as_i64(),
            email["failed"].as_i64(),
            email["pending"].as_i64(),
        ),
        (Some(3), Some(3), Some(1), Some(1), Some(1), Some(0)),
        "{email}"
    );
    assert_eq!(email["delivery_rate"].as_f64(), Some(1.0 / 3.0));
    assert_eq!(email["bounce_rate"].as_f64(), Some(1.0 / 3.0));
    assert!(
        email["queued_to_sent"]["p50_ms"].as_f64().is_some(),
        "{email}"
    );
    assert!(
        email["sent_to_delivered"]["p99_ms"].as_f64().is_some(),
        "{email}"
    );

    // Another tenant's figures are its own; a bad window names the parameter.
    let (_, other) = stack::create_tenant(&app.pool.get().await.expect("conn"), "Other")
        .await
        .expect("tenant");
    let auth = format!("Bearer {}", other.expose_secret());
    let theirs = app
        .request(
            "GET",
            "/v1/stats/deliveries",
            &[("authorization", auth.as_str())],
            b"",
        )
        .await;
    assert_eq!(theirs.json()["channels"], json!([]));
    let bad = app.api("GET", "/v1/stats/deliveries?window=1y", None).await;
    assert_eq!(
        (bad.status, bad.json()["error"]["field"].clone()),
        (400, json!("window"))
    );
}

/// A CloudWatch Logs subscription's event for `lines` of `group` (gzipped JSON, base64).
fn logs_event(group: &str, lines: &[String], kind: &str) -> Value {
    use std::io::Write;
    let data = json!({
        "messageType": kind,
        "owner": "123456789012",
        "logGroup": group,
        "logStream": "3f5a4b2c-sms",
        "subscriptionFilters": ["herald-feedback"],
        "logEvents": lines.iter().enumerate().map(|(i, message)| json!({
            "id": format!("3776516538960457262{i}"),
            "timestamp": Utc::now().timestamp_millis(),
            "message": message,
        })).collect::<Vec<_>>(),
    });
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data.to_string().as_bytes()).expect("gzip");
    let zipped = gz.finish().expect("gzip");
    use base64::Engine;
    json!({ "awslogs": { "data": base64::engine::general_purpose::STANDARD.encode(zipped) } })
}

async fn invoke(feedback: &Feedback, event: Value) -> Result<Value, String> {
    // As the runtime reads it: from the invocation's bytes.
    let event: herald_feedback::FeedbackEvent =
        serde_json::from_str(&event.to_string()).map_err(|e| format!("not an event: {e}"))?;
    herald_feedback::handler(
        feedback,
        lambda_runtime::LambdaEvent::new(event, lambda_runtime::Context::default()),
    )
    .await
    .map(|r| serde_json::to_value(r).expect("JSON"))
    .map_err(|e| e.to_string())
}

#[tokio::test]
async fn sns_sms_delivery_logs_arrive_through_a_cloudwatch_logs_subscription() {
    let app = TestApp::spawn().await;
    let feedback = Feedback::new(&app.config).await.expect("feedback deps");
    let phone = unique_phone();
    let id = post(
        &app,
        &json!({
            "title": "Disk almost full", "priority": "high",
            "recipients": [{ "id": "sam", "phone": phone }],
            "channels": { "primary": ["sms"] }
        }),
    )
    .await;
    assert_eq!(app.dispatch_channel(Channel::Sms).await, 1);
    let sns_id = message_id(&app, &id, "sms").await;
    let group = "sns/us-east-1/123456789012/DirectPublishToPhoneNumber/Failure";
    let mut line: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/../events/feedback/sns-sms-failure.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("fixture"),
    )
    .expect("JSON");
    line["notification"]["messageId"] = json!(sns_id);
    line["notification"]["timestamp"] =
        json!(Utc::now().format("%Y-%m-%d %H:%M:%S%.3f").to_string());
    line["delivery"]["destination"] = json!(phone);

    // The subscription's first event is a control message: nothing to read.
    let control = invoke(
        &feedback,
        logs_event(group, &["CWL CONTROL MESSAGE".into()], "CONTROL_MESSAGE"),
    )
    .await;
    assert_eq!(control.map(|r| r["receipts"].clone()), Ok(json!(0)));
    let answered = invoke(
        &feedback,
        logs_event(
            group,
            &[line.to_string(), "not a log line".into()],
            "DATA_MESSAGE",
        ),
    )
    .await
    .expect("handled");
    assert_eq!(
        (answered["receipts"].clone(), answered["malformed"].clone()),
        (json!(1), json!(1))
    );
    let (status, receipt, error) = row(&app, &id, "sms").await;
    assert_eq!(
        (status.as_str(), receipt.as_deref()),
        ("failed", Some("failed"))
    );
    assert!(
        error
            .as_deref()
            .is_some_and(|e| e.contains("Unknown error")),
        "{error:?}"
    );

    // The same function takes its SQS batches too (the sample: acknowledged, none back).
    let sample: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/../events/feedback/sqs-batch.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("sample"),
    )
    .expect("JSON");
    assert_eq!(
        invoke(&feedback, sample).await,
        Ok(json!({ "batchItemFailures": [] }))
    );
}
